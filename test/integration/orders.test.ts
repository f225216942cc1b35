/**
 * The commerce flow through HTTP, every service in one process.
 */
import NotificationsService from "../../services/notifications/notifications.service";
import PaymentsService from "../../services/payments/payments.service";
import { eventListener } from "../helpers/emitted";
import { eventually } from "../helpers/eventually";
import { SHOP_SERVICES, bearer, startSystem, type System } from "../helpers/system";

const CARDS = {
	ok: "4242424242424242",
	declined: "4000000000000002",
	insufficient: "4000000000009995",
	badLuhn: "4242424242424241"
};
const card = (cardNumber = CARDS.ok, extra: Record<string, unknown> = {}) => ({
	cardNumber,
	expMonth: 12,
	expYear: new Date().getFullYear() + 3,
	cvc: "123",
	...extra
});

let sys: System;
let admin: { token: string };

const orderEvents = eventListener(["order.created", "order.confirmed"]);

beforeAll(async () => {
	sys = await startSystem([...SHOP_SERVICES, orderEvents.service]);
	admin = await sys.admin();
});
afterAll(() => sys.stop());

let skuCounter = 0;
async function product(stock: number, priceCents = 1250, currency = "EUR") {
	const res = await sys.http
		.post("/api/products")
		.set(bearer(admin.token))
		.send({
			sku: `SKU-${++skuCounter}-${Date.now()}`,
			name: `Product ${skuCounter}`,
			priceCents,
			currency,
			stock
		});
	expect(res.status).toBe(201);
	return res.body as { id: string; priceCents: number; stock: number };
}

async function stockOf(id: string): Promise<number> {
	const res = await sys.http.get(`/api/products/${id}`);
	expect(res.status).toBe(200);
	return res.body.stock;
}

function order(
	token: string,
	items: { productId: string; quantity: number }[],
	payment = card(),
	key?: string
) {
	const req = sys.http.post("/api/orders").set(bearer(token));
	if (key) req.set("Idempotency-Key", key);
	return req.send({ items, payment });
}

async function paymentsOf(token: string, orderId: string) {
	const res = await sys.http.get(`/api/payments?orderId=${orderId}`).set(bearer(token));
	expect(res.status).toBe(200);
	return res.body.rows as any[];
}

