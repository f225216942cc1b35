/**
 * OWASP API3: broken object property level authorization.
 *
 * Mass assignment: fields a caller may not set (role, _id, passwordHash, status, totalCents,
 * priceCents, stock...) have no effect wherever they are sent. Excessive data exposure: no answer
 * carries a password hash, a full card number or CVC, an internal field, or another user's email.
 */
import { CARDS, bearer, card, eventually, startShop, type Shop } from "./fixtures";

let shop: Shop;
let alice: { token: string; id: string; email: string; password: string };
let bob: { token: string; id: string; email: string; password: string };

/** Every body a customer received in this file, checked at the end for what must never show. */
const customerBodies: { viewer: () => string; text: string }[] = [];
const seenBy =
	(viewer: () => string) =>
	<T extends { text: string }>(res: T): T => {
		customerBodies.push({ viewer, text: res.text });
		return res;
	};
const keepA = seenBy(() => alice.email);
const keepB = seenBy(() => bob.email);

beforeAll(async () => {
	shop = await startShop();
	alice = await shop.customer("Alice");
	bob = await shop.customer("Bob");
});
afterAll(() => shop?.stop());

describe("mass assignment has no effect", () => {
	it("registering cannot choose the role, the id, the password hash or the timestamps", async () => {
		const email = `mass-${Date.now()}@shopmesh.test`;
		const res = await shop.http.post("/api/users").send({
			email,
			password: "a-fine-password",
			name: "Mass",
			role: "admin",
			_id: "chosenid00000000",
			id: "chosenid00000000",
			passwordHash: "scrypt$1024$8$1$AAAA$AAAA",
			passwordVersion: 7,
			createdAt: "2000-01-01T00:00:00.000Z"
		});
		expect(res.status).toBe(201);
		expect(res.body.role).toBe("customer");
		expect(res.body.id).not.toBe("chosenid00000000");
		expect(res.body.createdAt).not.toBe("2000-01-01T00:00:00.000Z");

		const login = await shop.http
			.post("/api/users/login")
			.send({ email, password: "a-fine-password" });
		expect(login.status).toBe(200);
		const admin = await shop.http.get("/api/users").set(bearer(login.body.token));
		expect(admin.status).toBe(403);
	});

	it("a profile update changes name, phone and address only", async () => {
		const before = (await shop.http.get("/api/users/me").set(bearer(alice.token))).body;
		const res = keepA(
			await shop.http
				.patch("/api/users/me")
				.set(bearer(alice.token))
				.send({
					name: "Alice Renamed",
					role: "admin",
					email: "takeover@shopmesh.test",
					_id: "chosenid00000000",
					passwordHash: "scrypt$1024$8$1$AAAA$AAAA",
					passwordVersion: 99,
					createdAt: "2000-01-01T00:00:00.000Z",
					address: {
						line1: "1 Main St",
						city: "Town",
						postalCode: "1000",
						country: "be",
						role: "admin"
					}
				})
		);
		expect(res.status).toBe(200);
		expect(res.body).toMatchObject({
			id: alice.id,
			name: "Alice Renamed",
			role: "customer",
			email: alice.email,
			createdAt: before.createdAt,
			address: { line1: "1 Main St", city: "Town", postalCode: "1000", country: "BE" }
		});
		expect(res.body.address).not.toHaveProperty("role");
		// The session and the password are what they were.
		expect((await shop.http.get("/api/orders").set(bearer(alice.token))).status).toBe(200);
		const login = await shop.http
			.post("/api/users/login")
			.send({ email: alice.email, password: alice.password });
		expect(login.status).toBe(200);
	});

	it("an order's prices, total, status and owner come from the server, never the body", async () => {
		const p = await shop.product(10, 2500);
		const res = keepB(
			await shop.http
				.post("/api/orders")
				.set(bearer(alice.token))
				.send({
					items: [
						{
							productId: p.id,
							quantity: 2,
							priceCents: 1,
							unitPriceCents: 1,
							lineTotalCents: 2,
							currency: "USD"
						}
					],
					payment: card(),
					totalCents: 2,
					currency: "USD",
					status: "delivered",
					userId: bob.id,
					_id: "chosenid00000000"
				})
		);
		expect(res.status).toBe(201);
		expect(res.body).toMatchObject({
			userId: alice.id,
			status: "confirmed",
			totalCents: 5000,
			currency: "EUR"
		});
		expect(res.body.id).not.toBe("chosenid00000000");
		expect(res.body.items[0]).toMatchObject({ unitPriceCents: 2500, lineTotalCents: 5000 });

		const payments = keepB(
			await shop.http.get(`/api/payments?orderId=${res.body.id}`).set(bearer(alice.token))
		);
		expect(payments.body.rows[0]).toMatchObject({ amountCents: 5000, capturedCents: 5000 });
		const bobs = await shop.http.get("/api/orders").set(bearer(bob.token));
		expect(bobs.body.total).toBe(0);
	});

	it("cancelling cannot set another status", async () => {
		const { orderId } = await shop.paidOrder(alice.token);
		const res = keepA(
			await shop.http
				.post(`/api/orders/${orderId}/cancel`)
				.set(bearer(alice.token))
				.send({ status: "delivered", totalCents: 0, refundedCents: 0 })
		);
		expect(res.status).toBe(200);
		expect(res.body.status).toBe("cancelled");
	});

	it("a product update cannot change the stock, the id or the holds", async () => {
		const p = await shop.product(7, 1000);
		const res = await shop.http
			.patch(`/api/products/${p.id}`)
			.set(bearer(shop.adminToken))
			.send({
				name: "Renamed",
				stock: 999_999,
				_id: "chosenid00000000",
				holds: { someorder: 5 },
				createdAt: "2000-01-01T00:00:00.000Z"
			});
		expect(res.status).toBe(200);
		expect(res.body).toMatchObject({ id: p.id, name: "Renamed", stock: 7 });
		expect(res.body.createdAt).not.toBe("2000-01-01T00:00:00.000Z");
		const again = await shop.http.get(`/api/products/${p.id}`);
		expect(again.body.stock).toBe(7);
	});

	it("a new product cannot choose its id, holds or timestamps", async () => {
		const res = await shop.http
			.post("/api/products")
			.set(bearer(shop.adminToken))
			.send({
				sku: `MASS-${Date.now()}`,
				name: "Mass product",
				priceCents: 100,
				currency: "EUR",
				stock: 1,
				_id: "chosenid00000000",
				holds: { someorder: 1 },
				createdAt: "2000-01-01T00:00:00.000Z"
			});
		expect(res.status).toBe(201);
		expect(res.body.id).not.toBe("chosenid00000000");
		expect(res.body.createdAt).not.toBe("2000-01-01T00:00:00.000Z");
		expect(res.body).not.toHaveProperty("holds");
	});

	it("a refund cannot set the payment's status or amounts", async () => {
		const { paymentId } = await shop.paidOrder(alice.token);
		const res = await shop.http
			.post(`/api/payments/${paymentId}/refund`)
			.set(bearer(shop.adminToken))
			.send({ amountCents: 100, status: "captured", refundedCents: 0, capturedCents: 1e9 });
		expect(res.status).toBe(200);
		expect(res.body).toMatchObject({
			status: "partially_refunded",
			refundedCents: 100,
			capturedCents: 1500
		});
	});

	it("marking a notification read cannot change anything else", async () => {
		const rows = await eventually(async () => {
			const res = await shop.http.get("/api/notifications").set(bearer(alice.token));
			return res.body.rows?.length ? (res.body.rows as any[]) : undefined;
		});
		const res = keepA(
			await shop.http
				.post(`/api/notifications/${rows[0].id}/read`)
				.set(bearer(alice.token))
				.send({ userId: bob.id, title: "Hacked", body: "Hacked", read: false })
		);
		expect(res.status).toBe(200);
		expect(res.body).toMatchObject({ userId: alice.id, read: true, title: rows[0].title });
	});
});

