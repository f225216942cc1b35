import { Errors, ServiceBroker, type Context } from "moleculer";
import {
	BusinessMetric,
	BusinessMetricsMiddleware,
	eventCounters,
	reasonLabel
} from "../../../../platform/runtime/metrics";

const order = {
	orderId: "o1",
	userId: "u1",
	status: "confirmed",
	totalCents: 1000,
	currency: "EUR",
	items: []
};

function value(broker: ServiceBroker, name: string, labels?: Record<string, string>) {
	const metric = broker.metrics.getMetric(name);
	if (!metric) throw new Error(`metric ${name} is not registered`);
	return (metric.get(labels) as { value?: number } | null)?.value ?? 0;
}

function startBroker(metrics = true) {
	const broker = new ServiceBroker({
		logger: false,
		metrics: { enabled: metrics, reporter: [] },
		middlewares: [BusinessMetricsMiddleware()]
	});
	let stock = 2;
	broker.createService({
		name: "inventory",
		actions: {
			reserve(ctx: Context<{ quantity: number }>) {
				if (ctx.params.quantity > stock)
					throw new Errors.MoleculerClientError("Not enough stock", 409, "OUT_OF_STOCK");
				if (ctx.params.quantity < 0) throw new TypeError("boom");
				stock -= ctx.params.quantity;
				return { reserved: ctx.params.quantity };
			}
		}
	});
	broker.createService({
		name: "orders",
		actions: {
			// Emits from inside a handler, through the context, as the services do.
			async confirm(ctx: Context) {
				await ctx.emit("order.confirmed", { ...order, eventId: "e1" });
				return true;
			}
		},
		events: { "order.*"() {} }
	});
	return broker;
}

describe("business metrics middleware", () => {
	let broker: ServiceBroker;
	afterEach(() => broker?.stop());

	it("counts every emitted or broadcast domain event by name, and nothing else", async () => {
		broker = startBroker();
		await broker.start();
		await broker.call("orders.confirm");
		await broker.emit("order.created", order);
		await broker.emit("order.created", order);
		await broker.broadcast("shipment.created", { shipmentId: "s1" });
		await broker.emit("cache.clean.orders");
		await broker.emit("something.else", {});

		const events = broker.metrics.getMetric(BusinessMetric.DOMAIN_EVENTS)!;
		expect(value(broker, BusinessMetric.DOMAIN_EVENTS, { event: "order.confirmed" })).toBe(1);
		expect(value(broker, BusinessMetric.DOMAIN_EVENTS, { event: "order.created" })).toBe(2);
		expect(value(broker, BusinessMetric.DOMAIN_EVENTS, { event: "shipment.created" })).toBe(1);
		const labels = events.snapshot().map((s: any) => s.labels.event);
		expect(labels.sort()).toEqual(["order.confirmed", "order.created", "shipment.created"]);
	});

	it("counts confirmed and rejected orders and declined payments, by reason", async () => {
		broker = startBroker();
		await broker.start();
		await broker.call("orders.confirm");
		await broker.emit("order.rejected", { ...order, reason: "OUT_OF_STOCK" });
		await broker.emit("order.rejected", { ...order, reason: "CARD_DECLINED" });
		await broker.emit("order.rejected", { ...order, reason: "CARD_DECLINED" });
		await broker.emit("payment.declined", {
			paymentId: "p1",
			orderId: "o1",
			userId: "u1",
			amountCents: 1000,
			currency: "EUR",
			status: "declined",
			reason: "INSUFFICIENT_FUNDS"
		});

		expect(value(broker, BusinessMetric.ORDERS_CONFIRMED)).toBe(1);
		expect(value(broker, BusinessMetric.ORDERS_REJECTED, { reason: "CARD_DECLINED" })).toBe(2);
		expect(value(broker, BusinessMetric.ORDERS_REJECTED, { reason: "OUT_OF_STOCK" })).toBe(1);
		expect(
			value(broker, BusinessMetric.PAYMENTS_DECLINED, { reason: "INSUFFICIENT_FUNDS" })
		).toBe(1);
	});

	it("counts inventory.reserve executions by outcome and keeps the caller's result", async () => {
		broker = startBroker();
		await broker.start();
		await expect(broker.call("inventory.reserve", { quantity: 1 })).resolves.toEqual({
			reserved: 1
		});
		await broker.call("inventory.reserve", { quantity: 1 });
		await expect(broker.call("inventory.reserve", { quantity: 5 })).rejects.toMatchObject({
			type: "OUT_OF_STOCK"
		});
		await expect(broker.call("inventory.reserve", { quantity: -1 })).rejects.toThrow("boom");

		expect(value(broker, BusinessMetric.STOCK_RESERVATIONS, { outcome: "reserved" })).toBe(2);
		expect(value(broker, BusinessMetric.STOCK_RESERVATIONS, { outcome: "OUT_OF_STOCK" })).toBe(
			1
		);
		expect(value(broker, BusinessMetric.STOCK_RESERVATIONS, { outcome: "ERROR" })).toBe(1);
	});

	it("does nothing, and breaks nothing, when metrics are disabled", async () => {
		broker = startBroker(false);
		await broker.start();
		await broker.call("orders.confirm");
		await expect(broker.call("inventory.reserve", { quantity: 1 })).resolves.toEqual({
			reserved: 1
		});
		expect(broker.metrics.getMetric(BusinessMetric.DOMAIN_EVENTS)).toBeNull();
	});
});

describe("metric labels", () => {
	it("keep stable codes and fold free text into one value", () => {
		expect(reasonLabel("CARD_DECLINED")).toBe("CARD_DECLINED");
		expect(reasonLabel("Cancelled by request")).toBe("OTHER");
		expect(reasonLabel(undefined, "ERROR")).toBe("ERROR");
		expect(reasonLabel("X".repeat(80))).toBe("OTHER");
	});

	it("derive the counters of one event", () => {
		expect(eventCounters("payment.captured", {})).toEqual([
			{ name: BusinessMetric.DOMAIN_EVENTS, labels: { event: "payment.captured" } }
		]);
		expect(eventCounters("order.rejected", { reason: "a free text" })).toContainEqual({
			name: BusinessMetric.ORDERS_REJECTED,
			labels: { reason: "OTHER" }
		});
		expect(eventCounters("$node.connected", {})).toEqual([]);
	});
});
