/**
 * OWASP API1: broken object level authorization.
 *
 * Every route taking an id answers another customer's object exactly like an object that does
 * not exist (404, same body), so ids can neither be used nor probed. Listings never include
 * other customers' objects, whatever filter is sent.
 */
import { bearer, card, eventually, guessedId, startShop, type Shop } from "./fixtures";

let shop: Shop;
let alice: { token: string; id: string; email: string };
let bob: { token: string; id: string; email: string };
let aliceOrder: { orderId: string; paymentId: string; shipmentId: string };
let aliceNotificationId: string;

beforeAll(async () => {
	shop = await startShop();
	alice = await shop.customer("Alice");
	bob = await shop.customer("Bob");
	aliceOrder = await shop.paidOrder(alice.token);
	aliceNotificationId = await eventually(async () => {
		const res = await shop.http.get("/api/notifications").set(bearer(alice.token));
		return res.body.rows?.[0]?.id as string | undefined;
	});
});
afterAll(() => shop?.stop());

/** The routes that take an id, and the error type of a missing object. */
const BY_ID: {
	name: string;
	method: "get" | "post";
	path: (ids: Ids, id?: string) => string;
	type: string;
	/** A read-only request by which the owner sees the object (the id is real). */
	owned: (ids: Ids) => [url: string, id: string];
}[] = [
	{
		name: "GET /api/orders/:id",
		method: "get",
		path: (o, id = o.orderId) => `/api/orders/${id}`,
		type: "ORDER_NOT_FOUND",
		owned: o => [`/api/orders/${o.orderId}`, o.orderId]
	},
	{
		name: "GET /api/orders/:id/tracking",
		method: "get",
		path: (o, id = o.orderId) => `/api/orders/${id}/tracking`,
		type: "ORDER_NOT_FOUND",
		owned: o => [`/api/orders/${o.orderId}`, o.orderId]
	},
	{
		name: "POST /api/orders/:id/cancel",
		method: "post",
		path: (o, id = o.orderId) => `/api/orders/${id}/cancel`,
		type: "ORDER_NOT_FOUND",
		owned: o => [`/api/orders/${o.orderId}`, o.orderId]
	},
	{
		name: "GET /api/payments/:id",
		method: "get",
		path: (o, id = o.paymentId) => `/api/payments/${id}`,
		type: "PAYMENT_NOT_FOUND",
		owned: o => [`/api/payments/${o.paymentId}`, o.paymentId]
	},
	{
		name: "GET /api/shipments/:id",
		method: "get",
		path: (o, id = o.shipmentId) => `/api/shipments/${id}`,
		type: "SHIPMENT_NOT_FOUND",
		owned: o => [`/api/shipments/${o.shipmentId}`, o.shipmentId]
	},
	{
		name: "POST /api/notifications/:id/read",
		method: "post",
		path: (o, id = o.notificationId) => `/api/notifications/${id}/read`,
		type: "NOT_FOUND",
		owned: o => ["/api/notifications", o.notificationId]
	}
];

type Ids = typeof aliceOrder & { notificationId: string };
const ids = (): Ids => ({ ...aliceOrder, notificationId: aliceNotificationId });

describe.each(BY_ID)("$name", ({ method, path, type, owned }) => {
	it("the owner sees the object (the id is real)", async () => {
		const [url, id] = owned(ids());
		const res = await shop.http.get(url).set(bearer(alice.token));
		expect(res.status).toBe(200);
		expect(res.text).toContain(`"id":"${id}"`);
	});

	it("answers another customer 404, exactly like an id that does not exist", async () => {
		const theirs = await shop.http[method](path(ids())).set(bearer(bob.token)).send({});
		const guessed = await shop.http[method](path(ids(), guessedId()))
			.set(bearer(bob.token))
			.send({});
		expect(theirs.status).toBe(404);
		expect(theirs.body).toMatchObject({ code: 404, type });
		expect(guessed.status).toBe(404);
		expect(guessed.body).toEqual(theirs.body);
	});

	it("answers guessed ids of both id formats 404", async () => {
		for (const id of [guessedId(), "0123456789abcdef01234567", "1", "admin"]) {
			const res = await shop.http[method](path(ids(), id)).set(bearer(bob.token)).send({});
			expect(res.status).toBe(404);
			expect(res.body.type).toBe(type);
		}
	});
});

