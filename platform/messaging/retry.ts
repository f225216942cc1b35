import type { Errors } from "moleculer";
import { ErrorTypes } from "../../contracts/errors";

/**
 * Errors after which a call surely did not run, and a retry may find an endpoint.
 * A RequestTimeoutError is left out on purpose: the handler may have run on the other side,
 * and sending a non-idempotent call twice is worse than failing once.
 * SERVICE_NOT_AVAILABLE is left out too: every endpoint is known but unusable (circuit breaker
 * open, or its node gone silent), which does not change within a retry's delay. Retrying it only
 * delayed the fast 503 of an open breaker by the whole backoff (test/cluster/circuit-breaker).
 * REQUEST_REJECTED (the call was pending on a node that left: it may have run) and NO_RESPONDERS
 * (its node is gone) are platform/messaging/failover.ts's: re-sent at once to a twin when that is safe, and
 * a retry after a delay would find no other twin than the failover did.
 */
const SAFE_TO_RETRY = new Set(["SERVICE_NOT_FOUND", "QUEUE_FULL", "BAD_GATEWAY"]);

export function retryable(err: Errors.MoleculerError | undefined | null): boolean {
	return Boolean(err?.retryable) && SAFE_TO_RETRY.has(err!.type);
}

/**
 * Failures the circuit breaker counts against the endpoint that answered: 5xx, except the
 * deliberate 503 of a healthy endpoint whose own dependency is down (an order refused while
 * payments is gone). Counted, those opened the gateway's breaker on orders, which then refused
 * orders for its half-open time after payments was back (test/cluster/failover-payments).
 */
export function endpointFailed(err: Errors.MoleculerError | undefined | null): boolean {
	return (err?.code ?? 0) >= 500 && err?.type !== ErrorTypes.SERVICE_UNAVAILABLE;
}
