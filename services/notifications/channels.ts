/**
 * The channels a notification goes out on. Email (nodemailer) is the primary one; the in-app
 * inbox, the fallback, is the service's own database (see notifications.service.ts).
 *
 * EmailChannel picks its transport once:
 * - SMTP_URL set: SMTP, with short timeouts so a dead server fails fast;
 * - NODE_ENV=test: nodemailer's JSON transport, the last messages kept in `outbox`;
 * - otherwise: each message composed here (message.ts) and appended to the mbox file
 *   DATA_DIR/mail/outbox.mbox (mbox.ts).
 */
import path from "node:path";
import nodemailer, { type Transporter } from "nodemailer";
import { nowIso } from "../../platform/runtime/clock";
import { DEFAULT_MAIL_FROM, settings, type Settings } from "../../platform/runtime/settings";
import { MboxFile } from "./mbox";
import { composeTextEmail } from "./message";
import { emailText, type NotificationContent } from "./templates";

export type ChannelName = "email" | "inbox";

export interface Recipient {
	email: string;
	name: string;
}

/** A rendered notification on its way to a user. */
export interface OutgoingNotification extends NotificationContent {
	userId: string;
	eventId: string;
	orderId?: string;
	/** Where email goes; absent when the user's address is not known. */
	to?: Recipient;
}

/** A way to reach a user. send() resolves when the notification went out, and throws if not. */
export interface Channel {
	name: ChannelName;
	send(n: OutgoingNotification): Promise<void>;
}

/** A message the test transport "sent". */
export interface SentEmail {
	from: string;
	to: string;
	toName: string;
	subject: string;
	text: string;
	messageId: string;
	sentAt: string;
}

export type EmailTransportKind = "smtp" | "file" | "memory";

export interface EmailConfig {
	smtpUrl?: string;
	/** Directory of the file transport's mbox file (outbox.mbox). */
	mailDir: string;
	/** Keep sent messages in memory instead of writing files (tests). */
	memory: boolean;
	from: string;
	/** SMTP connection, greeting and socket timeout. */
	timeoutMs: number;
}

export const DEFAULT_FROM = DEFAULT_MAIL_FROM;
export const OUTBOX_LIMIT = 100;

/** The email configuration of these settings: SMTP_URL, DATA_DIR, NODE_ENV and MAIL_FROM. */
export function emailConfig(cfg: Settings = settings()): EmailConfig {
	return {
		smtpUrl: cfg.smtpUrl,
		mailDir: path.join(cfg.dataDir, "mail"),
		memory: cfg.env === "test",
		from: cfg.mailFrom,
		timeoutMs: 3_000
	};
}

export class EmailChannel implements Channel {
	readonly name = "email" as const;
	readonly kind: EmailTransportKind;
	/** nodemailer's transport (SMTP, memory); the file transport composes its own messages. */
	readonly transporter?: Transporter;
	/** The last messages sent by the memory transport, oldest first (at most OUTBOX_LIMIT). */
	readonly outbox: SentEmail[] = [];
	/** The file transport's mailbox. */
	readonly mbox?: MboxFile;

	constructor(private readonly config: EmailConfig = emailConfig()) {
		if (config.smtpUrl) {
			this.kind = "smtp";
			this.transporter = nodemailer.createTransport({
				url: config.smtpUrl,
				connectionTimeout: config.timeoutMs,
				greetingTimeout: config.timeoutMs,
				socketTimeout: config.timeoutMs
			});
		} else if (config.memory) {
			this.kind = "memory";
			this.transporter = nodemailer.createTransport({ jsonTransport: true });
		} else {
			this.kind = "file";
			this.mbox = new MboxFile(path.join(config.mailDir, "outbox.mbox"));
		}
	}

	async send(n: OutgoingNotification): Promise<void> {
		const to = n.to;
		if (!to?.email)
			throw Object.assign(new Error("No email address for this user"), {
				code: "ENORECIPIENT"
			});
		const text = emailText(to.name, n);
		const mail = {
			from: this.config.from,
			to: { name: to.name, address: to.email },
			subject: n.title,
			text
		};
		if (!this.transporter) return this.mbox!.append(composeTextEmail(mail).message);
		const info = await this.transporter.sendMail(mail);
		if (this.kind === "memory") {
			this.outbox.push({
				from: this.config.from,
				to: (info.envelope?.to ?? [to.email]).join(", "),
				toName: to.name,
				subject: n.title,
				text,
				messageId: info.messageId,
				sentAt: nowIso()
			});
			if (this.outbox.length > OUTBOX_LIMIT)
				this.outbox.splice(0, this.outbox.length - OUTBOX_LIMIT);
		}
	}

	close(): void {
		this.transporter?.close();
	}
}
