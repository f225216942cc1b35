/**
 * Error types clients can switch on. Every error leaving a service is a
 * MoleculerClientError(message, code, type, data) with one of these types.
 */
import { Errors } from "moleculer";

export const ErrorTypes = {
	VALIDATION_ERROR: "VALIDATION_ERROR",
	UNAUTHORIZED: "UNAUTHORIZED",
	FORBIDDEN: "FORBIDDEN",
	NOT_FOUND: "NOT_FOUND",
	USER_EXISTS: "USER_EXISTS",
	INVALID_CREDENTIALS: "INVALID_CREDENTIALS",
	USER_NOT_FOUND: "USER_NOT_FOUND",
	PRODUCT_NOT_FOUND: "PRODUCT_NOT_FOUND",
	PRODUCT_EXISTS: "PRODUCT_EXISTS",
	OUT_OF_STOCK: "OUT_OF_STOCK",
	ORDER_NOT_FOUND: "ORDER_NOT_FOUND",
	INVALID_TRANSITION: "INVALID_TRANSITION",
	IDEMPOTENCY_CONFLICT: "IDEMPOTENCY_CONFLICT",
	CARD_DECLINED: "CARD_DECLINED",
	INSUFFICIENT_FUNDS: "INSUFFICIENT_FUNDS",
	INVALID_CARD: "INVALID_CARD",
	PAYMENT_NOT_FOUND: "PAYMENT_NOT_FOUND",
	PAYMENT_STATE: "PAYMENT_STATE",
	REFUND_EXCEEDS_CAPTURE: "REFUND_EXCEEDS_CAPTURE",
	SHIPMENT_NOT_FOUND: "SHIPMENT_NOT_FOUND",
	RESERVATION_NOT_FOUND: "RESERVATION_NOT_FOUND",
	CURRENCY_MISMATCH: "CURRENCY_MISMATCH",
	SERVICE_UNAVAILABLE: "SERVICE_UNAVAILABLE",
	RATE_LIMITED: "RATE_LIMITED",
	PAYLOAD_TOO_LARGE: "PAYLOAD_TOO_LARGE",
	INVALID_JSON: "INVALID_JSON",
	UNSUPPORTED_MEDIA_TYPE: "UNSUPPORTED_MEDIA_TYPE",
	TIMEOUT: "TIMEOUT",
	INTERNAL_ERROR: "INTERNAL_ERROR"
} as const;

export type ErrorType = (typeof ErrorTypes)[keyof typeof ErrorTypes];

export function clientError(message: string, code: number, type: ErrorType, data?: unknown) {
	return new Errors.MoleculerClientError(message, code, type, data);
}

export const notFound = (message: string, type: ErrorType = ErrorTypes.NOT_FOUND, data?: unknown) =>
	clientError(message, 404, type, data);
export const conflict = (message: string, type: ErrorType, data?: unknown) =>
	clientError(message, 409, type, data);
export const unauthorized = (message = "Authentication required") =>
	clientError(message, 401, ErrorTypes.UNAUTHORIZED);
export const forbidden = (message = "You are not allowed to do this") =>
	clientError(message, 403, ErrorTypes.FORBIDDEN);

/** A 422 naming the failing field, shaped like the validator's own errors. */
export const invalidField = (field: string, message: string, kind = "invalid") =>
	clientError(message, 422, ErrorTypes.VALIDATION_ERROR, [{ type: kind, field, message }]);
