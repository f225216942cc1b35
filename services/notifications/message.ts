/**
 * A plain-text email as an RFC 5322 message (MIME 1.0, UTF-8), composed in one pass: what the
 * mail sink (mbox.ts) stores when there is no SMTP server.
 *
 * nodemailer composes each message through a chain of streams, dear on the order path (figures
 * in bench/HISTORY.md). This composer makes the same message for a text email, with nodemailer's
 * own encoders (quoted-printable, encoded words, line folding) and its rules for choosing them;
 * the unit test holds the two equal. SMTP still goes through nodemailer.
 */
import { randomUUID } from "node:crypto";
import { domainToASCII } from "node:url";
import addressparser from "nodemailer/lib/addressparser";
import * as mimeFuncs from "nodemailer/lib/mime-funcs";
import * as qp from "nodemailer/lib/qp";

export interface Mailbox {
	name: string;
	address: string;
}

export interface TextEmail {
	/** `Name <address>` or a bare address (MAIL_FROM). */
	from: string;
	to: Mailbox;
	subject: string;
	text: string;
	date?: Date;
	/** `<id@domain>`; a new one on the sender's domain when absent. */
	messageId?: string;
}

export interface ComposedEmail {
	message: string;
	messageId: string;
}

// RFC 5321 atext, plus the non-ASCII that SMTPUTF8 allows: a dot-atom local part goes out bare.
const DOT_ATOM =
	/^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\x80-\uFFFF]+(?:\.[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\x80-\uFFFF]+)*$/;
const QUOTED_STRING = /^"(?:[^"\\]|\\[\s\S])*"$/;

const addressError = (what: string) =>
	Object.assign(new Error(`Not an email address: ${what}`), { code: "EADDRESS" });

/** Q (quoted-printable) for mostly Latin text, B (base64) otherwise: nodemailer's rule. */
function textEncoding(value: string): "Q" | "B" {
	let nonLatin = 0;
	let latin = 0;
	for (let i = 0; i < value.length; i++) {
		const c = value.charCodeAt(i);
		if (c <= 0x08 || c === 0x0b || c === 0x0c || (c >= 0x0e && c <= 0x1f) || c >= 0x80)
			nonLatin++;
		else if ((c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)) latin++;
	}
	return nonLatin < latin ? "Q" : "B";
}

/** An unstructured header value (Subject): line breaks become spaces, the rest encoded words. */
function headerText(value: string): string {
	const flat = value.replace(/\r?\n|\r/g, " ");
	// eslint-disable-next-line no-control-regex -- control characters are what it looks for
	return /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/.test(flat)
		? mimeFuncs.encodeWord(flat, textEncoding(flat), 52)
		: mimeFuncs.encodeWords(flat, textEncoding(flat), 52, true);
}

function displayName(name: string): string {
	if (/^[\w ]*$/.test(name)) return name;
	if (/^[\x20-\x7e]*$/.test(name)) return mimeFuncs.quoteString(name);
	return mimeFuncs.encodeWord(name, textEncoding(name), 52);
}

/** Control characters and angle brackets out; the domain punycoded (an ASCII local part). */
function normalizeAddress(raw: string): string {
	// eslint-disable-next-line no-control-regex -- control characters are what it removes
	const address = raw.replace(/[\x00-\x1F\x7F<>]+/g, " ").trim();
	const at = address.lastIndexOf("@");
	if (at <= 0 || at === address.length - 1) throw addressError(JSON.stringify(raw));
	const local = address.slice(0, at);
	const domain = address.slice(at + 1);
	const ascii = /[\x80-\uFFFF]/.test(local) ? "" : domainToASCII(domain);
	const quotedLocal =
		DOT_ATOM.test(local) || QUOTED_STRING.test(local) ? local : mimeFuncs.quoteString(local);
	return `${quotedLocal}@${ascii || domain.toLowerCase()}`;
}

function mailbox({ name, address }: Mailbox): string {
	const normalized = normalizeAddress(address);
	if (!name) return normalized.includes(" ") ? `<${normalized}>` : normalized;
	return `${displayName(name)} <${normalized}>`;
}

/** UTF-8 in base64, 76 characters a line, the last line ended too. */
function base64Lines(text: string): string {
	const encoded = Buffer.from(text, "utf8").toString("base64");
	let out = "";
	for (let i = 0; i < encoded.length; i += 76) out += `${encoded.slice(i, i + 76)}\r\n`;
	return out;
}

/** The first mailbox of an address field such as MAIL_FROM. */
export function parseMailbox(field: string): Mailbox {
	const [first] = addressparser(field, { flatten: true });
	if (!first?.address) throw addressError(JSON.stringify(field));
	return { name: first.name, address: first.address };
}

/** The message, with CRLF line ends throughout. */
export function composeTextEmail(mail: TextEmail): ComposedEmail {
	const from = parseMailbox(mail.from);
	const messageId =
		mail.messageId ?? `<${randomUUID()}@${normalizeAddress(from.address).split("@").pop()}>`;
	const date = (mail.date ?? new Date()).toUTCString().replace(/GMT/, "+0000");

	// 7bit when it can go as it is, else quoted-printable or base64 by nodemailer's rule.
	const text = mail.text;
	const plain = mimeFuncs.isPlainText(text) && !mimeFuncs.hasLongerLines(text, 76);
	const encoding = plain ? "7bit" : textEncoding(text) === "Q" ? "quoted-printable" : "base64";
	const body =
		encoding === "7bit"
			? text
			: encoding === "quoted-printable"
				? qp.wrap(qp.encode(text), 76)
				: base64Lines(text);

	const headers = [
		`From: ${mailbox(from)}`,
		`To: ${mailbox(mail.to)}`,
		`Subject: ${headerText(mail.subject)}`,
		`Message-ID: ${messageId}`,
		`Date: ${date}`,
		`Content-Transfer-Encoding: ${encoding}`,
		"MIME-Version: 1.0",
		"Content-Type: text/plain; charset=utf-8"
	].map(line => mimeFuncs.foldLines(line, 76));
	const message = `${headers.join("\r\n")}\r\n\r\n${body}`.replace(/\r?\n/g, "\r\n");
	return { message, messageId };
}
