/**
 * Fair scheduling of in-process calls. In the embedded default every service runs in one process,
 * and a call from one service to another is a plain chain of promises: an order's ten calls, its
 * events and their handlers run as one long series of microtasks, and Node drains microtasks after
 * every I/O callback. Under load one drain carried every order in flight from start to finish
 * (100-150 ms), and new connections were accepted one per drain: at concurrency 64 the last ones
 * got their first answer seconds late. Starting each nested local call (and each in-process event
 * delivery, see durable-events.mixin.ts) from a macrotask gives the event loop its turn between
 * hops, as a network hop does in a cluster: connections are accepted and requests read while
 * orders are in flight.
 */
import type { Context, Middleware, ServiceBroker } from "moleculer";

/** Resolve from the event loop's check phase, after the pending I/O has had its turn. */
export const nextTurn = (): Promise<void> => new Promise(resolve => setImmediate(resolve));

/**
 * The call option a caller that itself just came from I/O sets (the gateway, for the action a
 * request maps to): its call starts at once.
 */
export const FROM_IO = "fromIo";

/**
 * A call made by an action or event handler of this very process, not by a remote node and not
 * straight from I/O (a top-level call, or the gateway's call for an HTTP request).
 */
export const isNestedLocalCall = (ctx: Context, nodeID: string): boolean =>
	ctx.level > 1 &&
	ctx.nodeID === nodeID &&
	!(ctx.options as Record<string, unknown> | undefined)?.[FROM_IO];

export function FairSchedulingMiddleware(): Middleware {
	let nodeID = "";
	return {
		name: "FairScheduling",
		created(broker: ServiceBroker) {
			nodeID = broker.nodeID;
		},
		localAction(next: (ctx: Context) => Promise<unknown>) {
			// A request from the gateway's socket or from the transporter already starts from I/O.
			return (ctx: Context) =>
				isNestedLocalCall(ctx, nodeID) ? nextTurn().then(() => next(ctx)) : next(ctx);
		}
	} as Middleware;
}
