/**
 * What the gateway takes from a request's headers: the client's address (the key of rate limits
 * and the login throttle), the Idempotency-Key, and a client's X-Request-ID. No broker, no I/O.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Context } from "moleculer";
import { invalidField } from "../../contracts/errors";
import { settings } from "../../platform/runtime/settings";
import type { AuthMeta } from "../../types/moleculer";

/** A request as moleculer-web hands it on: with its action, route, endpoint and context. */
export type Req = IncomingMessage & {
	$action?: any;
	$route?: any;
	$endpoint?: { id: string };
	$ctx?: Context<unknown, AuthMeta>;
};
export type Res = ServerResponse;

// Read when the gateway's modules load, as its CORS and rate limits are.
const cfg = settings();

/**
 * The client's address, the key of rate limits and the login throttle. Behind TRUST_PROXY
 * proxies it is the address the outermost trusted proxy saw (X-Forwarded-For, counted from the
 * right, as each proxy appends its peer); entries further left are client-supplied and ignored.
 */
export function clientKey(req: Pick<Req, "socket" | "headers">, trustProxy = cfg.trustProxy) {
	const remote = req.socket.remoteAddress ?? "unknown";
	if (trustProxy <= 0) return remote;
	const forwarded = String(req.headers["x-forwarded-for"] ?? "")
		.split(",")
		.map(s => s.trim())
		.filter(Boolean);
	const chain = [...forwarded, remote];
	return chain[Math.max(0, chain.length - 1 - trustProxy)];
}

/** Longest Idempotency-Key accepted; a longer one is refused, never cut (two would collide). */
export const IDEMPOTENCY_KEY_MAX = 200;

/** The Idempotency-Key header: undefined when absent or empty; 422 when too long or not a token. */
export function idempotencyKey(header: string | string[] | undefined): string | undefined {
	if (header === undefined || header === "") return undefined;
	const key = Array.isArray(header) ? header.join(",") : header;
	if (key.length > IDEMPOTENCY_KEY_MAX || !/^[\x21-\x7e]+$/.test(key))
		throw invalidField(
			"Idempotency-Key",
			`The Idempotency-Key header must be 1 to ${IDEMPOTENCY_KEY_MAX} printable ASCII characters without spaces.`,
			"idempotencyKey"
		);
	return key;
}

/** Longest X-Request-ID (or X-Correlation-ID) taken from a client. */
export const REQUEST_ID_MAX = 64;

/**
 * A client's X-Request-ID goes into every log line and back in the answer: it is kept only when it
 * is a short token of letters, digits and `._:-`; anything else is dropped, and the request gets
 * an id of its own, as one without the header does.
 */
export function safeRequestId(value: string | string[] | undefined): string | undefined {
	if (typeof value !== "string" || value.length === 0 || value.length > REQUEST_ID_MAX)
		return undefined;
	return /^[A-Za-z0-9._:-]+$/.test(value) ? value : undefined;
}