describe("answers never carry fields the caller may not see", () => {
	it("no password hash or version in any user answer, also for admins", async () => {
		const answers = [
			keepB(
				await shop.http
					.post("/api/users/login")
					.send({ email: bob.email, password: bob.password })
			),
			keepB(await shop.http.get("/api/users/me").set(bearer(bob.token))),
			keepB(
				await shop.http.patch("/api/users/me").set(bearer(bob.token)).send({ name: "B" })
			),
			await shop.http.get("/api/users?pageSize=100").set(bearer(shop.adminToken))
		];
		for (const res of answers) {
			expect(res.status).toBe(200);
			expect(res.text).not.toMatch(/password|scrypt\$/i);
		}
	});

	it("no card number, CVC or processor reference in orders and payments", async () => {
		const p = await shop.product();
		const placed = keepB(
			await shop.order(bob.token, [{ productId: p.id, quantity: 1 }], card(CARDS.ok, "7319"))
		);
		expect(placed.status).toBe(201);
		expect(placed.body.payment).toEqual({ brand: "visa", last4: "4242" });
		const answers = [
			placed,
			keepB(await shop.http.get(`/api/orders/${placed.body.id}`).set(bearer(bob.token))),
			keepB(await shop.http.get("/api/orders").set(bearer(bob.token))),
			keepB(await shop.http.get("/api/payments").set(bearer(bob.token))),
			keepB(
				await shop.http.get(`/api/orders/${placed.body.id}/tracking`).set(bearer(bob.token))
			),
			await shop.http.get("/api/payments").set(bearer(shop.adminToken)),
			await shop.http.get("/api/orders").set(bearer(shop.adminToken))
		];
		for (const res of answers) {
			expect(res.text).not.toContain(CARDS.ok);
			expect(res.text).not.toContain("7319");
			expect(res.text).not.toMatch(/cvc|cardNumber|authorizationId|sim_[0-9a-f]/i);
			expect(res.text).not.toMatch(/idempotencyKey|fingerprint|pendingActions|"saga"/);
		}
	});

	it("a declined or invalid card is not echoed in the error", async () => {
		const p = await shop.product();
		for (const number of [CARDS.declined, CARDS.badLuhn]) {
			const res = keepB(
				await shop.order(
					bob.token,
					[{ productId: p.id, quantity: 1 }],
					card(number, "7319")
				)
			);
			expect(res.status).toBeGreaterThanOrEqual(400);
			expect(res.status).toBeLessThan(500);
			expect(res.text).not.toContain(number);
			expect(res.text).not.toContain("7319");
		}
		const malformed = keepB(
			await shop.order(bob.token, [{ productId: p.id, quantity: 1 }], {
				...card("4242-4242-4242-4242-4242-4242-42", "73a9")
			})
		);
		expect(malformed.status).toBe(422);
		expect(malformed.text).not.toContain("4242-4242");
		expect(malformed.text).not.toContain("73a9");
	});

	it("notifications and shipments carry no internal fields", async () => {
		await shop.paidOrder(bob.token);
		const notifications = keepB(
			await eventually(async () => {
				const res = await shop.http.get("/api/notifications").set(bearer(bob.token));
				return res.body.rows?.length ? res : undefined;
			})
		);
		expect(notifications.text).not.toMatch(/dedupeKey|emailError/);
		const shipments = keepB(await shop.http.get("/api/shipments").set(bearer(bob.token)));
		expect(shipments.body.rows.length).toBeGreaterThan(0);
		const products = keepB(await shop.http.get("/api/products"));
		expect(products.text).not.toMatch(/"holds"|"returns"/);
	});

	it("a validation error names the field without echoing the value", async () => {
		const secret = "short";
		const res = keepB(
			await shop.http
				.post("/api/users")
				.send({ email: "not-an-email-x9", password: secret, name: "x" })
		);
		expect(res.status).toBe(422);
		expect(res.text).not.toContain("not-an-email-x9");
		expect(res.text).not.toMatch(/"actual"|"short"/);
	});

	it("no customer answer in this file carried another user's email or a password", () => {
		expect(customerBodies.length).toBeGreaterThan(15);
		const emails = [alice.email, bob.email, "admin@shopmesh.test"];
		for (const { viewer, text } of customerBodies) {
			for (const email of emails) if (email !== viewer()) expect(text).not.toContain(email);
			expect(text).not.toMatch(/passwordHash|scrypt\$/);
			expect(text).not.toContain(alice.password);
			expect(text).not.toContain(bob.password);
		}
	});
});
