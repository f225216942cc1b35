/**
 * OWASP API5: broken function level authorization.
 *
 * Every admin route refuses anonymous callers (401) and customers (403) before anything happens;
 * every customer route refuses anonymous callers. Internal actions (reservations, payment
 * capture/void/refund, recovery sweeps, seeding, moleculer's own $node actions, the gateway's
 * own actions) have no route at all: whatever path, method or role, they answer 404.
 */
import { OPS_ACTION } from "../../services/api/ops-console";
import { ROUTES } from "../../services/api/routes";
import { bearer, card, startShop, type Shop } from "./fixtures";

let shop: Shop;
let alice: { token: string; id: string };
type PaidOrder = { orderId: string; paymentId: string; shipmentId: string };
/** Customer routes and internal actions are tried on `order`; admin routes change `spare`. */
let order: PaidOrder;
let spare: PaidOrder;
let productId: string;

beforeAll(async () => {
	// Without the per-client rate limit: the internal-action sweep sends well over a thousand
	// requests, which must all be answered by the router, not by the limiter.
	shop = await startShop({ RATE_LIMIT_MAX: "0" });
	alice = await shop.customer("Alice");
	order = await shop.paidOrder(alice.token);
	spare = await shop.paidOrder(alice.token);
	productId = (await shop.product(10, 1000)).id;
});
afterAll(() => shop?.stop());

type Method = "get" | "post" | "patch";
interface Call {
	method: Method;
	path: () => string;
	body?: () => Record<string, unknown>;
}

const ADMIN_ROUTES: Record<string, Call> = {
	"GET /api/users": { method: "get", path: () => "/api/users" },
	"POST /api/products": {
		method: "post",
		path: () => "/api/products",
		body: () => ({
			sku: `ADM-${Date.now()}`,
			name: "Admin only",
			priceCents: 1,
			currency: "EUR"
		})
	},
	"PATCH /api/products/:id": {
		method: "patch",
		path: () => `/api/products/${productId}`,
		body: () => ({ priceCents: 1 })
	},
	"POST /api/products/:id/stock": {
		method: "post",
		path: () => `/api/products/${productId}/stock`,
		body: () => ({ delta: 1000 })
	},
	"POST /api/shipments/:id/ship": {
		method: "post",
		path: () => `/api/shipments/${spare.shipmentId}/ship`
	},
	"POST /api/shipments/:id/deliver": {
		method: "post",
		path: () => `/api/shipments/${spare.shipmentId}/deliver`
	},
	"POST /api/payments/:id/refund": {
		method: "post",
		path: () => `/api/payments/${spare.paymentId}/refund`,
		body: () => ({ amountCents: 100 })
	}
};

const CUSTOMER_ROUTES: Record<string, Call> = {
	"GET /api/users/me": { method: "get", path: () => "/api/users/me" },
	"PATCH /api/users/me": {
		method: "patch",
		path: () => "/api/users/me",
		body: () => ({ name: "X" })
	},
	"POST /api/users/me/password": {
		method: "post",
		path: () => "/api/users/me/password",
		body: () => ({ currentPassword: "whatever-1", newPassword: "whatever-2" })
	},
	"GET /api/orders": { method: "get", path: () => "/api/orders" },
	"POST /api/orders": {
		method: "post",
		path: () => "/api/orders",
		body: () => ({ items: [{ productId, quantity: 1 }], payment: card() })
	},
	"GET /api/orders/:id": { method: "get", path: () => `/api/orders/${order.orderId}` },
	"POST /api/orders/:id/cancel": {
		method: "post",
		path: () => `/api/orders/${order.orderId}/cancel`
	},
	"GET /api/orders/:id/tracking": {
		method: "get",
		path: () => `/api/orders/${order.orderId}/tracking`
	},
	"GET /api/payments": { method: "get", path: () => "/api/payments" },
	"GET /api/payments/:id": { method: "get", path: () => `/api/payments/${order.paymentId}` },
	"GET /api/shipments": { method: "get", path: () => "/api/shipments" },
	"GET /api/shipments/:id": {
		method: "get",
		path: () => `/api/shipments/${order.shipmentId}`
	},
	"GET /api/notifications": { method: "get", path: () => "/api/notifications" },
	"POST /api/notifications/:id/read": {
		method: "post",
		path: () => "/api/notifications/AAAAAAAAAAAAAAAA/read"
	}
};