describe("POST /api/orders", () => {
	it("reserves stock, charges the card and confirms the order", async () => {
		const c = await sys.customer();
		const p = await product(10, 1250);
		const res = await order(c.token, [{ productId: p.id, quantity: 3 }]);
		expect(res.status).toBe(201);
		expect(res.body).toMatchObject({
			status: "confirmed",
			userId: c.id,
			totalCents: 3750,
			currency: "EUR",
			items: [{ productId: p.id, quantity: 3, unitPriceCents: 1250, lineTotalCents: 3750 }],
			payment: { brand: "visa", last4: "4242" }
		});
		expect(await stockOf(p.id)).toBe(7);
		const [payment] = await paymentsOf(c.token, res.body.id);
		expect(payment).toMatchObject({
			status: "captured",
			amountCents: 3750,
			capturedCents: 3750
		});
		expect(JSON.stringify(res.body) + JSON.stringify(payment)).not.toContain(CARDS.ok);
	});

	it("publishes order.created and order.confirmed, each naming the order", async () => {
		const c = await sys.customer();
		const p = await product(5);
		const res = await order(c.token, [{ productId: p.id, quantity: 1 }]);
		expect(res.status).toBe(201);
		const of = (name: string) =>
			orderEvents.received.find(e => e.name === name && e.payload.userId === c.id)?.payload;
		await eventually(async () => of("order.created") && of("order.confirmed"));
		expect(of("order.created")).toMatchObject({ orderId: res.body.id, status: "pending" });
		expect(of("order.confirmed")).toMatchObject({ orderId: res.body.id, status: "confirmed" });
	});

	it("prices from the catalog and ignores prices sent by the client", async () => {
		const c = await sys.customer();
		const p = await product(5, 999);
		const res = await sys.http
			.post("/api/orders")
			.set(bearer(c.token))
			.send({
				items: [{ productId: p.id, quantity: 2, unitPriceCents: 1, priceCents: 1 }],
				payment: card(),
				totalCents: 2,
				status: "delivered",
				userId: "someone-else"
			});
		expect(res.status).toBe(201);
		expect(res.body).toMatchObject({ totalCents: 1998, status: "confirmed", userId: c.id });
	});

	it("rejects a declined card with 402 and leaves stock unchanged and nothing captured", async () => {
		const c = await sys.customer();
		const p = await product(4);
		const res = await order(c.token, [{ productId: p.id, quantity: 2 }], card(CARDS.declined));
		expect(res.status).toBe(402);
		expect(res.body).toMatchObject({
			type: "CARD_DECLINED",
			data: { orderId: expect.any(String) }
		});
		expect(await stockOf(p.id)).toBe(4);
		const payments = await paymentsOf(c.token, res.body.data.orderId);
		expect(payments.every(x => !x.capturedCents)).toBe(true);
		const saved = await sys.http
			.get(`/api/orders/${res.body.data.orderId}`)
			.set(bearer(c.token));
		expect(saved.body).toMatchObject({ status: "rejected", reason: "CARD_DECLINED" });
	});

	it("rejects insufficient funds with 402 INSUFFICIENT_FUNDS", async () => {
		const c = await sys.customer();
		const p = await product(4);
		const res = await order(
			c.token,
			[{ productId: p.id, quantity: 1 }],
			card(CARDS.insufficient)
		);
		expect(res.status).toBe(402);
		expect(res.body.type).toBe("INSUFFICIENT_FUNDS");
		expect(await stockOf(p.id)).toBe(4);
	});

	it("rejects a card failing the Luhn check or expired with 422", async () => {
		const c = await sys.customer();
		const p = await product(4);
		const luhn = await order(c.token, [{ productId: p.id, quantity: 1 }], card(CARDS.badLuhn));
		expect(luhn.status).toBe(422);
		expect(luhn.body.type).toBe("INVALID_CARD");
		const expired = await order(
			c.token,
			[{ productId: p.id, quantity: 1 }],
			card(CARDS.ok, { expYear: 2020 })
		);
		expect(expired.status).toBe(422);
		expect(expired.body.type).toBe("INVALID_CARD");
		expect(await stockOf(p.id)).toBe(4);
		expect(JSON.stringify(luhn.body)).not.toContain(CARDS.badLuhn);
	});

	it("answers out of stock with 409 naming the product, charging nothing", async () => {
		const c = await sys.customer();
		const plenty = await product(10);
		const scarce = await product(1);
		const res = await order(c.token, [
			{ productId: plenty.id, quantity: 1 },
			{ productId: scarce.id, quantity: 2 }
		]);
		expect(res.status).toBe(409);
		expect(res.body.type).toBe("OUT_OF_STOCK");
		expect(res.body.data.products).toEqual([expect.objectContaining({ productId: scarce.id })]);
		expect(await stockOf(plenty.id)).toBe(10);
		expect(await stockOf(scarce.id)).toBe(1);
		expect(await paymentsOf(c.token, res.body.data.orderId)).toEqual([]);
	});

	it("validates the body: items, quantities, ids and card fields", async () => {
		const c = await sys.customer();
		const cases = [
			{ items: [], payment: card() },
			{ items: [{ productId: "p", quantity: 0 }], payment: card() },
			{ items: [{ productId: { $gt: "" }, quantity: 1 }], payment: card() },
			{ items: [{ productId: "abc", quantity: 1.5 }], payment: card() },
			{ items: [{ productId: "abc", quantity: 1 }], payment: { ...card(), cvc: "12" } },
			{
				items: Array.from({ length: 51 }, (_, i) => ({ productId: `p${i}`, quantity: 1 })),
				payment: card()
			}
		];
		for (const body of cases) {
			const res = await sys.http.post("/api/orders").set(bearer(c.token)).send(body);
			expect([res.status, res.body.type]).toEqual([422, "VALIDATION_ERROR"]);
		}
		const unknown = await order(c.token, [{ productId: "doesnotexist0000", quantity: 1 }]);
		expect([unknown.status, unknown.body.type]).toEqual([422, "PRODUCT_NOT_FOUND"]);
		expect(
			(await sys.http.post("/api/orders").send({ items: [], payment: card() })).status
		).toBe(401);
	});
});

