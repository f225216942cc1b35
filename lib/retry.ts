import type { Errors } from "moleculer";

/**
 * Errors after which a call surely did not run, so it is safe to send again.
 * A RequestTimeoutError is left out on purpose: the handler may have run on the other side,
 * and sending a non-idempotent call twice is worse than failing once.
 */
const SAFE_TO_RETRY = new Set([
	"SERVICE_NOT_FOUND",
	"SERVICE_NOT_AVAILABLE",
	"REQUEST_REJECTED",
	"QUEUE_FULL",
	"BAD_GATEWAY"
]);

export function retryable(err: Errors.MoleculerError | undefined | null): boolean {
	return Boolean(err?.retryable) && SAFE_TO_RETRY.has(err!.type);
}