const PUBLIC_ROUTES = [
	"POST /api/users",
	"POST /api/users/login",
	"GET /api/products",
	"GET /api/products/:id"
];

function call({ method, path, body }: Call, token?: string) {
	const req = shop.http[method](path());
	if (token) req.set(bearer(token));
	return req.send(body?.() ?? {});
}

it("the tables above cover every route of the gateway", () => {
	const covered = [
		...Object.keys(ADMIN_ROUTES),
		...Object.keys(CUSTOMER_ROUTES),
		...PUBLIC_ROUTES
	];
	const routes = Object.keys(ROUTES).map(r => r.replace(" /", " /api/"));
	expect([...covered].sort()).toEqual([...routes].sort());
});

describe.each(Object.entries(ADMIN_ROUTES))("admin route %s", (_name, route) => {
	it("refuses anonymous callers with 401", async () => {
		const res = await call(route);
		expect(res.status).toBe(401);
		expect(res.body.type).toBe("UNAUTHORIZED");
	});

	it("refuses customers with 403", async () => {
		const res = await call(route, alice.token);
		expect(res.status).toBe(403);
		expect(res.body).toMatchObject({ code: 403, type: "FORBIDDEN" });
	});

	it("lets an admin past the role check", async () => {
		const res = await call(route, shop.adminToken);
		expect([401, 403]).not.toContain(res.status);
		expect(res.status).toBeLessThan(500);
	});
});

describe("refused admin calls changed nothing", () => {
	it("stock, price, shipment and payment are as before the customer's attempts", async () => {
		const p = await shop.product(10, 1000);
		const { orderId, paymentId, shipmentId } = await shop.paidOrder(alice.token);
		for (const [method, url, body] of [
			["post", `/api/products/${p.id}/stock`, { delta: 500 }],
			["patch", `/api/products/${p.id}`, { priceCents: 1, active: false }],
			["post", `/api/shipments/${shipmentId}/ship`, {}],
			["post", `/api/payments/${paymentId}/refund`, {}]
		] as const)
			expect((await shop.http[method](url).set(bearer(alice.token)).send(body)).status).toBe(
				403
			);
		const product = await shop.http.get(`/api/products/${p.id}`);
		expect(product.body).toMatchObject({ stock: 10, priceCents: 1000, active: true });
		const shipment = await shop.http
			.get(`/api/shipments/${shipmentId}`)
			.set(bearer(alice.token));
		expect(shipment.body.status).toBe("preparing");
		const payment = await shop.http.get(`/api/payments/${paymentId}`).set(bearer(alice.token));
		expect(payment.body).toMatchObject({ status: "captured", refundedCents: 0 });
		const o = await shop.http.get(`/api/orders/${orderId}`).set(bearer(alice.token));
		expect(o.body.status).toBe("confirmed");
	});

	it("admin-only query options are ignored for customers", async () => {
		const p = await shop.product(5, 1000);
		await shop.http
			.patch(`/api/products/${p.id}`)
			.set(bearer(shop.adminToken))
			.send({ active: false });
		const list = await shop.http
			.get("/api/products?includeInactive=true&pageSize=100")
			.set(bearer(alice.token));
		expect(list.body.rows.map((r: { id: string }) => r.id)).not.toContain(p.id);
		const one = await shop.http.get(`/api/products/${p.id}`).set(bearer(alice.token));
		expect(one.status).toBe(404);
		const asAdmin = await shop.http.get(`/api/products/${p.id}`).set(bearer(shop.adminToken));
		expect(asAdmin.status).toBe(200);
	});
});