describe("Idempotency-Key", () => {
	it("returns the same order for the same key, never a second one", async () => {
		const c = await sys.customer();
		const p = await product(10);
		const items = [{ productId: p.id, quantity: 2 }];
		const [first, second] = await Promise.all([
			order(c.token, items, card(), "key-1"),
			order(c.token, items, card(), "key-1")
		]);
		const third = await order(c.token, items, card(), "key-1");
		expect(first.status).toBe(201);
		expect([second.status, third.status].every(s => s === 200 || s === 201)).toBe(true);
		expect(second.body.id).toBe(first.body.id);
		expect(third.body.id).toBe(first.body.id);
		expect(await stockOf(p.id)).toBe(8);
		const mine = await sys.http.get("/api/orders").set(bearer(c.token));
		expect(mine.body.total).toBe(1);
	});

	it("refuses the same key for a different order", async () => {
		const c = await sys.customer();
		const p = await product(10);
		await order(c.token, [{ productId: p.id, quantity: 1 }], card(), "key-2");
		const res = await order(c.token, [{ productId: p.id, quantity: 5 }], card(), "key-2");
		expect([res.status, res.body.type]).toEqual([409, "IDEMPOTENCY_CONFLICT"]);
	});

	it("keeps keys apart between users", async () => {
		const a = await sys.customer();
		const b = await sys.customer();
		const p = await product(10);
		const ra = await order(a.token, [{ productId: p.id, quantity: 1 }], card(), "shared");
		const rb = await order(b.token, [{ productId: p.id, quantity: 1 }], card(), "shared");
		expect(ra.status).toBe(201);
		expect(rb.status).toBe(201);
		expect(ra.body.id).not.toBe(rb.body.id);
	});

	it("replays a rejection with the same error", async () => {
		const c = await sys.customer();
		const p = await product(10);
		const first = await order(
			c.token,
			[{ productId: p.id, quantity: 1 }],
			card(CARDS.declined),
			"key-3"
		);
		const again = await order(
			c.token,
			[{ productId: p.id, quantity: 1 }],
			card(CARDS.declined),
			"key-3"
		);
		expect(first.status).toBe(402);
		expect(again.status).toBe(402);
		expect(again.body.data.orderId).toBe(first.body.data.orderId);
	});
});

describe("POST /api/orders/:id/cancel", () => {
	it("refunds the payment and restocks", async () => {
		const c = await sys.customer();
		const p = await product(6, 500);
		const placed = await order(c.token, [{ productId: p.id, quantity: 2 }]);
		expect(await stockOf(p.id)).toBe(4);
		const res = await sys.http
			.post(`/api/orders/${placed.body.id}/cancel`)
			.set(bearer(c.token));
		expect(res.status).toBe(200);
		expect(res.body.status).toBe("cancelled");
		expect(await stockOf(p.id)).toBe(6);
		const [payment] = await paymentsOf(c.token, placed.body.id);
		expect(payment).toMatchObject({ status: "refunded", refundedCents: 1000 });

		const again = await sys.http
			.post(`/api/orders/${placed.body.id}/cancel`)
			.set(bearer(c.token));
		expect([again.status, again.body.type]).toEqual([409, "INVALID_TRANSITION"]);
		expect(await stockOf(p.id)).toBe(6);
	});

	it("is allowed to an admin and refused on someone else's order", async () => {
		const c = await sys.customer();
		const other = await sys.customer();
		const p = await product(6);
		const placed = await order(c.token, [{ productId: p.id, quantity: 1 }]);
		const foreign = await sys.http
			.post(`/api/orders/${placed.body.id}/cancel`)
			.set(bearer(other.token));
		expect([foreign.status, foreign.body.type]).toEqual([404, "ORDER_NOT_FOUND"]);
		const byAdmin = await sys.http
			.post(`/api/orders/${placed.body.id}/cancel`)
			.set(bearer(admin.token));
		expect(byAdmin.body.status).toBe("cancelled");
	});
});