describe("another customer's objects stay untouched", () => {
	it("cancelling someone else's order changes nothing", async () => {
		await shop.http.post(`/api/orders/${aliceOrder.orderId}/cancel`).set(bearer(bob.token));
		const res = await shop.http
			.get(`/api/orders/${aliceOrder.orderId}`)
			.set(bearer(alice.token));
		expect(res.body.status).toBe("confirmed");
	});

	it("marking someone else's notification read changes nothing", async () => {
		const n = await eventually(async () => {
			const res = await shop.http
				.get("/api/notifications?unread=true")
				.set(bearer(alice.token));
			return (res.body.rows as { id: string }[]).length > 0 ? res.body.rows : undefined;
		});
		await shop.http.post(`/api/notifications/${n[0].id}/read`).set(bearer(bob.token));
		const after = await shop.http
			.get("/api/notifications?unread=true")
			.set(bearer(alice.token));
		expect(after.body.rows.map((r: { id: string }) => r.id)).toContain(n[0].id);
	});

	it("an id in the body cannot redirect a route to someone else's object", async () => {
		const own = await shop.paidOrder(bob.token);
		const res = await shop.http
			.post(`/api/orders/${own.orderId}/cancel`)
			.set(bearer(bob.token))
			.send({ id: aliceOrder.orderId });
		expect(res.status).toBe(200);
		expect(res.body.id).toBe(own.orderId);
		const hers = await shop.http
			.get(`/api/orders/${aliceOrder.orderId}?id=${own.orderId}`)
			.set(bearer(alice.token));
		expect(hers.body).toMatchObject({ id: aliceOrder.orderId, status: "confirmed" });
	});
});

describe("idempotency keys belong to their customer", () => {
	it("another customer's Idempotency-Key neither replays nor reveals their order", async () => {
		const p = await shop.product(10, 700);
		const body = { items: [{ productId: p.id, quantity: 1 }], payment: card() };
		const key = `shared-key-${Date.now()}`;
		const hers = await shop.http
			.post("/api/orders")
			.set(bearer(alice.token))
			.set("Idempotency-Key", key)
			.send(body);
		expect(hers.status).toBe(201);
		const his = await shop.http
			.post("/api/orders")
			.set(bearer(bob.token))
			.set("Idempotency-Key", key)
			.send(body);
		expect(his.status).toBe(201);
		expect(his.body.id).not.toBe(hers.body.id);
		expect(his.body.userId).toBe(bob.id);
	});
});

describe("listings show only the caller's own objects", () => {
	const LISTS = [
		`/api/orders?userId=ALICE`,
		`/api/payments?orderId=ORDER`,
		`/api/payments`,
		`/api/shipments?orderId=ORDER`,
		`/api/shipments`,
		`/api/notifications`
	];

	it.each(LISTS)("GET %s", async template => {
		const url = template.replace("ALICE", alice.id).replace("ORDER", aliceOrder.orderId);
		const res = await shop.http.get(url).set(bearer(bob.token));
		expect(res.status).toBe(200);
		const rows = res.body.rows as { userId?: string; orderId?: string }[];
		for (const row of rows) expect(row.userId).toBe(bob.id);
		expect(JSON.stringify(res.body)).not.toContain(aliceOrder.orderId);
		expect(JSON.stringify(res.body)).not.toContain(alice.email);
	});

	it("an admin sees the customer's objects (the filters do work)", async () => {
		const orders = await shop.http
			.get(`/api/orders?userId=${alice.id}`)
			.set(bearer(shop.adminToken));
		expect(orders.body.rows.map((o: { id: string }) => o.id)).toContain(aliceOrder.orderId);
		const payment = await shop.http
			.get(`/api/payments/${aliceOrder.paymentId}`)
			.set(bearer(shop.adminToken));
		expect(payment.status).toBe(200);
		const shipment = await shop.http
			.get(`/api/shipments/${aliceOrder.shipmentId}`)
			.set(bearer(shop.adminToken));
		expect(shipment.status).toBe(200);
	});
});
