/**
 * Delivery over a primary channel with a fallback, and the record of what was tried.
 * No broker and no I/O of its own: the channels are passed in (fakes in the unit tests).
 */
import type { Channel, ChannelName, OutgoingNotification } from "./channels";

export interface DeliveryAttempt {
	channel: ChannelName;
	ok: boolean;
	/** Why it failed: an error code or a short message, never a URL or credentials. */
	error?: string;
}

export interface DeliveryResult {
	/** The channel that reached the user, or null when every channel failed. */
	deliveredVia: ChannelName | null;
	attempts: DeliveryAttempt[];
}

/** Try the primary channel; when it throws, the fallback. Never throws itself. */
export async function deliver(
	notification: OutgoingNotification,
	primary: Channel,
	fallback?: Channel | null
): Promise<DeliveryResult> {
	const attempts: DeliveryAttempt[] = [];
	for (const channel of fallback ? [primary, fallback] : [primary]) {
		try {
			await channel.send(notification);
			attempts.push({ channel: channel.name, ok: true });
			return { deliveredVia: channel.name, attempts };
		} catch (err) {
			attempts.push({ channel: channel.name, ok: false, error: safeErrorMessage(err) });
		}
	}
	return { deliveredVia: null, attempts };
}

const CODE = /^[A-Z][A-Z0-9_]{1,47}$/;
const MAX_MESSAGE = 120;

/**
 * What may be recorded of an error: its code (ECONNECTION, EAUTH, SERVICE_NOT_FOUND...) when it
 * has one, else its message without URLs (an SMTP URL carries the password), user:password
 * pairs or addresses, cut short.
 */
export function safeErrorMessage(err: unknown): string {
	const e = (err ?? {}) as { code?: unknown; type?: unknown; message?: unknown; name?: unknown };
	for (const candidate of [e.code, e.type])
		if (typeof candidate === "string" && CODE.test(candidate)) return candidate;

	const raw =
		typeof err === "string" ? err : typeof e.message === "string" ? e.message : undefined;
	const cleaned = (raw ?? "")
		.replace(/[a-z][a-z0-9+.-]*:\/\/[^\s'"<>]*/gi, "<url>")
		.replace(/[^\s'"<>@/]+:[^\s'"<>@/]*@[^\s'"<>]+/g, "<credentials>")
		.replace(/[^\s'"<>@]+@[^\s'"<>]+/g, "<address>")
		.replace(/\s+/g, " ")
		.trim();
	if (!cleaned) return typeof e.name === "string" && /^\w{1,48}$/.test(e.name) ? e.name : "Error";
	return cleaned.length > MAX_MESSAGE ? `${cleaned.slice(0, MAX_MESSAGE - 3)}...` : cleaned;
}
