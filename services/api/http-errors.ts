/**
 * How any error leaves the gateway: a status code and a JSON body `{ name, message, code, type, data? }`.
 *
 * Client errors (4xx) keep their message, type and data: they are meant for the caller.
 * Server errors (5xx) never carry a stack trace, an internal message or internal data.
 */
import { ErrorTypes } from "../../lib/errors";

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
	if (type === "entity.parse.failed")
		return body(
			"InvalidJsonError",
			"Request body is not valid JSON",
			400,
			ErrorTypes.INVALID_JSON
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
			err.name || "ClientError",
			err.message || "Bad request",
			code,
			type ?? (code === 404 ? ErrorTypes.NOT_FOUND : "CLIENT_ERROR")
		);
		if (code === 429) out.type = ErrorTypes.RATE_LIMITED;
		if (err.data !== undefined && err.data !== null && code !== 401)
			out.data = sanitizeData(err.data);
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

/** Validation data: keep the field, type and message of each failure, never the rejected value. */
function sanitizeData(data: unknown): unknown {
	if (Array.isArray(data))
		return data.map(item => {
			if (item && typeof item === "object" && "field" in item) {
				const { type, field, message } = item as {
					type?: string;
					field?: string;
					message?: string;
				};
				return { type, field, message };
			}
			return item;
		});
	return data;
}
