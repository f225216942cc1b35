/**
 * The API contract: the whole system in one process serves an OpenAPI 3.1 document that a
 * standard validator accepts, that lists every route the gateway serves and nothing else, and
 * that real answers (successes and errors, for every operation) agree with, body by body.
 */
import NotificationsService from "../../services/notifications/notifications.service";
import { ROUTES } from "../../services/api/routes";
import { DOCS_ASSETS, UI_FILES } from "../../services/api/docs";
import OpsService from "../../services/api/ops/ops.service";
import { systemDocument } from "../../scripts/openapi";
import { eventually } from "../helpers/eventually";
import { SHOP_SERVICES, bearer, startSystem, type System } from "../helpers/system";
import { lint, responseValidator, validate } from "./openapi-tools";

type Doc = {
	openapi: string;
	servers: { url: string }[];
	paths: Record<string, Record<string, any>>;
	components: Record<string, any>;
};

const CARD = { cardNumber: "4242424242424242", expMonth: 12, expYear: 2040, cvc: "123" };
const DECLINED = { ...CARD, cardNumber: "4000000000000002" };

let sys: System;
let doc: Doc;
let contract: ReturnType<typeof responseValidator>;
/** Every `METHOD /path status` a real answer was checked for. */
const checked = new Set<string>();

beforeAll(async () => {
	sys = await startSystem([...SHOP_SERVICES, OpsService as never]);
	const res = await sys.http.get("/api/openapi.json");
	expect(res.status).toBe(200);
	doc = res.body;
	contract = responseValidator(doc);
});
afterAll(() => sys?.stop());

/**
 * The answer has the expected status, the document declares that status for this operation, and
 * the body validates against the schema it declares.
 */
async function expectContract(
	request: PromiseLike<{ status: number; body: unknown; text?: string }>,
	method: string,
	path: string,
	status: number
) {
	const res = await request;
	expect([method, path, res.status, res.body]).toEqual([method, path, status, res.body]);
	expect(contract.check(path, method.toLowerCase(), res.status, res.body)).toBeNull();
	checked.add(`${method} ${path} ${status}`);
	return res.body as any;
}

describe("the document", () => {
	it("is valid OpenAPI 3.1 for @apidevtools/swagger-parser", () => {
		expect(validate(doc)).toEqual({ ok: true, openapi: "3.1.0" });
	});

	it("has consistent path parameters, unique operation ids and strict JSON Schemas", () => {
		expect(lint(doc)).toEqual([]);
	});

	it("is what `npm run openapi` writes, and the generator had nothing to warn about", () => {
		const { document, warnings } = systemDocument();
		expect(warnings).toEqual([]);
		expect(doc).toEqual(JSON.parse(JSON.stringify(document)));
	});

	it("lists every route the gateway serves, and nothing else", async () => {
		const base = doc.servers[0].url;
		expect(base).toBe("/api");
		const documented = Object.entries(doc.paths)
			.flatMap(([path, item]) =>
				Object.keys(item).map(m => `${m.toUpperCase()} ${base}${path}`)
			)
			.sort();

		// What moleculer-web actually registered.
		const served = (
			await sys.broker.call<{ methods: string; fullPath: string }[]>("api.listAliases")
		)
			.map(a => `${a.methods} ${a.fullPath.replace(/:([A-Za-z0-9_]+)/g, "{$1}")}`)
			.sort();
		expect(documented).toEqual(served);

		// ...which is the route table plus the gateway's own probes and documentation.
		const expected = [
			...Object.keys(ROUTES),
			"GET /health",
			"GET /ready",
			"GET /openapi.json",
			"GET /docs",
			"GET /docs/:asset",
			"GET /ops",
			"GET /ops/assets/:asset",
			"GET /ops/snapshot",
			"GET /ops/stream"
		]
			.map(r => {
				const [m, p] = r.split(" ");
				return `${m} ${base}${p.replace(/:([A-Za-z0-9_]+)/g, "{$1}")}`;
			})
			.sort();
		expect(documented).toEqual(expected);
	});

	it("declares each action's auth and roles as the services do", () => {
		const op = (path: string, method: string) => doc.paths[path][method];
		expect(op("/users", "get").security).toEqual([{ bearerAuth: [] }]);
		expect(op("/users", "get")["x-roles"]).toEqual(["admin"]);
		expect(op("/users", "post").security).toBeUndefined();
		expect(op("/products", "get").security).toEqual([{}, { bearerAuth: [] }]);
		expect(op("/orders", "post").security).toEqual([{ bearerAuth: [] }]);
		expect(op("/orders", "post").responses).not.toHaveProperty("403");
		expect(op("/payments/{id}/refund", "post").responses).toHaveProperty("403");
	});
});