describe("shipping and tracking", () => {
	it("follows the order from confirmed through shipped to delivered", async () => {
		const c = await sys.customer();
		const p = await product(6);
		const placed = await order(c.token, [{ productId: p.id, quantity: 1 }]);
		const id = placed.body.id;

		const tracking = await eventually(async () => {
			const t = await sys.http.get(`/api/orders/${id}/tracking`).set(bearer(c.token));
			return t.body.shipment ? t.body : null;
		});
		expect(tracking.shipment).toMatchObject({
			status: "preparing",
			trackingNumber: expect.any(String)
		});

		const shipmentId = tracking.shipment.id;
		expect(
			(await sys.http.post(`/api/shipments/${shipmentId}/ship`).set(bearer(c.token))).status
		).toBe(403);
		expect(
			(await sys.http.post(`/api/shipments/${shipmentId}/ship`).set(bearer(admin.token)))
				.status
		).toBe(200);
		await eventually(async () => {
			const o = await sys.http.get(`/api/orders/${id}`).set(bearer(c.token));
			return o.body.status === "shipped";
		});
		const late = await sys.http.post(`/api/orders/${id}/cancel`).set(bearer(c.token));
		expect([late.status, late.body.type]).toEqual([409, "INVALID_TRANSITION"]);

		expect(
			(await sys.http.post(`/api/shipments/${shipmentId}/deliver`).set(bearer(admin.token)))
				.status
		).toBe(200);
		const done = await eventually(async () => {
			const t = await sys.http.get(`/api/orders/${id}/tracking`).set(bearer(c.token));
			return t.body.status === "delivered" ? t.body : null;
		});
		expect(done.timeline.map((h: { status: string }) => h.status)).toEqual([
			"pending",
			"confirmed",
			"shipped",
			"delivered"
		]);
		for (const h of done.timeline) expect(Date.parse(h.at)).not.toBeNaN();
		expect(done.shipment.status).toBe("delivered");
	});

	it("never ships a cancelled order nor refunds a shipped one, when ship and cancel meet", async () => {
		const c = await sys.customer();
		const p = await product(20);
		let shipped = 0;
		for (let i = 0; i < 4; i++) {
			const placed = await order(c.token, [{ productId: p.id, quantity: 1 }]);
			const id = placed.body.id;
			const shipment = await eventually(async () => {
				const t = await sys.http.get(`/api/orders/${id}/tracking`).set(bearer(c.token));
				return t.body.shipment;
			});
			const [ship, cancel] = await Promise.all([
				sys.http.post(`/api/shipments/${shipment.id}/ship`).set(bearer(admin.token)),
				sys.http.post(`/api/orders/${id}/cancel`).set(bearer(c.token))
			]);
			expect([ship.status, cancel.status].sort()).toEqual([200, 409]);
			const won = ship.status === 200 ? "shipped" : "cancelled";
			if (won === "shipped") shipped++;
			await eventually(async () => {
				const o = await sys.http.get(`/api/orders/${id}`).set(bearer(c.token));
				return o.body.status === won;
			});
			const [payment] = await paymentsOf(c.token, id);
			expect(payment.status).toBe(won === "shipped" ? "captured" : "refunded");
		}
		expect(await stockOf(p.id)).toBe(20 - shipped); // a cancelled order's unit came back
	});

	it("notifies the customer of a confirmed order", async () => {
		const c = await sys.customer();
		const p = await product(3);
		const placed = await order(c.token, [{ productId: p.id, quantity: 1 }]);
		const note = await eventually(async () => {
			const res = await sys.http.get("/api/notifications").set(bearer(c.token));
			// Listed from its claim on; deliveredVia is set once a channel took it.
			return res.body.rows.find(
				(n: any) =>
					n.orderId === placed.body.id && n.kind === "order.confirmed" && n.deliveredVia
			);
		});
		expect(note.deliveredVia).toBe("email");
	});
});

