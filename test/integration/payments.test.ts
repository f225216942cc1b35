import type { ServiceSchema } from "moleculer";
import PaymentsService from "../../services/payments/payments.service";
import { TEST_CARDS } from "../../services/payments/processor";
import { bearer, startSystem, type System } from "../helpers/system";

let sys: System;
let alice: { token: string; id: string };
let bob: { token: string; id: string };
let admin: { token: string; id: string };
const bodies: string[] = [];

beforeAll(async () => {
	sys = await startSystem([PaymentsService as unknown as ServiceSchema]);
	[alice, bob, admin] = await Promise.all([
		sys.customer("Alice"),
		sys.customer("Bob"),
		sys.admin()
	]);
});
afterAll(() => sys.stop());

let n = 0;
const newOrderId = () => `int-order-${++n}-${Date.now()}`;
const CARD = "4242 4242 4242 4242";

/** Pay for an order as orders does: authorize (and capture) through the broker. */
async function paidOrder(userId: string, amountCents = 10_000, capture = true) {
	const orderId = newOrderId();
	const payment = await sys.broker.call<any, any>("payments.authorize", {
		orderId,
		userId,
		amountCents,
		currency: "EUR",
		card: { number: CARD, expMonth: 12, expYear: new Date().getUTCFullYear() + 1, cvc: "123" }
	});
	if (capture) await sys.broker.call("payments.capture", { orderId });
	return { orderId, paymentId: payment.id as string };
}

/** Every response body is kept, to check none ever carries a card number. */
function seen<T extends { text: string }>(res: T): T {
	bodies.push(res.text);
	return res;
}

describe("GET /api/payments", () => {
	it("shows the owner their payment of an order, without card data", async () => {
		const { orderId, paymentId } = await paidOrder(alice.id);
		const res = seen(
			await sys.http.get(`/api/payments?orderId=${orderId}`).set(bearer(alice.token))
		);
		expect(res.status).toBe(200);
		expect(res.body).toMatchObject({ total: 1, page: 1, pageSize: 20 });
		expect(res.body.rows).toHaveLength(1);
		expect(res.body.rows[0]).toMatchObject({
			id: paymentId,
			orderId,
			userId: alice.id,
			status: "captured",
			capturedCents: 10_000,
			brand: "visa",
			last4: "4242"
		});
		expect(res.body.rows[0]).not.toHaveProperty("authorizationId");
		expect(res.body.rows[0]).not.toHaveProperty("_id");
	});

	it("shows another customer no rows for that order", async () => {
		const { orderId } = await paidOrder(alice.id);
		const res = seen(
			await sys.http.get(`/api/payments?orderId=${orderId}`).set(bearer(bob.token))
		);
		expect(res.status).toBe(200);
		expect(res.body).toMatchObject({ rows: [], total: 0 });
	});

	it("lists only the caller's own payments", async () => {
		await paidOrder(alice.id);
		await paidOrder(bob.id);
		const res = seen(await sys.http.get("/api/payments?pageSize=100").set(bearer(bob.token)));
		expect(res.status).toBe(200);
		expect(res.body.rows.length).toBeGreaterThan(0);
		expect(res.body.rows.every((p: any) => p.userId === bob.id)).toBe(true);
	});

	it("shows admins anyone's payment", async () => {
		const { orderId, paymentId } = await paidOrder(alice.id);
		const res = seen(
			await sys.http.get(`/api/payments?orderId=${orderId}`).set(bearer(admin.token))
		);
		expect(res.status).toBe(200);
		expect(res.body.rows.map((p: any) => p.id)).toEqual([paymentId]);
		const all = seen(await sys.http.get("/api/payments?pageSize=100").set(bearer(admin.token)));
		const owners = all.body.rows.map((p: any) => p.userId);
		expect(owners).toContain(alice.id);
		expect(owners).toContain(bob.id);
	});

	it("pages, and refuses a page size over 100 or a malformed order id with 422", async () => {
		for (let i = 0; i < 3; i++) await paidOrder(alice.id);
		const page = seen(
			await sys.http.get("/api/payments?pageSize=2&page=2").set(bearer(alice.token))
		);
		expect(page.status).toBe(200);
		expect(page.body).toMatchObject({ page: 2, pageSize: 2 });
		expect(page.body.rows).toHaveLength(2);
		expect(page.body.totalPages).toBe(Math.ceil(page.body.total / 2));

		const big = await sys.http.get("/api/payments?pageSize=101").set(bearer(alice.token));
		expect(big.status).toBe(422);
		const bad = await sys.http.get("/api/payments?orderId=a%24b").set(bearer(alice.token));
		expect(bad.status).toBe(422);
		expect(bad.body.data.map((d: any) => d.field)).toEqual(["orderId"]);
	});

	it("needs a token", async () => {
		const res = await sys.http.get("/api/payments");
		expect(res.status).toBe(401);
		expect(res.body.type).toBe("UNAUTHORIZED");
	});
});

describe("GET /api/payments/:id", () => {
	it("gives the owner and admins the payment, anyone else 404", async () => {
		const { paymentId } = await paidOrder(alice.id);
		const own = seen(await sys.http.get(`/api/payments/${paymentId}`).set(bearer(alice.token)));
		expect(own.status).toBe(200);
		expect(own.body).toMatchObject({ id: paymentId, last4: "4242" });

		const other = seen(await sys.http.get(`/api/payments/${paymentId}`).set(bearer(bob.token)));
		expect(other.status).toBe(404);
		expect(other.body).toMatchObject({ code: 404, type: "PAYMENT_NOT_FOUND" });

		const byAdmin = seen(
			await sys.http.get(`/api/payments/${paymentId}`).set(bearer(admin.token))
		);
		expect(byAdmin.status).toBe(200);
		expect(byAdmin.body.id).toBe(paymentId);

		expect((await sys.http.get(`/api/payments/${paymentId}`)).status).toBe(401);
	});

	it("answers an unknown id with 404 PAYMENT_NOT_FOUND", async () => {
		const res = await sys.http.get("/api/payments/nope123").set(bearer(admin.token));
		expect(res.status).toBe(404);
		expect(res.body.type).toBe("PAYMENT_NOT_FOUND");
	});
});