describe("real answers match the declared responses", () => {
	let customer: { token: string; id: string; email: string; password: string };
	let admin: { token: string };
	let product: { id: string; sku: string };
	let order: { id: string };

	beforeAll(async () => {
		admin = await sys.admin();
	});

	it("users: register, login, profile, password, listing", async () => {
		const email = `contract-${Date.now()}@shopmesh.test`;
		const user = await expectContract(
			sys.http.post("/api/users").send({ email, password: "contract-pass-1", name: "Con" }),
			"POST",
			"/users",
			201
		);
		await expectContract(
			sys.http.post("/api/users").send({ email, password: "contract-pass-1", name: "Con" }),
			"POST",
			"/users",
			409
		);
		await expectContract(
			sys.http.post("/api/users").send({ email: "nope", name: "" }),
			"POST",
			"/users",
			422
		);
		await expectContract(
			sys.http.post("/api/users").set("Content-Type", "application/json").send('{"email":'),
			"POST",
			"/users",
			400
		);
		await expectContract(
			sys.http
				.post("/api/users")
				.send({ email, password: "contract-pass-1", name: "x".repeat(200_000) }),
			"POST",
			"/users",
			413
		);
		await expectContract(
			sys.http
				.post("/api/users")
				.set("Content-Type", "application/json; charset=latin-1")
				.send(JSON.stringify({ email, password: "contract-pass-1", name: "Con" })),
			"POST",
			"/users",
			415
		);

		const login = await expectContract(
			sys.http.post("/api/users/login").send({ email, password: "contract-pass-1" }),
			"POST",
			"/users/login",
			200
		);
		expect(login.user.id).toBe(user.id);
		await expectContract(
			sys.http.post("/api/users/login").send({ email, password: "wrong-password" }),
			"POST",
			"/users/login",
			401
		);
		await expectContract(
			sys.http.post("/api/users/login").send({ email }),
			"POST",
			"/users/login",
			422
		);

		const token = login.token;
		await expectContract(
			sys.http.get("/api/users/me").set(bearer(token)),
			"GET",
			"/users/me",
			200
		);
		await expectContract(sys.http.get("/api/users/me"), "GET", "/users/me", 401);
		await expectContract(
			sys.http.get("/api/users/me").set(bearer("not.a.token")),
			"GET",
			"/users/me",
			401
		);
		const changed = await expectContract(
			sys.http
				.patch("/api/users/me")
				.set(bearer(token))
				.send({
					name: "Con Tract",
					phone: "+49 30 123456",
					address: {
						line1: "Main St 1",
						city: "Berlin",
						postalCode: "10115",
						country: "de"
					}
				}),
			"PATCH",
			"/users/me",
			200
		);
		expect(changed.address.country).toBe("DE");
		await expectContract(
			sys.http.patch("/api/users/me").set(bearer(token)).send({ phone: "call me" }),
			"PATCH",
			"/users/me",
			422
		);
		await expectContract(sys.http.patch("/api/users/me").send({}), "PATCH", "/users/me", 401);

		await expectContract(
			sys.http
				.post("/api/users/me/password")
				.set(bearer(token))
				.send({ currentPassword: "wrong-password", newPassword: "contract-pass-2" }),
			"POST",
			"/users/me/password",
			401
		);
		await expectContract(
			sys.http
				.post("/api/users/me/password")
				.set(bearer(token))
				.send({ currentPassword: "contract-pass-1", newPassword: "short" }),
			"POST",
			"/users/me/password",
			422
		);
		const renewed = await expectContract(
			sys.http
				.post("/api/users/me/password")
				.set(bearer(token))
				.send({ currentPassword: "contract-pass-1", newPassword: "contract-pass-2" }),
			"POST",
			"/users/me/password",
			200
		);
		customer = { token: renewed.token, id: user.id, email, password: "contract-pass-2" };

		await expectContract(
			sys.http.get("/api/users?pageSize=2").set(bearer(admin.token)),
			"GET",
			"/users",
			200
		);
		await expectContract(
			sys.http.get("/api/users").set(bearer(customer.token)),
			"GET",
			"/users",
			403
		);
		await expectContract(
			sys.http.get("/api/users?pageSize=101").set(bearer(admin.token)),
			"GET",
			"/users",
			422
		);
	});

	it("products: catalog, create, update, stock", async () => {
		const sku = `CONTRACT-${Date.now()}`;
		product = await expectContract(
			sys.http
				.post("/api/products")
				.set(bearer(admin.token))
				.send({ sku, name: "Contract mug", priceCents: 1200, currency: "EUR", stock: 5 }),
			"POST",
			"/products",
			201
		);
		await expectContract(
			sys.http
				.post("/api/products")
				.set(bearer(admin.token))
				.send({ sku, name: "Again", priceCents: 1, currency: "EUR" }),
			"POST",
			"/products",
			409
		);
		await expectContract(
			sys.http
				.post("/api/products")
				.set(bearer(customer.token))
				.send({ sku: "X", name: "X", priceCents: 1, currency: "EUR" }),
			"POST",
			"/products",
			403
		);
		await expectContract(
			sys.http
				.post("/api/products")
				.set(bearer(admin.token))
				.send({ sku: "bad sku!", name: "X", priceCents: -1, currency: "euro" }),
			"POST",
			"/products",
			422
		);

		await expectContract(
			sys.http.get(`/api/products?pageSize=5&q=${encodeURIComponent("Contract")}`),
			"GET",
			"/products",
			200
		);
		await expectContract(
			sys.http.get("/api/products?includeInactive=true").set(bearer(admin.token)),
			"GET",
			"/products",
			200
		);
		await expectContract(sys.http.get("/api/products?page=0"), "GET", "/products", 422);
		await expectContract(
			sys.http.get(`/api/products/${product.id}`),
			"GET",
			"/products/{id}",
			200
		);
		await expectContract(
			sys.http.get("/api/products/doesnotexist0000"),
			"GET",
			"/products/{id}",
			404
		);
		await expectContract(
			sys.http.get(`/api/products/${encodeURIComponent("a.b")}`),
			"GET",
			"/products/{id}",
			422
		);

		await expectContract(
			sys.http
				.patch(`/api/products/${product.id}`)
				.set(bearer(admin.token))
				.send({ description: "Holds coffee." }),
			"PATCH",
			"/products/{id}",
			200
		);
		await expectContract(
			sys.http
				.patch("/api/products/doesnotexist0000")
				.set(bearer(admin.token))
				.send({ name: "Y" }),
			"PATCH",
			"/products/{id}",
			404
		);
		await expectContract(
			sys.http.patch(`/api/products/${product.id}`).send({ name: "Y" }),
			"PATCH",
			"/products/{id}",
			401
		);

		await expectContract(
			sys.http
				.post(`/api/products/${product.id}/stock`)
				.set(bearer(admin.token))
				.send({ delta: 5 }),
			"POST",
			"/products/{id}/stock",
			200
		);
		await expectContract(
			sys.http
				.post(`/api/products/${product.id}/stock`)
				.set(bearer(admin.token))
				.send({ delta: -1000 }),
			"POST",
			"/products/{id}/stock",
			409
		);
		await expectContract(
			sys.http
				.post(`/api/products/${product.id}/stock`)
				.set(bearer(admin.token))
				.send({ delta: 0 }),
			"POST",
			"/products/{id}/stock",
			422
		);
	});

	it("orders: place, replay, reject, list, get, track, cancel", async () => {
		const items = [{ productId: product.id, quantity: 1 }];
		const place = (body: unknown, key?: string) => {
			const req = sys.http.post("/api/orders").set(bearer(customer.token));
			if (key) req.set("Idempotency-Key", key);
			return req.send(body as object);
		};
		order = await expectContract(
			place({ items, payment: CARD }, "contract-1"),
			"POST",
			"/orders",
			201
		);
		await expectContract(place({ items, payment: CARD }, "contract-1"), "POST", "/orders", 200);
		await expectContract(
			place({ items: [{ productId: product.id, quantity: 2 }], payment: CARD }, "contract-1"),
			"POST",
			"/orders",
			409
		);
		await expectContract(
			place({ items: [{ productId: product.id, quantity: 999 }], payment: CARD }),
			"POST",
			"/orders",
			409
		);
		await expectContract(place({ items, payment: DECLINED }), "POST", "/orders", 402);
		await expectContract(
			place({ items, payment: { ...CARD, cardNumber: "4242424242424241" } }),
			"POST",
			"/orders",
			422
		);
		await expectContract(
			place({ items: [{ productId: "doesnotexist0000", quantity: 1 }], payment: CARD }),
			"POST",
			"/orders",
			422
		);
		await expectContract(place({ items: [], payment: CARD }), "POST", "/orders", 422);
		await expectContract(
			sys.http.post("/api/orders").send({ items, payment: CARD }),
			"POST",
			"/orders",
			401
		);

		await expectContract(
			sys.http.get("/api/orders").set(bearer(customer.token)),
			"GET",
			"/orders",
			200
		);
		await expectContract(
			sys.http.get("/api/orders?status=rejected").set(bearer(admin.token)),
			"GET",
			"/orders",
			200
		);
		await expectContract(
			sys.http.get("/api/orders?status=lost").set(bearer(admin.token)),
			"GET",
			"/orders",
			422
		);
		await expectContract(
			sys.http.get(`/api/orders/${order.id}`).set(bearer(customer.token)),
			"GET",
			"/orders/{id}",
			200
		);
		await expectContract(
			sys.http.get("/api/orders/doesnotexist0000").set(bearer(customer.token)),
			"GET",
			"/orders/{id}",
			404
		);

		const tracked = await eventually(async () => {
			const res = await sys.http
				.get(`/api/orders/${order.id}/tracking`)
				.set(bearer(customer.token));
			return res.body.shipment ? res : null;
		}, 10_000);
		await expectContract(Promise.resolve(tracked), "GET", "/orders/{id}/tracking", 200);
		await expectContract(
			sys.http.get("/api/orders/doesnotexist0000/tracking").set(bearer(customer.token)),
			"GET",
			"/orders/{id}/tracking",
			404
		);

		const second = await expectContract(
			place({ items, payment: CARD }),
			"POST",
			"/orders",
			201
		);
		await expectContract(
			sys.http
				.post(`/api/orders/${second.id}/cancel`)
				.set(bearer(customer.token))
				.send({ reason: "changed my mind" }),
			"POST",
			"/orders/{id}/cancel",
			200
		);
		await expectContract(
			sys.http.post(`/api/orders/${second.id}/cancel`).set(bearer(customer.token)),
			"POST",
			"/orders/{id}/cancel",
			409
		);
		await expectContract(
			sys.http.post("/api/orders/doesnotexist0000/cancel").set(bearer(customer.token)),
			"POST",
			"/orders/{id}/cancel",
			404
		);
	});

	it("shipments: list, get, ship, deliver", async () => {
		const list = await expectContract(
			sys.http.get(`/api/shipments?orderId=${order.id}`).set(bearer(customer.token)),
			"GET",
			"/shipments",
			200
		);
		const shipment = list.rows[0];
		expect(shipment.orderId).toBe(order.id);
		await expectContract(
			sys.http.get("/api/shipments?status=lost").set(bearer(admin.token)),
			"GET",
			"/shipments",
			422
		);
		await expectContract(
			sys.http.get(`/api/shipments/${shipment.id}`).set(bearer(customer.token)),
			"GET",
			"/shipments/{id}",
			200
		);
		const stranger = await sys.customer();
		await expectContract(
			sys.http.get(`/api/shipments/${shipment.id}`).set(bearer(stranger.token)),
			"GET",
			"/shipments/{id}",
			404
		);
		await expectContract(
			sys.http.post(`/api/shipments/${shipment.id}/deliver`).set(bearer(admin.token)),
			"POST",
			"/shipments/{id}/deliver",
			409
		);
		await expectContract(
			sys.http.post(`/api/shipments/${shipment.id}/ship`).set(bearer(customer.token)),
			"POST",
			"/shipments/{id}/ship",
			403
		);
		await expectContract(
			sys.http.post(`/api/shipments/${shipment.id}/ship`).set(bearer(admin.token)),
			"POST",
			"/shipments/{id}/ship",
			200
		);
		await expectContract(
			sys.http.post(`/api/shipments/${shipment.id}/ship`).set(bearer(admin.token)),
			"POST",
			"/shipments/{id}/ship",
			409
		);
		await expectContract(
			sys.http.post("/api/shipments/doesnotexist0000/ship").set(bearer(admin.token)),
			"POST",
			"/shipments/{id}/ship",
			404
		);
		await expectContract(
			sys.http.post(`/api/shipments/${shipment.id}/deliver`).set(bearer(admin.token)),
			"POST",
			"/shipments/{id}/deliver",
			200
		);
		await eventually(async () => {
			const res = await sys.http.get(`/api/orders/${order.id}`).set(bearer(customer.token));
			return res.body.status === "delivered";
		}, 10_000);
		await expectContract(
			sys.http.post(`/api/orders/${order.id}/cancel`).set(bearer(customer.token)),
			"POST",
			"/orders/{id}/cancel",
			409
		);
	});

	it("payments: list, get, refund", async () => {
		const list = await expectContract(
			sys.http.get(`/api/payments?orderId=${order.id}`).set(bearer(customer.token)),
			"GET",
			"/payments",
			200
		);
		const payment = list.rows[0];
		await expectContract(
			sys.http.get("/api/payments").set(bearer(admin.token)),
			"GET",
			"/payments",
			200
		);
		await expectContract(sys.http.get("/api/payments"), "GET", "/payments", 401);
		await expectContract(
			sys.http.get(`/api/payments/${payment.id}`).set(bearer(customer.token)),
			"GET",
			"/payments/{id}",
			200
		);
		await expectContract(
			sys.http.get("/api/payments/doesnotexist0000").set(bearer(customer.token)),
			"GET",
			"/payments/{id}",
			404
		);
		await expectContract(
			sys.http
				.post(`/api/payments/${payment.id}/refund`)
				.set(bearer(admin.token))
				.send({ amountCents: 100, refundId: "contract-partial" }),
			"POST",
			"/payments/{id}/refund",
			200
		);
		await expectContract(
			sys.http
				.post(`/api/payments/${payment.id}/refund`)
				.set(bearer(admin.token))
				.send({ amountCents: 1_000_000 }),
			"POST",
			"/payments/{id}/refund",
			409
		);
		await expectContract(
			sys.http.post(`/api/payments/${payment.id}/refund`).set(bearer(customer.token)),
			"POST",
			"/payments/{id}/refund",
			403
		);
		await expectContract(
			sys.http.post("/api/payments/doesnotexist0000/refund").set(bearer(admin.token)),
			"POST",
			"/payments/{id}/refund",
			404
		);
	});

	it("notifications: inbox and mark read", async () => {
		const inbox = await eventually(async () => {
			const res = await sys.http.get("/api/notifications").set(bearer(customer.token));
			return res.body.rows?.length > 0 ? res : null;
		}, 10_000);
		await expectContract(Promise.resolve(inbox), "GET", "/notifications", 200);
		await expectContract(
			sys.http.get("/api/notifications?unread=true&pageSize=1").set(bearer(customer.token)),
			"GET",
			"/notifications",
			200
		);
		const id = inbox.body.rows[0].id;
		await expectContract(
			sys.http.post(`/api/notifications/${id}/read`).set(bearer(customer.token)),
			"POST",
			"/notifications/{id}/read",
			200
		);
		await expectContract(
			sys.http.post("/api/notifications/doesnotexist0000/read").set(bearer(customer.token)),
			"POST",
			"/notifications/{id}/read",
			404
		);
	});

	it("a service that is down: 503 SERVICE_UNAVAILABLE", async () => {
		await sys.broker.destroyService(sys.broker.getLocalService("notifications")!);
		try {
			await expectContract(
				sys.http.get("/api/notifications").set(bearer(customer.token)),
				"GET",
				"/notifications",
				503
			);
		} finally {
			sys.broker.createService(NotificationsService as any);
			await sys.broker.waitForServices("notifications");
		}
	});

	it("too many failed logins: 429 RATE_LIMITED with retryAfterSec", async () => {
		const email = `throttled-${Date.now()}@shopmesh.test`;
		await sys.http.post("/api/users").send({ email, password: "right-password-1", name: "T" });
		let status = 0;
		for (let i = 0; i < 8 && status !== 429; i++) {
			const res = await sys.http
				.post("/api/users/login")
				.send({ email, password: "wrong-1" });
			status = res.status;
			expect(contract.check("/users/login", "post", res.status, res.body)).toBeNull();
			if (status === 429) {
				expect(Number(res.headers["retry-after"])).toBeGreaterThan(0);
				checked.add(`POST /users/login 429`);
			}
		}
		expect(status).toBe(429);
	});

	it("the gateway's own routes", async () => {
		await expectContract(sys.http.get("/api/health"), "GET", "/health", 200);
		await expectContract(sys.http.get("/api/ready"), "GET", "/ready", 200);
		await expectContract(sys.http.get("/api/openapi.json"), "GET", "/openapi.json", 200);
		await expectContract(sys.http.get("/api/docs/nothing.js"), "GET", "/docs/{asset}", 404);
		const admin = await sys.admin();
		await expectContract(
			sys.http.get("/api/ops/snapshot").set(bearer(admin.token)),
			"GET",
			"/ops/snapshot",
			200
		);
		await expectContract(sys.http.get("/api/ops/snapshot"), "GET", "/ops/snapshot", 401);
		await expectContract(sys.http.get("/api/ops/stream"), "GET", "/ops/stream", 401);
		await expectContract(
			sys.http.get("/api/ops/assets/x.js"),
			"GET",
			"/ops/assets/{asset}",
			404
		);
	});

	it("every operation was seen answering with success", () => {
		// The HTML pages, their files and the event stream are not JSON (checked elsewhere).
		const notJson = ["/docs", "/docs/{asset}", "/ops", "/ops/assets/{asset}", "/ops/stream"];
		const missing = Object.entries(doc.paths)
			.filter(([path]) => !notJson.includes(path))
			.flatMap(([path, item]) =>
				Object.keys(item)
					.map(m => `${m.toUpperCase()} ${path}`)
					.filter(op => ![...checked].some(c => c.startsWith(`${op} 2`)))
			);
		expect(missing).toEqual([]);
	});
});

