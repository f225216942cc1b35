/**
 * Graceful shutdown of a node, in order:
 * 1. every local service with a `drain()` method stops taking new work (the gateway stops
 *    accepting requests);
 * 2. the node waits until no local service has a call in flight (up to the tracking shutdown
 *    timeout);
 * 3. only then does the broker stop the services.
 * Moleculer stops a node's services all at once, each waiting only for its own calls: an order
 * in flight in `orders` found `inventory` already stopped on the same node, and failed.
 */
import type { Middleware, ServiceBroker } from "moleculer";

type Tracked = { _trackedContexts?: unknown[]; drain?: () => unknown };

export function inFlight(broker: ServiceBroker): number {
	return broker.services.reduce(
		(n, svc) => n + ((svc as unknown as Tracked)._trackedContexts?.length ?? 0),
		0
	);
}

export function DrainMiddleware(): Middleware {
	return {
		name: "Drain",
		async stopping(broker: ServiceBroker) {
			await Promise.all(
				broker.services.map(svc => {
					const drain = (svc as unknown as Tracked).drain;
					return typeof drain === "function" ? drain.call(svc) : undefined;
				})
			);
			const timeout = broker.options.tracking?.shutdownTimeout ?? 10_000;
			const deadline = Date.now() + timeout;
			while (inFlight(broker) > 0 && Date.now() < deadline)
				await new Promise(r => setTimeout(r, 25));
			if (inFlight(broker) > 0)
				broker.logger.warn(
					`Stopping with ${inFlight(broker)} call(s) still in flight after ${timeout} ms`
				);
		}
	} as Middleware;
}