describe("who sees what", () => {
	it("hides another user's order and shows admins everything", async () => {
		const owner = await sys.customer();
		const other = await sys.customer();
		const p = await product(5);
		const placed = await order(owner.token, [{ productId: p.id, quantity: 1 }]);
		const id = placed.body.id;
		for (const url of [`/api/orders/${id}`, `/api/orders/${id}/tracking`]) {
			const res = await sys.http.get(url).set(bearer(other.token));
			expect([res.status, res.body.type]).toEqual([404, "ORDER_NOT_FOUND"]);
		}
		expect(
			(await sys.http.get(`/api/orders/doesnotexist0000`).set(bearer(owner.token))).status
		).toBe(404);
		const others = await sys.http.get("/api/orders").set(bearer(other.token));
		expect(others.body.rows.some((o: any) => o.id === id)).toBe(false);
		expect(await paymentsOf(other.token, id)).toEqual([]);

		const all = await sys.http
			.get(`/api/orders?userId=${owner.id}&pageSize=100`)
			.set(bearer(admin.token));
		expect(all.body.rows.map((o: any) => o.id)).toContain(id);
		expect((await sys.http.get(`/api/orders/${id}`).set(bearer(admin.token))).status).toBe(200);
	});

	it("refuses admin-only routes to customers (403) and anonymous callers (401)", async () => {
		const c = await sys.customer();
		const p = await product(5);
		const routes: [string, string, unknown][] = [
			["post", "/api/products", { sku: "X", name: "X", priceCents: 1, currency: "EUR" }],
			["patch", `/api/products/${p.id}`, { name: "Y" }],
			["post", `/api/products/${p.id}/stock`, { delta: 5 }],
			["post", `/api/shipments/abc/ship`, {}],
			["post", `/api/shipments/abc/deliver`, {}],
			["post", `/api/payments/abc/refund`, {}],
			["get", "/api/users", undefined]
		];
		for (const [method, url, body] of routes) {
			const asCustomer = await (sys.http as any)[method](url).set(bearer(c.token)).send(body);
			const anonymous = await (sys.http as any)[method](url).send(body);
			expect([url, asCustomer.status]).toEqual([url, 403]);
			expect([url, anonymous.status]).toEqual([url, 401]);
		}
		expect(await stockOf(p.id)).toBe(5);
	});
});

describe("racing for the last units", () => {
	it("confirms exactly 10 of 50 concurrent orders for 10 units and never goes negative", async () => {
		const p = await product(10);
		const customers = await Promise.all(Array.from({ length: 5 }, () => sys.customer()));
		const results = await Promise.all(
			Array.from({ length: 50 }, (_, i) =>
				order(customers[i % 5].token, [{ productId: p.id, quantity: 1 }])
			)
		);
		const statuses = results.map(r => r.status);
		expect(statuses.filter(s => s === 201)).toHaveLength(10);
		expect(statuses.filter(s => s === 409)).toHaveLength(40);
		expect(await stockOf(p.id)).toBe(0);
	});
});

describe("a saga the recovery sweep settles while it runs", () => {
	it("answers with the order the sweep confirmed, charging and taking stock once", async () => {
		const orders: any = sys.broker.getLocalService("orders");
		const payments: any = sys.broker.getLocalService("payments");
		const c = await sys.customer();
		const p = await product(5);
		const capture = payments.capturePayment;
		const stuckAfterMs = orders.settings.stuckAfterMs;
		let swept = false;
		// Right before this saga captures, the sweep finds it "stuck" at capture and finishes it.
		payments.capturePayment = async function (this: any, ...args: any[]) {
			if (!swept) {
				swept = true;
				orders.settings.stuckAfterMs = -1000;
				await sys.broker.call("orders.recover");
				orders.settings.stuckAfterMs = stuckAfterMs;
			}
			return capture.apply(this, args);
		};
		try {
			const res = await order(c.token, [{ productId: p.id, quantity: 2 }]);
			expect(swept).toBe(true);
			expect(res.status).toBe(200); // the sweep's outcome, not a 500
			expect(res.body.status).toBe("confirmed");
			const charges = await paymentsOf(c.token, res.body.id);
			expect(charges).toHaveLength(1);
			expect(charges[0]).toMatchObject({ status: "captured", capturedCents: 2500 });
			expect(await stockOf(p.id)).toBe(3);
		} finally {
			payments.capturePayment = capture;
			orders.settings.stuckAfterMs = stuckAfterMs;
		}
	});
});