describe("GET /api/docs", () => {
	it("is an HTML page that loads only assets this gateway serves", async () => {
		const res = await sys.http.get("/api/docs");
		expect(res.status).toBe(200);
		expect(res.headers["content-type"]).toMatch(/^text\/html/);
		const csp = res.headers["content-security-policy"];
		expect(csp).toContain("script-src 'self'");
		expect(csp).not.toContain("unsafe");
		expect(csp).not.toMatch(/https?:/);

		const urls = [...res.text.matchAll(/(?:src|href)="([^"]+)"/g)].map(m => m[1]);
		expect(urls.length).toBeGreaterThanOrEqual(3);
		for (const url of urls) expect(url).toMatch(/^\/api\/docs\/[\w.-]+$/);
		expect(urls.map(u => u.split("/").pop()).sort()).toEqual([...DOCS_ASSETS].sort());

		const declared = doc.paths["/docs/{asset}"].get.parameters[0].schema.enum;
		for (const url of urls) {
			const asset = await sys.http.get(url).buffer(true);
			const file = url.split("/").pop()!;
			expect([url, asset.status]).toEqual([url, 200]);
			expect(declared).toContain(file);
			expect(Buffer.byteLength(asset.text ?? "") || asset.body.length).toBeGreaterThan(0);
			if (UI_FILES[file]) expect(asset.headers["content-type"]).toBe(UI_FILES[file]);
		}
		const init = await sys.http.get("/api/docs/init.js");
		expect(init.text).toContain('"/api/openapi.json"');
		expect(init.text).not.toMatch(/https?:\/\//);
	});

	it("keeps the strict policy on every other answer", async () => {
		const res = await sys.http.get("/api/health");
		expect(res.headers["content-security-policy"]).toBe(
			"default-src 'none'; frame-ancestors 'none'"
		);
	});
});
