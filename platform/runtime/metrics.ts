/**
 * Business metrics, kept out of the services: a broker middleware counts what the services do
 * on the node where it happens, next to moleculer's own request metrics (`moleculer_request_*`).
 *
 *   shopmesh_domain_events_total{event}        every domain event of contracts/events.ts a node emits
 *   shopmesh_orders_confirmed_total            `order.confirmed` emitted
 *   shopmesh_orders_rejected_total{reason}     `order.rejected` emitted, by rejection reason
 *   shopmesh_payments_declined_total{reason}   `payment.declined` emitted, by decline code
 *   shopmesh_stock_reservations_total{outcome} `inventory.reserve` handled: `reserved` or the
 *                                              error type (`OUT_OF_STOCK`, `PRODUCT_NOT_FOUND`...)
 *
 * Events are counted where they are emitted (once per event, whatever the number of consumers):
 * through Moleculer's emit in the embedded default, by the outbox relay when they go to JetStream;
 * reservations where `inventory.reserve` runs (once per execution, retries included).
 * moleculer.config.ts registers the middleware when metrics are on (METRICS_PORT or METRICS_ENABLED).
 */
import type { ActionSchema, Context, Middleware, ServiceBroker } from "moleculer";
import { isDomainEvent } from "../../contracts/events";

export const BusinessMetric = {
	DOMAIN_EVENTS: "shopmesh_domain_events_total",
	ORDERS_CONFIRMED: "shopmesh_orders_confirmed_total",
	ORDERS_REJECTED: "shopmesh_orders_rejected_total",
	PAYMENTS_DECLINED: "shopmesh_payments_declined_total",
	STOCK_RESERVATIONS: "shopmesh_stock_reservations_total"
} as const;

export const RESERVE_ACTION = "inventory.reserve";

/**
 * A label value from a reason or error type. Stable UPPER_SNAKE codes (`CARD_DECLINED`) pass;
 * anything else becomes `fallback`, so free text never explodes the number of series.
 */
export function reasonLabel(value: unknown, fallback = "OTHER"): string {
	return typeof value === "string" && /^[A-Z][A-Z0-9_]{0,63}$/.test(value) ? value : fallback;
}

/** The counters to add for one emitted event (pure: the middleware applies them). */
export function eventCounters(
	eventName: string,
	payload: unknown
): { name: string; labels?: Record<string, string> }[] {
	if (!isDomainEvent(eventName)) return [];
	const reason = (payload as { reason?: unknown } | null | undefined)?.reason;
	const counters: { name: string; labels?: Record<string, string> }[] = [
		{ name: BusinessMetric.DOMAIN_EVENTS, labels: { event: eventName } }
	];
	if (eventName === "order.confirmed") counters.push({ name: BusinessMetric.ORDERS_CONFIRMED });
	if (eventName === "order.rejected")
		counters.push({
			name: BusinessMetric.ORDERS_REJECTED,
			labels: { reason: reasonLabel(reason) }
		});
	if (eventName === "payment.declined")
		counters.push({
			name: BusinessMetric.PAYMENTS_DECLINED,
			labels: { reason: reasonLabel(reason) }
		});
	return counters;
}

function register(broker: ServiceBroker): void {
	const counter = (name: string, description: string, labelNames: string[] = []) =>
		broker.metrics.register({ type: "counter", name, description, labelNames, rate: false });
	counter(BusinessMetric.DOMAIN_EVENTS, "Domain events emitted", ["event"]);
	counter(BusinessMetric.ORDERS_CONFIRMED, "Orders confirmed");
	counter(BusinessMetric.ORDERS_REJECTED, "Orders rejected, by reason", ["reason"]);
	counter(BusinessMetric.PAYMENTS_DECLINED, "Card payments declined, by code", ["reason"]);
	counter(BusinessMetric.STOCK_RESERVATIONS, "Stock reservations handled, by outcome", [
		"outcome"
	]);
}

/**
 * Count a domain event published outside Moleculer's emit (to JetStream, by the outbox relay of
 * platform/messaging/durable-events.mixin.ts). A no-op unless the middleware registered the counters.
 */
export function countDomainEvent(broker: ServiceBroker, eventName: string, payload: unknown) {
	if (!broker.isMetricsEnabled() || !broker.metrics.getMetric(BusinessMetric.DOMAIN_EVENTS))
		return;
	for (const c of eventCounters(eventName, payload)) broker.metrics.increment(c.name, c.labels);
}

type Send = (eventName: string, payload?: unknown, opts?: unknown) => Promise<unknown>;

/** The broker middleware. Does nothing on a broker whose metrics are disabled. */
export function BusinessMetricsMiddleware(): Middleware {
	let broker: ServiceBroker | undefined;
	const enabled = () => Boolean(broker?.isMetricsEnabled());

	// Count an event once it was handed to the broker successfully.
	const wrapSend = (next: Send): Send =>
		function (this: unknown, eventName, payload, opts) {
			const sent = next.call(this, eventName, payload, opts);
			if (!enabled() || !isDomainEvent(eventName)) return sent;
			return Promise.resolve(sent).then(res => {
				for (const c of eventCounters(eventName, payload))
					broker!.metrics.increment(c.name, c.labels);
				return res;
			});
		};

	const middleware = {
		name: "BusinessMetrics",

		created(b: ServiceBroker) {
			broker = b;
			if (b.isMetricsEnabled()) register(b);
		},

		emit: wrapSend,
		broadcast: wrapSend,

		localAction(next: (ctx: Context) => Promise<unknown>, action: ActionSchema) {
			if (action.name !== RESERVE_ACTION) return next;
			return (ctx: Context) => {
				if (!enabled()) return next(ctx);
				const count = (outcome: string) =>
					broker!.metrics.increment(BusinessMetric.STOCK_RESERVATIONS, { outcome });
				return next(ctx).then(
					res => {
						count("reserved");
						return res;
					},
					(err: { type?: unknown }) => {
						count(reasonLabel(err?.type, "ERROR"));
						throw err;
					}
				);
			};
		}
	};
	// moleculer's Middleware typings describe `emit`/`broadcast` hooks with the wrong return type.
	return middleware as unknown as Middleware;
}
