/**
 * Injection (OWASP API8:2019): query operators and odd ids never reach a database.
 *
 * Every action declares its params; an object where a string, number, boolean or id belongs is
 * refused with 422 by the validator before the handler runs, and unknown top-level keys (where
 * an operator like `$set` or `$where` could hide) are dropped or ignored. Text search treats its
 * input literally.
 */
import { bearer, card, startShop, type Shop } from "./fixtures";

let shop: Shop;
let alice: { token: string; id: string; email: string; password: string };
let order: { orderId: string; paymentId: string; shipmentId: string };
let product: { id: string };

beforeAll(async () => {
	shop = await startShop();
	alice = await shop.customer("Alice");
	order = await shop.paidOrder(alice.token);
	product = await shop.product(10, 1000);
});
afterAll(() => shop?.stop());

function expect422(res: { status: number; body: any }, field?: string) {
	expect(res.status).toBe(422);
	expect(res.body.type).toBe("VALIDATION_ERROR");
	if (field) expect(res.body.data.map((d: { field: string }) => d.field)).toContain(field);
}

const OPERATORS = [
	{ $gt: "" },
	{ $ne: null },
	{ $regex: ".*" },
	{ $where: "sleep(1000) || true" },
	{ $exists: true },
	{ $in: ["a", "b"] }
];

describe("operators in JSON bodies are refused by validation", () => {
	it.each(OPERATORS)("login with %j as email or password", async op => {
		expect422(
			await shop.http.post("/api/users/login").send({ email: op, password: "whatever-1" }),
			"email"
		);
		expect422(
			await shop.http.post("/api/users/login").send({ email: alice.email, password: op }),
			"password"
		);
	});

	it.each(OPERATORS)("register, profile and password change with %j", async op => {
		expect422(
			await shop.http
				.post("/api/users")
				.send({ email: op, password: "long-enough", name: "x" }),
			"email"
		);
		expect422(
			await shop.http.patch("/api/users/me").set(bearer(alice.token)).send({ name: op }),
			"name"
		);
		expect422(
			await shop.http
				.post("/api/users/me/password")
				.set(bearer(alice.token))
				.send({ currentPassword: op, newPassword: "long-enough-2" }),
			"currentPassword"
		);
	});

	it.each(OPERATORS)("orders with %j as product id, quantity or card", async op => {
		const place = (items: unknown, payment: unknown = card()) =>
			shop.http.post("/api/orders").set(bearer(alice.token)).send({ items, payment });
		expect422(await place([{ productId: op, quantity: 1 }]), "items[0].productId");
		expect422(await place([{ productId: product.id, quantity: op }]), "items[0].quantity");
		expect422(
			await place([{ productId: product.id, quantity: 1 }], { ...card(), cardNumber: op }),
			"payment.cardNumber"
		);
		expect422(await place(op));
	});

	it.each(OPERATORS)("admin bodies with %j", async op => {
		const admin = bearer(shop.adminToken);
		expect422(
			await shop.http.patch(`/api/products/${product.id}`).set(admin).send({ name: op }),
			"name"
		);
		expect422(
			await shop.http
				.post(`/api/products/${product.id}/stock`)
				.set(admin)
				.send({ delta: op }),
			"delta"
		);
		expect422(
			await shop.http
				.post(`/api/payments/${order.paymentId}/refund`)
				.set(admin)
				.send({ amountCents: op }),
			"amountCents"
		);
	});

	it("top-level operators in an update body do nothing", async () => {
		const res = await shop.http
			.patch("/api/users/me")
			.set(bearer(alice.token))
			.send({
				$set: { role: "admin", email: "owned@shopmesh.test" },
				$where: "true",
				$unset: { passwordHash: 1 },
				name: "Alice"
			});
		expect(res.status).toBe(200);
		expect(res.body).toMatchObject({ role: "customer", email: alice.email, name: "Alice" });
		const login = await shop.http
			.post("/api/users/login")
			.send({ email: alice.email, password: alice.password });
		expect(login.status).toBe(200);
		expect((await shop.http.get("/api/users").set(bearer(alice.token))).status).toBe(403);

		const stock = await shop.http
			.patch(`/api/products/${product.id}`)
			.set(bearer(shop.adminToken))
			.send({ $inc: { stock: 1000 }, $set: { stock: 1000 }, name: "Same" });
		expect(stock.status).toBe(200);
		expect(stock.body.stock).toBe(10);
	});
});

