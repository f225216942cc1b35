import nodemailer from "nodemailer";
import {
	composeTextEmail,
	parseMailbox,
	type TextEmail
} from "../../../services/notifications/message";

const DATE = new Date("2026-11-29T10:00:00Z");
const ID = "<fixed-id@shopmesh.local>";
const nodemailerStream = nodemailer.createTransport({ streamTransport: true, buffer: true });

/** What nodemailer makes of the same email (line ends aside: its stream transport writes LF). */
async function byNodemailer(mail: TextEmail): Promise<string> {
	const info = await nodemailerStream.sendMail({
		from: mail.from,
		to: { name: mail.to.name, address: mail.to.address },
		subject: mail.subject,
		text: mail.text,
		messageId: ID,
		date: DATE
	});
	return (info.message as Buffer).toString("utf8").replace(/\r\n/g, "\n");
}

const email = (over: Partial<TextEmail>): TextEmail => ({
	from: "shopmesh <no-reply@shopmesh.local>",
	to: { name: "Ada Lovelace", address: "ada@example.com" },
	subject: "Order 1234abcd confirmed",
	text: "Hello Ada Lovelace,\n\nYour order 1234abcd is confirmed.\n\nshopmesh\n",
	date: DATE,
	messageId: ID,
	...over
});

describe("composeTextEmail", () => {
	const cases: [string, Partial<TextEmail>][] = [
		["plain ASCII", {}],
		[
			"accents and a euro sign, a line longer than 76",
			{
				to: { name: "Zoë Brontë", address: "zoe@example.com" },
				subject: "Commande 12,00 € confirmée",
				text: `Bonjour Zoë,\n\n${"Votre commande ".repeat(8)}de 12,00 €.\n`
			}
		],
		[
			"quotes and an apostrophe in the name",
			{ to: { name: `Ann "The Hammer" O'Neil`, address: "ann@example.com" } }
		],
		[
			"line breaks in the name and subject (header injection)",
			{
				to: { name: "Evil\r\nBcc: victim@example.com", address: "evil@example.com" },
				subject: "Hi\r\nBcc: victim@example.com"
			}
		],
		[
			"mostly non-Latin text (base64)",
			{
				to: { name: "Пётр Чайковский", address: "petr@example.com" },
				subject: "Заказ подтверждён",
				text: "Здравствуйте, Пётр!\nВаш заказ подтверждён.\n"
			}
		],
		["an international domain", { to: { name: "Jaan", address: "jaan@jõgeva.ee" } }],
		["no name", { to: { name: "", address: "nobody@example.com" } }],
		["a bare sender address", { from: "no-reply@shop.example" }],
		["a long subject", { subject: `Order ${"abcdef12".repeat(12)} confirmed` }]
	];

	it.each(cases)("writes what nodemailer writes: %s", async (_what, over) => {
		const mail = email(over);
		const ours = composeTextEmail(mail).message;
		expect(ours).not.toMatch(/(^|[^\r])\n/); // CRLF throughout
		expect(ours.replace(/\r\n/g, "\n")).toBe(await byNodemailer(mail));
	});

	it("never lets a line break in a name or subject start a header of its own", () => {
		const { message } = composeTextEmail(
			email({
				to: { name: "Evil\r\nBcc: victim@example.com", address: "evil@example.com" },
				subject: "Hi\nBcc: victim@example.com"
			})
		);
		const headers = message.split("\r\n\r\n")[0].split("\r\n");
		expect(headers.filter(h => /^Bcc:/i.test(h))).toEqual([]);
	});

	it("makes a Message-ID on the sender's domain and dates the message now", () => {
		const before = Date.now();
		const { message, messageId } = composeTextEmail(
			email({ messageId: undefined, date: undefined })
		);
		expect(messageId).toMatch(/^<[0-9a-f-]{36}@shopmesh\.local>$/);
		expect(message).toContain(`\r\nMessage-ID: ${messageId}\r\n`);
		const date = Date.parse(/\r\nDate: (.+)\r\n/.exec(message)![1]);
		expect(date).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
		expect(composeTextEmail(email({ messageId: undefined })).messageId).not.toBe(messageId);
	});

	it("refuses what is not an address", () => {
		expect(() =>
			composeTextEmail(email({ to: { name: "X", address: "not-an-address" } }))
		).toThrow(expect.objectContaining({ code: "EADDRESS" }));
		expect(() => parseMailbox("shopmesh")).toThrow(
			expect.objectContaining({ code: "EADDRESS" })
		);
		expect(parseMailbox("Shop <shop@example.com>")).toEqual({
			name: "Shop",
			address: "shop@example.com"
		});
	});
});