describe.each(Object.entries(CUSTOMER_ROUTES))("customer route %s", (_name, route) => {
	it("refuses anonymous callers with 401", async () => {
		const res = await call(route);
		expect(res.status).toBe(401);
		expect(res.body.type).toBe("UNAUTHORIZED");
		expect(res.headers["www-authenticate"]).toMatch(/^Bearer/);
	});
});

describe("internal actions are not reachable through the gateway", () => {
	/** Every action the services run that is not behind a route of the table or the console. */
	function internalActions(): string[] {
		const published = new Set([...Object.values(ROUTES), OPS_ACTION]);
		const list = shop.broker.registry.getActionList({}) as { name: string }[];
		return [...new Set(list.map(a => a.name))].filter(name => !published.has(name)).sort();
	}

	it("there are internal actions to try (the list is not empty)", () => {
		const names = internalActions();
		for (const name of [
			"inventory.reserve",
			"inventory.commit",
			"inventory.release",
			"inventory.restock",
			"payments.authorize",
			"payments.capture",
			"payments.void",
			"payments.refund",
			"orders.recover",
			"users.resolveSession",
			"$node.actions",
			"api.listAliases"
		])
			expect(names).toContain(name);
	});

	it("every internal action answers 404 on every path style and method, even to an admin", async () => {
		const failures: string[] = [];
		for (const name of internalActions()) {
			const [service, ...rest] = name.split(".");
			const action = rest.join(".");
			const bare = service.replace(/^\$/, "");
			const paths = new Set([
				`/api/${service}/${action}`,
				`/api/${name}`,
				`/api/~${bare}/${action}`,
				`/api/$${bare}/${action}`,
				`/api/%24${bare}/${action}`,
				`/api/${bare}/${action}`,
				`/api/${service.toUpperCase()}/${action}`
			]);
			const tries = [...paths].flatMap(path =>
				(["get", "post", "delete"] as const).flatMap(method =>
					[undefined, shop.adminToken].map(async token => {
						const req = shop.http[method](path);
						if (token) req.set(bearer(token));
						const res = await req.send({ orderId: order.orderId });
						// A path that happens to match a public route (GET /api/orders/recover is
						// GET /api/orders/:id) meets that route's auth check first: 401 anonymously.
						const ok = res.status === 404 || (!token && res.status === 401);
						if (!ok)
							failures.push(
								`${method} ${path} (${token ? "admin" : "anonymous"}): ${res.status}`
							);
					})
				)
			);
			await Promise.all(tries);
		}
		expect(failures).toEqual([]);
	});

	it("and the effects they would have did not happen", async () => {
		const payment = await shop.http
			.get(`/api/payments/${order.paymentId}`)
			.set(bearer(alice.token));
		expect(payment.body).toMatchObject({ status: "captured", refundedCents: 0 });
		const o = await shop.http.get(`/api/orders/${order.orderId}`).set(bearer(alice.token));
		expect(o.body.status).toBe("confirmed");
	});

	it("moleculer-web's own routes and unknown paths answer 404", async () => {
		for (const path of [
			"/api/~node/actions",
			"/api/~node/services",
			"/api/~node/health",
			"/api/$node/list",
			"/api/api/listAliases",
			"/api/api/addRoute",
			"/api/list-aliases",
			"/api/nope",
			"/api/users/login/extra",
			"/api",
			"/api/",
			"/",
			"/admin",
			"/.env",
			"/api/../package.json",
			"/api/%2e%2e/package.json"
		]) {
			for (const token of [undefined, shop.adminToken]) {
				const req = shop.http.get(path);
				if (token) req.set(bearer(token));
				const res = await req;
				expect(`${path}: ${res.status}`).toBe(`${path}: 404`);
				expect(res.body.type).toBe("NOT_FOUND");
			}
		}
	});
});
