import type { Channel, ChannelName } from "../../../services/notifications/channels";
import { deliver, safeErrorMessage } from "../../../services/notifications/delivery";
import type { OutgoingNotification } from "../../../services/notifications/channels";

const notification: OutgoingNotification = {
	kind: "order.delivered",
	title: "Order 12345678 delivered",
	body: "Your order has been delivered.",
	userId: "u1",
	eventId: "e1",
	orderId: "12345678",
	to: { email: "ada@example.com", name: "Ada" }
};

function channel(name: ChannelName, fail?: unknown) {
	const sent: OutgoingNotification[] = [];
	const ch: Channel & { sent: OutgoingNotification[] } = {
		name,
		sent,
		async send(n) {
			if (fail !== undefined) throw fail;
			sent.push(n);
		}
	};
	return ch;
}

describe("deliver", () => {
	it("uses the primary channel when it works, and never the fallback", async () => {
		const email = channel("email");
		const inbox = channel("inbox");
		const result = await deliver(notification, email, inbox);
		expect(result).toEqual({
			deliveredVia: "email",
			attempts: [{ channel: "email", ok: true }]
		});
		expect(email.sent).toEqual([notification]);
		expect(inbox.sent).toEqual([]);
	});

	it("falls back to the inbox when the primary throws", async () => {
		const email = channel("email", Object.assign(new Error("boom"), { code: "ECONNECTION" }));
		const inbox = channel("inbox");
		const result = await deliver(notification, email, inbox);
		expect(result).toEqual({
			deliveredVia: "inbox",
			attempts: [
				{ channel: "email", ok: false, error: "ECONNECTION" },
				{ channel: "inbox", ok: true }
			]
		});
		expect(inbox.sent).toEqual([notification]);
	});

	it("reports null with both attempts when both channels fail", async () => {
		const result = await deliver(
			notification,
			channel("email", new Error("smtp down")),
			channel("inbox", new Error("db down"))
		);
		expect(result.deliveredVia).toBeNull();
		expect(result.attempts).toEqual([
			{ channel: "email", ok: false, error: "smtp down" },
			{ channel: "inbox", ok: false, error: "db down" }
		]);
	});

	it("works with a single channel", async () => {
		expect(await deliver(notification, channel("inbox"))).toEqual({
			deliveredVia: "inbox",
			attempts: [{ channel: "inbox", ok: true }]
		});
		const failed = await deliver(notification, channel("inbox", "nope"));
		expect(failed).toEqual({
			deliveredVia: null,
			attempts: [{ channel: "inbox", ok: false, error: "nope" }]
		});
	});

	it("never records the SMTP URL or its credentials", async () => {
		const secret = "s3cr3t-pa55";
		const errors = [
			new Error(`Connection to smtp://mailer:${secret}@smtp.example.com:587 refused`),
			new Error(`Invalid login for mailer:${secret}@smtp.example.com`),
			Object.assign(new Error(`Auth failed with ${secret} for smtps://x:${secret}@h`), {
				code: "EAUTH"
			}),
			`smtps://mailer:${secret}@smtp.example.com`
		];
		for (const err of errors) {
			const result = await deliver(notification, channel("email", err), channel("inbox"));
			const recorded = JSON.stringify(result);
			expect(recorded).not.toContain(secret);
			expect(recorded).not.toContain("smtp.example.com");
			expect(result.deliveredVia).toBe("inbox");
		}
	});
});

describe("safeErrorMessage", () => {
	it("prefers an error code or a Moleculer type", () => {
		expect(safeErrorMessage(Object.assign(new Error("x"), { code: "ETIMEDOUT" }))).toBe(
			"ETIMEDOUT"
		);
		expect(
			safeErrorMessage({
				message: "Service 'users.contact' is not found",
				code: 404,
				type: "SERVICE_NOT_FOUND"
			})
		).toBe("SERVICE_NOT_FOUND");
	});

	it("strips addresses, URLs and credentials from messages and cuts them short", () => {
		expect(safeErrorMessage(new Error("Recipient ada@example.com rejected"))).toBe(
			"Recipient <address> rejected"
		);
		expect(safeErrorMessage(new Error("see https://x.test/a?b=c now"))).toBe("see <url> now");
		expect(safeErrorMessage(new Error("y".repeat(1000))).length).toBeLessThanOrEqual(120);
	});

	it("has something to say about anything thrown", () => {
		expect(safeErrorMessage(undefined)).toBe("Error");
		expect(safeErrorMessage(new TypeError(""))).toBe("TypeError");
		expect(safeErrorMessage(42)).toBe("Error");
	});
});
