/**
 * Failover: a call whose instance is gone is sent again to a twin, within the same budget.
 *
 * - NO_RESPONDERS (platform/messaging/nats-transporter.ts): nats-server knew no subscriber for the target, so
 *   the call surely never reached a handler; it is re-sent whatever the action.
 * - REQUEST_REJECTED: Moleculer rejects what was pending on a node that left the registry; the
 *   handler may have run, so it is re-sent only when the action is idempotent (platform/messaging/budgets.ts).
 * Anything else (a timeout above all) is the caller's to handle: the saga's idempotent steps and
 * its compensations, as before. With no twin left the original error stands (a 503, which
 * Moleculer's retry policy does not retry: see platform/messaging/retry.ts).
 *
 * Remote calls also time out here, inside Moleculer's circuit breaker: its own Timeout middleware
 * wraps the breaker, which never saw a timeout, so a frozen node (kill -STOP) was never tripped.
 *
 * The `call` hook also gives every call its action's budget as its timeout (platform/messaging/budgets.ts),
 * never more than what is left of its parent's.
 */
import {
	Errors,
	type CallingOptions,
	type Context,
	type Middleware,
	type ServiceBroker
} from "moleculer";
import { budgetOf, isIdempotent } from "./budgets";

/** What `broker.call` is given instead of a name when the caller chose the endpoint. */
interface Endpoint {
	action?: { name?: string };
}

/**
 * Re-sends of one call at most. A node found gone stays in the registry for a flush's round trip
 * (platform/messaging/nats-transporter.ts); a re-send balanced to it then is refused unsent, in microseconds.
 */
const MAX_RESENDS = 4;

const NEVER_REACHED = "NO_RESPONDERS";
const MAY_HAVE_RUN = "REQUEST_REJECTED";

/** Whether `err` for this call of `action` may be answered by sending it to another instance. */
export function mayResend(err: unknown, action: string, ctx: Pick<Context, "meta">): boolean {
	const type = (err as Errors.MoleculerError | undefined)?.type;
	if (type === NEVER_REACHED) return true;
	return type === MAY_HAVE_RUN && isIdempotent(action, ctx);
}

/** Resends already made for a call, shared by its copies (`ctx.locals` is). */
const RESENDS = Symbol("failoverResends");

export function FailoverMiddleware(): Middleware {
	let broker: ServiceBroker;
	return {
		name: "Failover",
		created(b: ServiceBroker) {
			broker = b;
		},

		call(next: ServiceBroker["call"]) {
			return function budgeted(action: unknown, params?: unknown, opts: CallingOptions = {}) {
				// By name, or by the endpoint already chosen (the gateway's calls: moleculer-web).
				const name =
					typeof action === "string" ? action : (action as Endpoint | null)?.action?.name;
				const budget = name ? budgetOf(name) : undefined;
				if (budget == null || opts.ctx) return next(action as string, params, opts);
				const timeout = opts.timeout ? Math.min(opts.timeout, budget) : budget;
				return next(action as string, params, { ...opts, timeout });
			} as ServiceBroker["call"];
		},

		remoteAction(next: (ctx: Context) => Promise<unknown>, action: { name: string }) {
			return function failover(ctx: Context) {
				return timed(broker, ctx, action.name, next(ctx)).catch((err: unknown) => {
					const locals = ctx.locals as Record<symbol, number>;
					const resends = locals[RESENDS] ?? 0;
					// A call pinned to a node asked for that node, not for any instance.
					if (ctx.options.nodeID || resends >= MAX_RESENDS) return Promise.reject(err);
					if (!mayResend(err, action.name, ctx)) return Promise.reject(err);
					locals[RESENDS] = resends + 1;
					broker.logger.warn(`'${action.name}' sent again: ${(err as Error).message}`, {
						requestID: ctx.requestID
					});
					return broker
						.call(action.name, ctx.params, { ctx: ctx.copy() } as CallingOptions)
						.catch((again: Errors.MoleculerError) =>
							// No twin: the original, truer error (which instance was gone).
							Promise.reject(
								again?.type === "SERVICE_NOT_FOUND" ||
									again?.type === "SERVICE_NOT_AVAILABLE"
									? err
									: again
							)
						);
				});
			};
		}
		// (Moleculer's typings give the `call` hook the return type of `call` itself.)
	} as unknown as Middleware;
}

/** `pending` rejected with a RequestTimeoutError after the call's timeout; its request let go. */
function timed(broker: ServiceBroker, ctx: Context, action: string, pending: Promise<unknown>) {
	const ms = ctx.options.timeout;
	if (!ms || ms <= 0) return pending;
	let timer: NodeJS.Timeout | undefined;
	const timeout = new Promise<never>((_, reject) => {
		timer = setTimeout(() => {
			// An answer arriving later is an orphan, as after Moleculer's own timeout.
			(broker.transit as unknown as Transit | undefined)?.removePendingRequest(ctx.id);
			reject(new Errors.RequestTimeoutError({ action, nodeID: ctx.nodeID ?? "" }));
		}, ms);
	});
	return Promise.race([pending, timeout]).finally(() => clearTimeout(timer));
}

interface Transit {
	removePendingRequest(id: string): void;
}