describe("compensations an order still owes", () => {
	it("are paid off by the recovery sweep, once: a capture the processor failed is refunded", async () => {
		const orders: any = sys.broker.getLocalService("orders");
		const payments: any = sys.broker.getLocalService("payments");
		const c = await sys.customer();
		const p = await product(5);
		// The processor fails the capture, and again when the void finds it owed: whether the
		// money moved is unknown, so the order is rejected owing its payment's cancellation.
		const capture = jest
			.spyOn(payments.processor, "capture")
			.mockRejectedValueOnce(new Error("processor down"))
			.mockRejectedValueOnce(new Error("processor down"));
		try {
			const res = await order(c.token, [{ productId: p.id, quantity: 2 }]);
			expect([res.status, res.body.type]).toEqual([503, "SERVICE_UNAVAILABLE"]);
			// (A 503 carries no details; the customer's only order is this one.)
			const orderId = (await orders.adapter.findOne({ userId: c.id }))._id;
			expect(await stockOf(p.id)).toBe(5);
			expect((await orders.adapter.findOne({ _id: orderId })).pendingActions).toEqual([
				"cancelPayment"
			]);

			await sys.broker.call("orders.recover");
			// The capture is made under its key, the void then refused, the payment refunded.
			const [payment] = await paymentsOf(c.token, String(orderId));
			expect(payment).toMatchObject({
				status: "refunded",
				capturedCents: 2500,
				refundedCents: 2500
			});
			expect((await orders.adapter.findOne({ _id: orderId })).pendingActions).toEqual([]);
			await sys.broker.call("orders.recover");
			expect((await paymentsOf(c.token, String(orderId)))[0].refunds).toHaveLength(1);
			expect(capture).toHaveBeenCalledTimes(3);
		} finally {
			capture.mockRestore();
		}
	});
});

describe("degraded dependencies", () => {
	it("keeps placing orders while notifications is down", async () => {
		const notifications = sys.broker.getLocalService("notifications")!;
		await sys.broker.destroyService(notifications);
		try {
			const c = await sys.customer();
			const p = await product(3);
			const res = await order(c.token, [{ productId: p.id, quantity: 1 }]);
			expect(res.status).toBe(201);
			const cancel = await sys.http
				.post(`/api/orders/${res.body.id}/cancel`)
				.set(bearer(c.token));
			expect(cancel.status).toBe(200);
		} finally {
			sys.broker.createService(NotificationsService as any);
			await sys.broker.waitForServices("notifications");
		}
	});

	it("answers 503 when payments is down, leaving nothing reserved", async () => {
		const c = await sys.customer();
		const p = await product(3);
		await sys.broker.destroyService(sys.broker.getLocalService("payments")!);
		try {
			const res = await order(c.token, [{ productId: p.id, quantity: 2 }]);
			expect([res.status, res.body.type]).toEqual([503, "SERVICE_UNAVAILABLE"]);
			expect(await stockOf(p.id)).toBe(3);
			const mine = await sys.http.get("/api/orders").set(bearer(c.token));
			expect(mine.body.rows[0]).toMatchObject({
				status: "rejected",
				reason: "SERVICE_UNAVAILABLE"
			});
		} finally {
			sys.broker.createService(PaymentsService as any);
			await sys.broker.waitForServices("payments");
		}
		const after = await order(c.token, [{ productId: p.id, quantity: 2 }]);
		expect(after.status).toBe(201);
	});
});