describe("operators in query strings are refused by validation", () => {
	const QUERIES: [url: string, field: string, admin: boolean][] = [
		["/api/products?q[$regex]=.*", "q", false],
		["/api/products?q[$where]=sleep(1000)", "q", false],
		["/api/products?q[]=a&q[]=b", "q", false],
		["/api/products?page[$gt]=0", "page", false],
		["/api/products?pageSize[$ne]=1", "pageSize", false],
		["/api/products?includeInactive[$ne]=false", "includeInactive", false],
		["/api/orders?status[$ne]=rejected", "status", false],
		["/api/orders?status=$where", "status", false],
		["/api/orders?userId[$ne]=x", "userId", true],
		["/api/orders?userId=a%22%20%7C%7C%20%221", "userId", true],
		["/api/payments?orderId[$exists]=true", "orderId", false],
		["/api/payments?orderId[$regex]=.", "orderId", true],
		["/api/notifications?unread[$ne]=true", "unread", false],
		["/api/shipments?status[$in][]=preparing", "status", false],
		["/api/shipments?orderId[$gt]=", "orderId", true],
		["/api/users?page[$gt]=0", "page", true]
	];

	it.each(QUERIES)("%s", async (url, field, admin) => {
		const res = await shop.http.get(url).set(bearer(admin ? shop.adminToken : alice.token));
		expect422(res, field);
	});

	it("text search is literal: regex syntax matches itself, not everything", async () => {
		const all = await shop.http.get("/api/products?pageSize=100");
		expect(all.body.total).toBeGreaterThan(0);
		for (const q of [".*", ".", "^", "[a-z]", "(a+)+$", "\\w"]) {
			const res = await shop.http.get(`/api/products?q=${encodeURIComponent(q)}`);
			expect(res.status).toBe(200);
			expect(res.body.total).toBe(0);
		}
	});
});

describe("ids are validated", () => {
	const BAD_IDS = [
		'{"$gt":""}',
		"$where",
		"a b",
		"a.b",
		"a%00b",
		"a'b",
		'a"b',
		"a;b",
		"..%2F..%2Fusers",
		"%7B%22%24ne%22%3Anull%7D",
		"x".repeat(65)
	];
	const ROUTES = [
		(id: string) => `/api/orders/${id}`,
		(id: string) => `/api/orders/${id}/tracking`,
		(id: string) => `/api/payments/${id}`,
		(id: string) => `/api/shipments/${id}`,
		(id: string) => `/api/products/${id}`
	];

	it.each(BAD_IDS)("%s is refused with 422 on every route with an id", async raw => {
		const id = raw.includes("%") ? raw : encodeURIComponent(raw);
		for (const route of ROUTES) {
			const res = await shop.http.get(route(id)).set(bearer(alice.token));
			expect(`${route(id)} ${res.status}`).toBe(`${route(id)} 422`);
			expect(res.body.data[0].field).toBe("id");
		}
		const cancel = await shop.http.post(`/api/orders/${id}/cancel`).set(bearer(alice.token));
		expect422(cancel, "id");
		const read = await shop.http.post(`/api/notifications/${id}/read`).set(bearer(alice.token));
		expect422(read, "id");
	});

	it("the order the tests hold still exists and is untouched", async () => {
		const res = await shop.http.get(`/api/orders/${order.orderId}`).set(bearer(alice.token));
		expect(res.body.status).toBe("confirmed");
	});
});
