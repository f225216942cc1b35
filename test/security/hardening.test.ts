/**
 * The findings of the outside review (issue 24), each as the class it belongs to, attacked through
 * HTTP as an anonymous client, a customer and an admin. The event-loop findings are in
 * redos.test.ts, the limits across instances in test/cluster/limits.test.ts.
 */
import os from "node:os";
import jwt from "jsonwebtoken";
import {
	JWT_AUDIENCE,
	JWT_ISSUER,
	JWT_SECRET,
	bearer,
	card,
	eventually,
	startShop,
	type Shop
} from "./fixtures";

jest.setTimeout(60_000);

let shop: Shop;
let alice: { token: string; id: string; email: string; password: string };

beforeAll(async () => {
	shop = await startShop({
		PASSWORD_HASH_COST: "16384",
		IDEMPOTENCY_KEY_TTL_MS: "1000",
		RATE_LIMIT_MAX: "0"
	});
	alice = await shop.customer("Alice");
});
afterAll(() => shop?.stop());

const register = (email: string, name = "Someone", password = "a-good-pass-phrase-1") =>
	shop.http.post("/api/users").send({ email, password, name });

function expectClientError(res: { status: number; body: any }, status: number, type?: string) {
	expect([res.status, typeof res.body?.type]).toEqual([status, "string"]);
	if (type) expect(res.body.type).toBe(type);
}

describe("2. validation errors are bounded", () => {
	it("an order of 25 000 empty items is one short 422, not an error per item", async () => {
		const res = await shop.http
			.post("/api/orders")
			.set(bearer(alice.token))
			.send({ items: Array.from({ length: 25_000 }, () => ({})), payment: card() });
		expectClientError(res, 422, "VALIDATION_ERROR");
		expect(res.body.data.length).toBeLessThanOrEqual(21);
		expect(Buffer.byteLength(res.text)).toBeLessThan(8 * 1024);
	});

	it("a body with hundreds of wrong fields answers at most 20 errors and a count of the rest", async () => {
		const items = Array.from({ length: 50 }, () => ({ productId: {}, quantity: "x" }));
		const res = await shop.http
			.post("/api/orders")
			.set(bearer(alice.token))
			.send({ items, payment: card() });
		expectClientError(res, 422, "VALIDATION_ERROR");
		expect(res.body.data.length).toBe(21);
		expect(res.body.data[20].message).toMatch(/^\d+ more errors/);
	});
});

describe("3. OPTIONS never runs an action", () => {
	it("a preflight-looking OPTIONS with a login body answers 204 with Allow, and no token", async () => {
		const res = await shop.http
			.options("/api/users/login")
			.set("Access-Control-Request-Method", "POST")
			.set("Content-Type", "application/json")
			.send(JSON.stringify({ email: alice.email, password: alice.password }));
		expect(res.status).toBe(204);
		expect(res.headers.allow).toMatch(/POST/);
		expect(res.text ?? "").not.toContain("token");
	});

	it("OPTIONS on an order's cancel leaves the order as it was", async () => {
		const { orderId } = await shop.paidOrder(alice.token);
		const res = await shop.http
			.options(`/api/orders/${orderId}/cancel`)
			.set("Access-Control-Request-Method", "POST")
			.set(bearer(alice.token));
		expect(res.status).toBe(204);
		const order = await shop.http.get(`/api/orders/${orderId}`).set(bearer(alice.token));
		expect(order.body.status).not.toBe("cancelled");
	});

	it("OPTIONS on a profile does not change it", async () => {
		await shop.http
			.options("/api/users/me")
			.set("Access-Control-Request-Method", "PATCH")
			.set(bearer(alice.token))
			.set("Content-Type", "application/json")
			.send(JSON.stringify({ name: "Changed by OPTIONS" }));
		const me = await shop.http.get("/api/users/me").set(bearer(alice.token));
		expect(me.body.name).toBe("Alice");
	});
});

describe("4. look-alike and invisible characters in emails and names", () => {
	it.each([
		["a NUL after the address", "admin@shopmesh.test\u0000"],
		["a zero-width space", "ad\u200bmin@shopmesh.test"],
		["a trailing dot", "admin@shopmesh.test."],
		["a bidi override", "admin@shopmesh\u202e.test"]
	])("refuses %s (422)", async (_what, email) => {
		expectClientError(await register(email), 422, "VALIDATION_ERROR");
	});

	it("a fullwidth form of the admin's address is the admin's address (NFKC): never a second account", async () => {
		const res = await register("ａｄｍｉｎ@shopmesh.test");
		expect([409, 422]).toContain(res.status);
		expect(typeof res.body.type).toBe("string");
	});

	it("an address differing only in case or surrounding spaces is the same account", async () => {
		const res = await register(`  ${alice.email.toUpperCase()} `);
		expectClientError(res, 409);
	});

	it.each([
		["a control character", "Eve\u0007"],
		["a zero-width joiner", "Ev\u200de"],
		["a line separator", "Eve\u2028Bcc: x@example.com"],
		["a soft hyphen", "Ev\u00ade"]
	])("refuses a name with %s, at register and on a profile", async (_what, name) => {
		expectClientError(
			await register(`name-${Date.now()}-${Math.random()}@shopmesh.test`, name),
			422,
			"VALIDATION_ERROR"
		);
		const res = await shop.http.patch("/api/users/me").set(bearer(alice.token)).send({ name });
		expectClientError(res, 422, "VALIDATION_ERROR");
	});
});

