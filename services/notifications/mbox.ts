/**
 * The mail sink of a system without SMTP: every message appended to one mbox file (the mboxrd
 * variant, which mutt, Thunderbird's import, Python's `mailbox` and `formail` read).
 *
 * One file, not a file per message: creating a file costs far more than appending to one that
 * exists, and a directory would grow by a file per order.
 */
import fs from "node:fs/promises";
import path from "node:path";

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const pad = (n: number) => String(n).padStart(2, "0");

/** The date of an mbox "From " line (asctime, UTC): `Sun Nov 29 20:51:07 2026`. */
export function asctime(d: Date): string {
	const time = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
	const day = String(d.getUTCDate()).padStart(2, " ");
	return `${DAYS[d.getUTCDay()]} ${MONTHS[d.getUTCMonth()]} ${day} ${time} ${d.getUTCFullYear()}`;
}

/**
 * One message as an mboxrd entry: the "From " separator line, the message with Unix line ends
 * and every line that starts with `From ` behind any number of `>` quoted with one more `>` (so
 * a reader can undo it exactly), then the blank line that ends an entry.
 */
export function mboxEntry(message: string, date: Date, sender = "MAILER-DAEMON"): string {
	let body = message.replace(/\r\n/g, "\n").replace(/^(>*From )/gm, ">$1");
	if (!body.endsWith("\n")) body += "\n";
	return `From ${sender} ${asctime(date)}\n${body}\n`;
}

interface Pending {
	entry: string;
	resolve(): void;
	reject(err: unknown): void;
}

/**
 * Appends messages to one mbox file, in the order they come. One write is in flight at a time;
 * the messages that arrive meanwhile go out together in the next one, so a busy node pays one
 * write for many messages and an idle one waits for nothing. append() resolves once the write
 * that holds its message is done, and rejects if that write fails. The file is opened for each
 * write (a rotated or deleted file is simply created again, with its directory).
 */
export class MboxFile {
	private queue: Pending[] = [];
	private writing = false;

	constructor(
		readonly file: string,
		private readonly mode = 0o600
	) {}

	append(message: string, date = new Date()): Promise<void> {
		return new Promise((resolve, reject) => {
			this.queue.push({ entry: mboxEntry(message, date), resolve, reject });
			if (!this.writing) void this.drain();
		});
	}

	private async drain(): Promise<void> {
		this.writing = true;
		while (this.queue.length > 0) {
			const batch = this.queue.splice(0);
			try {
				await this.write(batch.map(p => p.entry).join(""));
				for (const p of batch) p.resolve();
			} catch (err) {
				for (const p of batch) p.reject(err);
			}
		}
		this.writing = false;
	}

	private async write(data: string): Promise<void> {
		try {
			await fs.appendFile(this.file, data, { mode: this.mode });
		} catch (err) {
			if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
			await fs.mkdir(path.dirname(this.file), { recursive: true });
			await fs.appendFile(this.file, data, { mode: this.mode });
		}
	}
}
