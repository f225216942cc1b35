/**
 * Limits on request bodies, checked by the gateway before and while a body is parsed.
 *
 * - A body over the size limit is answered 413 at once and the connection closed, instead of
 *   reading the whole upload only to throw it away.
 * - A body within the size limit can still nest arrays tens of thousands deep; the validator turns
 *   a rejected value into text for its message, which recurses once per level and overflows the
 *   stack (a 500 instead of a 4xx). Such bodies are refused before they are parsed.
 */
import type { IncomingMessage, ServerResponse } from "node:http";

/** The JSON bodies of this API nest a few levels; anything deeper than this is refused. */
export const MAX_JSON_DEPTH = 32;

const UNITS: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };

/** "100kb", "1mb", "512" (bytes) -> bytes, as body-parser reads its `limit`; null if malformed. */
export function parseBytes(value: string): number | null {
	const m = /^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)?\s*$/i.exec(value);
	if (!m) return null;
	return Math.floor(Number(m[1]) * UNITS[(m[2] ?? "b").toLowerCase()]);
}

const tooLarge = () =>
	Object.assign(new Error("request entity too large"), {
		status: 413,
		type: "entity.too.large"
	});

type Refuse = (req: IncomingMessage, res: ServerResponse, err: Error) => void;

/** A connect-style middleware, as moleculer-web calls them (`this` is the gateway service). */
export type Middleware = (
	this: unknown,
	req: IncomingMessage,
	res: ServerResponse,
	next: (err?: unknown) => void
) => void;

/**
 * The request carries a body: a Content-Length (even 0) or a Transfer-Encoding. The same test as
 * body-parser's (type-is `hasBody`), which reads nothing from a request without either.
 */
export function hasBody(req: Pick<IncomingMessage, "headers">): boolean {
	return (
		req.headers["transfer-encoding"] !== undefined ||
		!Number.isNaN(Number(req.headers["content-length"]))
	);
}

/**
 * `middlewares` in order, only for requests that carry a body: most requests (every GET) carry
 * none, and each body middleware would only find that out again. An error from one of them skips
 * the rest and goes to `next`.
 */
export function forRequestsWithBody(...middlewares: Middleware[]): Middleware {
	return function withBody(this: unknown, req, res, next) {
		if (!hasBody(req)) return next();
		let i = 0;
		const step = (err?: unknown): void => {
			if (err) return next(asClientError(err));
			if (i === middlewares.length) return next();
			middlewares[i++].call(this, req, res, step);
		};
		step();
	};
}

/**
 * A body middleware's error as the gateway answers it. body-parser gives a client's bad body a
 * 4xx `status`, but a corrupt compressed body's error keeps zlib's string `code` (`Z_DATA_ERROR`),
 * which moleculer-web prefers over the status: it was answered 500 and logged with its stack at
 * ERROR, once per request. Every 4xx leaves with the status as its code, and a body that could not
 * be decoded (no `type` of the parser's own) as `entity.decode.failed`.
 */
export function asClientError(err: unknown): unknown {
	const e = err as { status?: unknown; type?: unknown; message?: unknown } | null;
	if (!e || typeof e.status !== "number" || e.status < 400 || e.status >= 500) return err;
	return Object.assign(new Error(String(e.message ?? "Bad request")), {
		status: e.status,
		code: e.status,
		type: typeof e.type === "string" ? e.type : "entity.decode.failed"
	});
}

/**
 * Gateway middleware, before the body parser: a body over `limitBytes` is answered 413 as soon as
 * that is known, and the connection closed, so the rest of the upload is never read. (The parser
 * alone stops buffering at the limit, but reads a whole oversized upload before answering.)
 * A declared Content-Length is refused before reading; a chunked body once it passes the limit,
 * through `refuse` (called with the middleware's `this`, the gateway service).
 */
export function limitBodySize(limitBytes: number, refuse: Refuse) {
	return function bodySizeLimit(
		this: unknown,
		req: IncomingMessage,
		res: ServerResponse,
		next: (err?: unknown) => void
	): void {
		const length = req.headers["content-length"];
		if (length != null) {
			if (Number(length) <= limitBytes) return next();
			res.setHeader("Connection", "close");
			return next(tooLarge());
		}
		if (req.headers["transfer-encoding"] != null) {
			let received = 0;
			const count = (chunk: Buffer) => {
				received += chunk.length;
				if (received <= limitBytes) return;
				req.off("data", count);
				if (res.headersSent) return;
				res.setHeader("Connection", "close");
				refuse.call(this, req, res, tooLarge());
			};
			req.on("data", count);
		}
		next();
	};
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_ARRAY = 0x5b;
const OPEN_OBJECT = 0x7b;
const CLOSE_ARRAY = 0x5d;
const CLOSE_OBJECT = 0x7d;

/** The deepest nesting of arrays and objects in a JSON text (brackets in strings do not count). */
export function jsonDepth(buf: Uint8Array): number {
	let depth = 0;
	let max = 0;
	let inString = false;
	for (let i = 0; i < buf.length; i++) {
		const c = buf[i];
		if (inString) {
			if (c === BACKSLASH) i++;
			else if (c === QUOTE) inString = false;
		} else if (c === QUOTE) inString = true;
		else if (c === OPEN_ARRAY || c === OPEN_OBJECT) {
			if (++depth > max) max = depth;
		} else if (c === CLOSE_ARRAY || c === CLOSE_OBJECT) depth--;
	}
	return max;
}

/** For body-parser's `verify` hook: the body nests deeper than `max`. */
export class JsonTooDeepError extends Error {
	override name = "JsonTooDeepError";
	readonly status = 400;
	readonly type = "entity.too.deep";
	constructor(max: number) {
		super(`Request body is nested deeper than ${max} levels`);
	}
}

/** body-parser `verify` hook: throws JsonTooDeepError for a body nested deeper than `max`. */
export function rejectDeepJson(max = MAX_JSON_DEPTH) {
	return (_req: unknown, _res: unknown, buf: Uint8Array): void => {
		if (jsonDepth(buf) > max) throw new JsonTooDeepError(max);
	};
}

/** `application/json` or a `+json` type such as `application/merge-patch+json`. */
export function isJsonType(contentType: string | undefined): boolean {
	if (contentType === undefined) return false;
	const semi = contentType.indexOf(";");
	const type = (semi < 0 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
	return (
		type === "application/json" || (type.startsWith("application/") && type.endsWith("+json"))
	);
}

const unsupportedType = () =>
	Object.assign(new Error("Request bodies must be JSON (Content-Type: application/json)"), {
		status: 415,
		type: "content-type.unsupported"
	});

/**
 * A JSON route's body must be JSON: a body of any other type (or of none) is a 415, instead of
 * being skipped by the JSON parser and the request run as if it had sent nothing. An empty body
 * (`Content-Length: 0`) needs no type.
 */
export const requireJsonBody: Middleware = function requireJsonBody(req, _res, next) {
	if (req.headers["content-length"] === "0") return next();
	if (!isJsonType(req.headers["content-type"])) return next(unsupportedType());
	next();
};
