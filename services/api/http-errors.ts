/**
 * How any error leaves the gateway: a status code and a JSON body `{ name, message, code, type, data? }`.
 *
 * Client errors (4xx) keep their message, type and data: they are meant for the caller.
 * Server errors (5xx) never carry a stack trace, an internal message or internal data.
 */
import { ErrorTypes } from "../../contracts/errors";

export interface ErrorBody {
	name: string;
	message: string;
	code: number;
	type: string;
	data?: unknown;
}

interface AnyError {
	name?: string;
	message?: string;
	code?: unknown;
	status?: unknown;
	type?: unknown;
	data?: unknown;
}

const UNAVAILABLE = new Set([
	"SERVICE_NOT_AVAILABLE",
	"SERVICE_NOT_FOUND",
	"QUEUE_FULL",
	"BAD_GATEWAY"
]);

/** Messages of our own 5xx classes that are safe (and useful) to show. */
const PUBLIC_5XX: Record<number, { name: string; message: string; type: string }> = {
	503: {
		name: "ServiceUnavailableError",
		message: "A service needed for this request is not available. Try again shortly.",
		type: ErrorTypes.SERVICE_UNAVAILABLE
	},
	504: {
		name: "GatewayTimeoutError",
		message: "A service did not answer in time. Try again shortly.",
		type: ErrorTypes.TIMEOUT
	}
};

export function toErrorBody(error: unknown): ErrorBody {
	const err = (error ?? {}) as AnyError;
	const type = typeof err.type === "string" ? err.type : undefined;

	// Errors of the HTTP body parser (body-parser sets status and a dotted type).
	if (err.status === 413 || type === "entity.too.large")
		return body(
			"PayloadTooLargeError",
			"Request body is too large",
			413,
			ErrorTypes.PAYLOAD_TOO_LARGE
		);
	if (type === "entity.too.deep")
		return body(
			"InvalidJsonError",
			"Request body is nested too deeply",
			400,
			ErrorTypes.INVALID_JSON
		);
	if (type === "entity.decode.failed")
		return body(
			"InvalidJsonError",
			"Request body could not be decoded (Content-Encoding)",
			400,
			ErrorTypes.INVALID_JSON
		);
	if (type === "entity.parse.failed")
		return body(
			"InvalidJsonError",
			"Request body is not valid JSON",
			400,
			ErrorTypes.INVALID_JSON
		);
	if (type === "content-type.unsupported")
		return body(
			"UnsupportedMediaTypeError",
			"Request bodies must be JSON (Content-Type: application/json)",
			415,
			ErrorTypes.UNSUPPORTED_MEDIA_TYPE
		);
	if (err.status === 415 || type === "charset.unsupported" || type === "encoding.unsupported")
		return body(
			"UnsupportedMediaTypeError",
			"Unsupported body encoding",
			415,
			ErrorTypes.UNSUPPORTED_MEDIA_TYPE
		);

	if (type && UNAVAILABLE.has(type)) return fromPublic5xx(503);

	const code =
		typeof err.code === "number" ? err.code : typeof err.status === "number" ? err.status : 500;

	if (code >= 400 && code < 500) {
		const out = body(
			clip(err.name) || "ClientError",
			clip(err.message) || "Bad request",
			code,
			type ?? (code === 404 ? ErrorTypes.NOT_FOUND : "CLIENT_ERROR")
		);
		if (code === 429) out.type = ErrorTypes.RATE_LIMITED;
		if (err.data !== undefined && err.data !== null && code !== 401) {
			const data = sanitizeData(err.data);
			if (data !== undefined) out.data = data;
		}
		return out;
	}
	if (code === 503 || code === 504) return fromPublic5xx(code);
	return body("InternalServerError", "Internal server error", 500, ErrorTypes.INTERNAL_ERROR);
}

function fromPublic5xx(code: 503 | 504): ErrorBody {
	const p = PUBLIC_5XX[code];
	return body(p.name, p.message, code, p.type);
}

function body(name: string, message: string, code: number, type: string): ErrorBody {
	return { name, message, code, type };
}

/** The most a 4xx body's `data` may take, serialized; the most entries of a list of errors. */
export const MAX_ERROR_DATA_BYTES = 8 * 1024;
export const MAX_ERROR_ENTRIES = 20;
const MAX_TEXT = 300;

const clip = (text: unknown): string | undefined =>
	typeof text !== "string"
		? undefined
		: text.length > MAX_TEXT
			? `${text.slice(0, MAX_TEXT)}…`
			: text;

/**
 * Validation data: keep the field, type and message of each failure, never the rejected value;
 * bounded, whatever the request was. A list of errors keeps its first MAX_ERROR_ENTRIES (and
 * fewer when they would pass MAX_ERROR_DATA_BYTES), then one entry counting the rest; any other
 * data over the limit is dropped.
 */
function sanitizeData(data: unknown): unknown {
	if (Array.isArray(data)) {
		const out: unknown[] = [];
		let bytes = 2;
		let more = 0;
		for (const item of data) {
			if (
				item &&
				typeof item === "object" &&
				(item as { type?: unknown }).type === "moreErrors"
			) {
				more += Number((item as { actual?: unknown }).actual) || 0;
				continue;
			}
			const entry =
				item && typeof item === "object" && "field" in item
					? {
							type: clip((item as { type?: unknown }).type),
							field: clip((item as { field?: unknown }).field),
							message: clip((item as { message?: unknown }).message)
						}
					: item;
			const size = JSON.stringify(entry ?? null).length + 1;
			if (out.length >= MAX_ERROR_ENTRIES || bytes + size > MAX_ERROR_DATA_BYTES) {
				more++;
				continue;
			}
			bytes += size;
			out.push(entry);
		}
		if (more > 0)
			out.push({
				type: "moreErrors",
				field: "",
				message: `${more} more errors are not listed.`
			});
		return out;
	}
	return JSON.stringify(data).length > MAX_ERROR_DATA_BYTES ? undefined : data;
}
