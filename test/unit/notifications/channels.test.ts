import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import {
	DEFAULT_FROM,
	EmailChannel,
	OUTBOX_LIMIT,
	emailConfig,
	type EmailConfig,
	type OutgoingNotification
} from "../../../services/notifications/channels";
import { deliver } from "../../../services/notifications/delivery";
import { loadSettings, resetSettings } from "../../../platform/runtime/settings";

const notification: OutgoingNotification = {
	kind: "order.delivered",
	title: "Order 12345678 delivered",
	body: "Your order 12345678 has been delivered.",
	userId: "u1",
	eventId: "e1",
	to: { email: "ada@example.com", name: "Ada Lovelace" }
};

const config = (over: Partial<EmailConfig> = {}): EmailConfig => ({
	mailDir: path.join(os.tmpdir(), "unused"),
	memory: true,
	from: DEFAULT_FROM,
	timeoutMs: 3000,
	...over
});

describe("emailConfig", () => {
	afterEach(() => resetSettings());

	it("uses the memory transport under NODE_ENV=test and MAIL_FROM when set", () => {
		resetSettings();
		expect(emailConfig()).toMatchObject({ memory: true, from: DEFAULT_FROM });
		const env = { ...process.env, MAIL_FROM: "Shop <shop@example.com>" };
		expect(emailConfig(loadSettings(env)).from).toBe("Shop <shop@example.com>");
		expect(new EmailChannel().kind).toBe("memory");
	});
});

describe("EmailChannel", () => {
	it("keeps what it sent in memory, addressed to the user by name", async () => {
		const email = new EmailChannel(config());
		expect(email.kind).toBe("memory");
		await email.send(notification);
		expect(email.outbox).toHaveLength(1);
		expect(email.outbox[0]).toMatchObject({
			from: DEFAULT_FROM,
			to: "ada@example.com",
			toName: "Ada Lovelace",
			subject: "Order 12345678 delivered"
		});
		expect(email.outbox[0].text).toMatch(/^Hello Ada Lovelace,/);
		expect(email.outbox[0].text).toContain(notification.body);
	});

	it("keeps only the last messages", async () => {
		const email = new EmailChannel(config());
		for (let i = 0; i < OUTBOX_LIMIT + 5; i++)
			await email.send({ ...notification, title: `t${i}` });
		expect(email.outbox).toHaveLength(OUTBOX_LIMIT);
		expect(email.outbox[0].subject).toBe("t5");
		expect(email.outbox.at(-1)!.subject).toBe(`t${OUTBOX_LIMIT + 4}`);
	});

	it("refuses a notification without an address", async () => {
		const email = new EmailChannel(config());
		const { to: _to, ...noAddress } = notification;
		await expect(email.send(noAddress)).rejects.toMatchObject({ code: "ENORECIPIENT" });
		expect(email.outbox).toHaveLength(0);
	});

	it("appends each message to DATA_DIR/mail/outbox.mbox without SMTP outside tests", async () => {
		const dir = fs.mkdtempSync(path.join(os.tmpdir(), "shopmesh-mail-"));
		try {
			const mailDir = path.join(dir, "mail");
			const email = new EmailChannel(config({ memory: false, mailDir }));
			expect(email.kind).toBe("file");
			await Promise.all([
				email.send(notification),
				email.send({ ...notification, title: "Order 12345678 shipped" })
			]);
			expect(fs.readdirSync(mailDir)).toEqual(["outbox.mbox"]);
			const messages = fs
				.readFileSync(path.join(mailDir, "outbox.mbox"), "utf8")
				.split(/^From MAILER-DAEMON .+$/m)
				.slice(1);
			expect(messages).toHaveLength(2);
			expect(messages[0]).toMatch(/^To: Ada Lovelace <ada@example.com>$/m);
			expect(messages[0]).toMatch(/^Subject: Order 12345678 delivered$/m);
			expect(messages[0]).toContain("Hello Ada Lovelace,");
			expect(messages[1]).toMatch(/^Subject: Order 12345678 shipped$/m);
			expect(messages.join("")).not.toContain("\r");
		} finally {
			fs.rmSync(dir, { recursive: true, force: true });
		}
	});

	it("fails fast on a dead SMTP server, and the recorded error has no credentials", async () => {
		const email = new EmailChannel(
			config({ smtpUrl: "smtp://mailer:s3cr3t@127.0.0.1:1", timeoutMs: 1000 })
		);
		expect(email.kind).toBe("smtp");
		const started = Date.now();
		const result = await deliver(notification, email, { name: "inbox", send: async () => {} });
		email.close();
		expect(Date.now() - started).toBeLessThan(2000);
		expect(result.deliveredVia).toBe("inbox");
		expect(result.attempts[0]).toMatchObject({ channel: "email", ok: false });
		expect(JSON.stringify(result)).not.toMatch(/s3cr3t|mailer/);
		expect(email.outbox).toHaveLength(0);
	});
});