describe("5. refund ids: the system's and the clients' never meet", () => {
	it("an admin refund named like the cancel flow's does not stop the cancel refunding the rest", async () => {
		const { orderId, paymentId } = await shop.paidOrder(alice.token);
		const partial = await shop.http
			.post(`/api/payments/${paymentId}/refund`)
			.set(bearer(shop.adminToken))
			.send({ amountCents: 100, refundId: "cancel" });
		expect(partial.status).toBe(200);
		const cancel = await shop.http
			.post(`/api/orders/${orderId}/cancel`)
			.set(bearer(alice.token))
			.send({ reason: "changed my mind" });
		expect(cancel.status).toBe(200);
		const payment = await eventually(async () => {
			const res = await shop.http.get(`/api/payments/${paymentId}`).set(bearer(alice.token));
			return res.body.status === "refunded" ? res.body : null;
		}, 10_000);
		expect(payment.refundedCents).toBe(payment.capturedCents);
	});

	it("a refund id reused with another amount is a 409, not the first refund answered again", async () => {
		const { paymentId } = await shop.paidOrder(alice.token);
		const refund = (amountCents: number) =>
			shop.http
				.post(`/api/payments/${paymentId}/refund`)
				.set(bearer(shop.adminToken))
				.send({ amountCents, refundId: "goodwill-1" });
		expect((await refund(100)).status).toBe(200);
		expect((await refund(100)).status).toBe(200);
		expectClientError(await refund(200), 409);
		const payment = await shop.http.get(`/api/payments/${paymentId}`).set(bearer(alice.token));
		expect(payment.body.refundedCents).toBe(100);
	});
});

describe("6. a price the shop cannot charge", () => {
	it("a product priced 0 is refused at creation with 422", async () => {
		const res = await shop.http
			.post("/api/products")
			.set(bearer(shop.adminToken))
			.send({ sku: `FREE-${Date.now()}`, name: "Free mug", priceCents: 0, currency: "EUR" });
		expectClientError(res, 422, "VALIDATION_ERROR");
	});
});

describe("7. bodies the gateway cannot decode", () => {
	it.each(["gzip", "deflate", "br"])("a corrupt %s body is a 400 with a type", async encoding => {
		const res = await shop.http
			.post("/api/users/login")
			.set("Content-Type", "application/json")
			.set("Content-Encoding", encoding)
			.send(Buffer.from("this is not compressed at all, just bytes"));
		expectClientError(res, 400);
	});

	it("a non-JSON body on a JSON route is a 415, not silently ignored", async () => {
		const res = await shop.http
			.post("/api/users/login")
			.set("Content-Type", "text/plain")
			.send(`email=${alice.email}&password=${alice.password}`);
		expectClientError(res, 415);
	});
});

describe("8. small leaks and forever-things", () => {
	it("an Idempotency-Key is remembered for IDEMPOTENCY_KEY_TTL_MS, then a new order", async () => {
		const p = await shop.product(10, 500);
		const key = `ttl-${Date.now()}`;
		const place = () =>
			shop.http
				.post("/api/orders")
				.set(bearer(alice.token))
				.set("Idempotency-Key", key)
				.send({ items: [{ productId: p.id, quantity: 1 }], payment: card() });
		const first = await place();
		expect(first.status).toBe(201);
		const replay = await place();
		expect([replay.status, replay.body.id]).toEqual([200, first.body.id]);
		await new Promise(r => setTimeout(r, 1300));
		const later = await place();
		expect(later.status).toBe(201);
		expect(later.body.id).not.toBe(first.body.id);
	});

	it.each(["password", "12345678", "qwertyuiop"])(
		"a common password (%s) is refused at register",
		async password => {
			const res = await register(`common-${Date.now()}@shopmesh.test`, "C", password);
			expectClientError(res, 422, "VALIDATION_ERROR");
		}
	);

	it("X-Request-ID is echoed only when it is a short safe token", async () => {
		const ok = await shop.http.get("/api/products").set("X-Request-ID", "client-req.42:a");
		expect(ok.headers["x-request-id"]).toBe("client-req.42:a");
		for (const bad of ["<script>alert(1)</script>", "a".repeat(500), "two words"]) {
			const res = await shop.http.get("/api/products").set("X-Request-ID", bad);
			expect(res.headers["x-request-id"]).toBeTruthy();
			expect(res.headers["x-request-id"]).not.toBe(bad);
		}
	});

	it("a token without exp is refused", async () => {
		const token = jwt.sign({ role: "customer", pwv: 0 }, JWT_SECRET, {
			algorithm: "HS256",
			subject: alice.id,
			issuer: JWT_ISSUER,
			audience: JWT_AUDIENCE
		});
		const res = await shop.http.get("/api/orders").set(bearer(token));
		expectClientError(res, 401, "UNAUTHORIZED");
	});

	it("public probes say what an orchestrator needs, nothing about the node", async () => {
		for (const probe of ["/api/health", "/api/ready"]) {
			const res = await shop.http.get(probe);
			expect(res.status).toBe(200);
			const text = JSON.stringify(res.body);
			expect(text).not.toMatch(/nodeID|uptime|hostname|"pid"/i);
			expect(text).not.toContain(os.hostname());
			expect(text).not.toContain(String(process.pid));
		}
	});
});