describe("POST /api/payments/:id/refund", () => {
	it("lets an admin refund a part, then the rest, and not a cent more", async () => {
		const { paymentId } = await paidOrder(alice.id, 10_000);
		const part = seen(
			await sys.http
				.post(`/api/payments/${paymentId}/refund`)
				.set(bearer(admin.token))
				.send({ amountCents: 2_500, refundId: "goodwill-1" })
		);
		expect(part.status).toBe(200);
		expect(part.body).toMatchObject({ status: "partially_refunded", refundedCents: 2_500 });

		const repeated = await sys.http
			.post(`/api/payments/${paymentId}/refund`)
			.set(bearer(admin.token))
			.send({ amountCents: 2_500, refundId: "goodwill-1" });
		expect(repeated.body.refundedCents).toBe(2_500);

		const over = await sys.http
			.post(`/api/payments/${paymentId}/refund`)
			.set(bearer(admin.token))
			.send({ amountCents: 7_501 });
		expect(over.status).toBe(409);
		expect(over.body.type).toBe("REFUND_EXCEEDS_CAPTURE");

		const rest = seen(
			await sys.http
				.post(`/api/payments/${paymentId}/refund`)
				.set(bearer(admin.token))
				.send({})
		);
		expect(rest.status).toBe(200);
		expect(rest.body).toMatchObject({ status: "refunded", refundedCents: 10_000 });

		// The owner sees the refunds.
		const own = await sys.http.get(`/api/payments/${paymentId}`).set(bearer(alice.token));
		expect(own.body.refunds.map((r: any) => r.amountCents)).toEqual([2_500, 7_500]);
	});

	it("refuses an uncaptured payment with 409 PAYMENT_STATE", async () => {
		const { paymentId } = await paidOrder(alice.id, 10_000, false);
		const res = await sys.http
			.post(`/api/payments/${paymentId}/refund`)
			.set(bearer(admin.token))
			.send({});
		expect(res.status).toBe(409);
		expect(res.body.type).toBe("PAYMENT_STATE");
	});

	it("refuses customers, even the owner, with 403 and anonymous callers with 401", async () => {
		const { paymentId } = await paidOrder(alice.id);
		const owner = await sys.http
			.post(`/api/payments/${paymentId}/refund`)
			.set(bearer(alice.token))
			.send({});
		expect(owner.status).toBe(403);
		const anon = await sys.http.post(`/api/payments/${paymentId}/refund`).send({});
		expect(anon.status).toBe(401);
		const payment = await sys.broker.call<any, any>(
			"payments.get",
			{ id: paymentId },
			{
				meta: { user: { id: admin.id, role: "admin" } }
			}
		);
		expect(payment.refundedCents).toBe(0);
	});

	it("refuses a bad amount with 422", async () => {
		const { paymentId } = await paidOrder(alice.id);
		for (const amountCents of [0, -5, 1.5, "100"]) {
			const res = await sys.http
				.post(`/api/payments/${paymentId}/refund`)
				.set(bearer(admin.token))
				.send({ amountCents });
			expect([amountCents, res.status]).toEqual([amountCents, 422]);
		}
	});
});

describe("internal actions", () => {
	it.each([
		["post", "/api/payments/authorize"],
		["post", "/api/payments/capture"],
		["post", "/api/payments/void"],
		["post", "/api/payments/refund"],
		["get", "/api/payments/forOrder/x"],
		["get", "/api/payments/forOrder"],
		["post", "/api/payments.authorize"]
	] as const)("%s %s is not routed (404)", async (method, path) => {
		for (const token of [admin.token, alice.token]) {
			const res = seen(
				await sys.http[method](path)
					.set(bearer(token))
					.send({
						orderId: "x",
						userId: alice.id,
						amountCents: 100,
						currency: "EUR",
						card: { number: CARD, expMonth: 12, expYear: 2099, cvc: "123" }
					})
			);
			expect([path, res.status]).toEqual([path, 404]);
		}
	});

	it("declines through the broker without any card data in the error", async () => {
		const orderId = newOrderId();
		const err = await sys.broker
			.call("payments.authorize", {
				orderId,
				userId: bob.id,
				amountCents: 500,
				currency: "EUR",
				card: { number: TEST_CARDS.declined, expMonth: 1, expYear: 2099, cvc: "321" }
			})
			.catch(e => e);
		expect(err).toMatchObject({ code: 402, type: "CARD_DECLINED", data: { orderId } });
		expect(JSON.stringify(err)).not.toContain(TEST_CARDS.declined);
		const res = seen(
			await sys.http.get(`/api/payments?orderId=${orderId}`).set(bearer(bob.token))
		);
		expect(res.body.rows[0]).toMatchObject({
			status: "declined",
			declineCode: "CARD_DECLINED"
		});
	});
});

describe("response bodies", () => {
	// Last in this file: every body the tests above received.
	it("never contain a card number, a CVC or the processor's reference", () => {
		const all = bodies.join("\n");
		expect(bodies.length).toBeGreaterThan(10);
		for (const number of [CARD.replace(/ /g, ""), CARD, TEST_CARDS.declined])
			expect(all).not.toContain(number);
		expect(all).not.toMatch(/cvc|authorizationId/i);
	});
});
