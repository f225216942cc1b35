/**
 * OWASP API8: security misconfiguration.
 *
 * Every response carries the security headers (nosniff, frame denial, no caching of API answers)
 * and no server banner; CORS answers only the origins of CORS_ORIGINS, exactly; no error body
 * carries a stack trace, an internal message or internal data, whatever failed.
 */
import { bearer, loadSystem, startShop, type Shop } from "./fixtures";
import { INTERNAL_ERROR_BODY, type System } from "../helpers/system";

const ALLOWED = ["https://shop.example.com", "https://admin.example.com"];

let shop: Shop;
let alice: { token: string; id: string; email: string };

beforeAll(async () => {
	shop = await startShop({ CORS_ORIGINS: ALLOWED.join(","), LOGIN_MAX_FAILURES: "2" });
	alice = await shop.customer("Alice");
});
afterAll(() => shop?.stop());

type Res = { status: number; headers: Record<string, string>; text: string; body: any };

/** One request of each kind of answer the gateway gives. */
async function answers(): Promise<[string, Res][]> {
	const h = shop.http;
	const json = "application/json";
	const ghost = `ghost-${Date.now()}@shopmesh.test`;
	for (let i = 0; i < 2; i++)
		await h.post("/api/users/login").send({ email: ghost, password: "x" });
	return [
		["200 products", await h.get("/api/products")],
		["200 health", await h.get("/api/health")],
		["200 ready", await h.get("/api/ready")],
		[
			"201 register",
			await h.post("/api/users").send({
				email: `h-${Date.now()}@shopmesh.test`,
				password: "long-enough-1",
				name: "H"
			})
		],
		["204 preflight", await preflight(ALLOWED[0])],
		["400 bad json", await h.post("/api/users").set("Content-Type", json).send("{nope")],
		[
			"400 deep json",
			await h.post("/api/users").set("Content-Type", json).send("[".repeat(40))
		],
		["401 no token", await h.get("/api/orders")],
		["401 bad token", await h.get("/api/orders").set(bearer("a.b.c"))],
		["403 role", await h.get("/api/users").set(bearer(alice.token))],
		["403 origin", await h.get("/api/products").set("Origin", "https://evil.example")],
		["404 api", await h.get("/api/nope")],
		["404 root", await h.get("/")],
		["404 outside", await h.get("/favicon.ico")],
		["404 method", await h.delete("/api/orders").set(bearer(alice.token))],
		["404 object", await h.get("/api/orders/AAAAAAAAAAAAAAAA").set(bearer(alice.token))],
		[
			"413 body",
			await h
				.post("/api/users")
				.set("Content-Type", json)
				.send(JSON.stringify({ a: "x".repeat(200_000) }))
		],
		[
			"415 charset",
			await h
				.post("/api/users")
				.set("Content-Type", "application/json; charset=klingon")
				.send("{}")
		],
		["422 validation", await h.post("/api/users").send({ email: "nope" })],
		["429 throttled", await h.post("/api/users/login").send({ email: ghost, password: "x" })]
	];
}

function preflight(origin: string, app = shop as System) {
	return app.http
		.options("/api/orders")
		.set("Origin", origin)
		.set("Access-Control-Request-Method", "POST")
		.set("Access-Control-Request-Headers", "authorization,content-type");
}

describe("every response", () => {
	let all: [string, Res][];
	beforeAll(async () => {
		all = await answers();
	});

	it("covers the statuses it claims (the requests do what they say)", () => {
		for (const [name, res] of all)
			expect(`${name}: ${res.status}`).toBe(`${name}: ${name.slice(0, 3)}`);
	});

	it("carries nosniff, frame denial and a restrictive CSP", () => {
		for (const [name, res] of all) {
			expect([name, res.headers["x-content-type-options"]]).toEqual([name, "nosniff"]);
			expect([name, res.headers["x-frame-options"]]).toEqual([name, "DENY"]);
			expect([name, res.headers["content-security-policy"]]).toEqual([
				name,
				expect.stringContaining("frame-ancestors 'none'")
			]);
			expect([name, res.headers["referrer-policy"]]).toEqual([name, "no-referrer"]);
		}
	});

	it("is not cached", () => {
		for (const [name, res] of all)
			expect([name, res.headers["cache-control"]]).toEqual([name, "no-store"]);
	});

	it("has no server banner", () => {
		for (const [name, res] of all) {
			expect([name, res.headers["x-powered-by"]]).toEqual([name, undefined]);
			expect([name, res.headers["server"]]).toEqual([name, undefined]);
		}
	});

	it("errors are JSON { name, message, code, type, data? } without stack or internals", () => {
		for (const [name, res] of all.filter(([, r]) => r.status >= 400)) {
			expect([name, res.headers["content-type"]]).toEqual([
				name,
				expect.stringMatching(/^application\/json/)
			]);
			const keys = Object.keys(res.body).filter(k => !["data"].includes(k));
			expect([name, keys.sort()]).toEqual([name, ["code", "message", "name", "type"]]);
			expect([name, res.body.code]).toEqual([name, res.status]);
			expect(res.text).not.toMatch(/\bat .+:\d+:\d+|node_modules|\.ts\b|\/work\/|stack/i);
		}
	});

	it("the documentation pages carry the headers too, and serve nothing else", async () => {
		for (const url of ["/api/docs", "/api/openapi.json"]) {
			const res = await shop.http.get(url);
			expect(res.status).toBe(200);
			expect(res.headers["x-content-type-options"]).toBe("nosniff");
			expect(res.headers["x-frame-options"]).toBe("DENY");
			expect(res.headers["content-security-policy"]).toMatch(/frame-ancestors 'none'/);
		}
		for (const asset of ["..%2F..%2Fpackage.json", "..%2F.env", "%2e%2e%2fpackage.json"]) {
			const res = await shop.http.get(`/api/docs/${asset}`);
			expect(res.status).toBe(404);
			expect(res.text).not.toContain('"dependencies"');
		}
	});
});

describe("CORS", () => {
	it("answers a preflight from a configured origin with that origin, no credentials", async () => {
		for (const origin of ALLOWED) {
			const res = await preflight(origin);
			expect(res.status).toBe(204);
			expect(res.headers["access-control-allow-origin"]).toBe(origin);
			expect(res.headers["vary"]).toMatch(/Origin/);
			expect(res.headers["access-control-allow-methods"]).toMatch(/POST/);
			expect(res.headers["access-control-allow-headers"]).toMatch(/Authorization/i);
			expect(res.headers["access-control-allow-credentials"]).toBeUndefined();
		}
		const get = await shop.http.get("/api/products").set("Origin", ALLOWED[0]);
		expect(get.status).toBe(200);
		expect(get.headers["access-control-allow-origin"]).toBe(ALLOWED[0]);
	});

	it.each([
		"https://evil.example",
		"https://shop.example.co", // a prefix of an allowed origin
		"https://shop.example", // a substring of one
		"https://example.com",
		"https://shop.example.com.evil.io",
		"http://shop.example.com", // another scheme
		"https://shop.example.com:8443", // another port
		"null",
		"*"
	])("refuses %s: no Access-Control-Allow-Origin, 403", async origin => {
		const pre = await preflight(origin);
		expect(pre.headers["access-control-allow-origin"]).toBeUndefined();
		expect(pre.status).toBe(403);
		const get = await shop.http.get("/api/products").set("Origin", origin);
		expect(get.headers["access-control-allow-origin"]).toBeUndefined();
		expect(get.status).toBe(403);
	});

	it("without CORS_ORIGINS no origin gets CORS headers", async () => {
		const { helpers } = loadSystem({ CORS_ORIGINS: undefined });
		const plain = await helpers.startSystem();
		try {
			for (const origin of [ALLOWED[0], "https://evil.example"]) {
				const pre = await preflight(origin, plain);
				expect(pre.headers["access-control-allow-origin"]).toBeUndefined();
				expect(pre.headers["access-control-allow-methods"]).toBeUndefined();
				const get = await plain.http.get("/api/users/me").set("Origin", origin);
				expect(get.headers["access-control-allow-origin"]).toBeUndefined();
			}
		} finally {
			await plain.stop();
		}
	});
});

describe("failures inside a service do not leak", () => {
	const INTERNAL = "connect ECONNREFUSED mongodb://shop:hunter2@db.internal:27017/notifications";

	it("a failing database is a plain 500 INTERNAL_ERROR", async () => {
		const svc = shop.broker.getLocalService("notifications") as any;
		const find = svc.adapter.find;
		svc.adapter.find = async () => {
			throw new Error(INTERNAL);
		};
		try {
			const res = await shop.http.get("/api/notifications").set(bearer(alice.token));
			expect(res.status).toBe(500);
			expect(res.body).toEqual(INTERNAL_ERROR_BODY);
			expect(res.headers["x-content-type-options"]).toBe("nosniff");
		} finally {
			svc.adapter.find = find;
		}
	});

	it("a programming error is a plain 500 too", async () => {
		const svc = shop.broker.getLocalService("orders") as any;
		const count = svc.adapter.count;
		svc.adapter.count = async () => (undefined as any).secretField;
		try {
			const res = await shop.http.get("/api/orders").set(bearer(alice.token));
			expect(res.status).toBe(500);
			expect(res.text).not.toMatch(/secretField|TypeError|undefined/);
		} finally {
			svc.adapter.count = count;
		}
	});

	it("a service that is down is a plain 503 SERVICE_UNAVAILABLE", async () => {
		const payments = shop.broker.getLocalService("payments");
		await shop.broker.destroyService(payments!);
		const res = await shop.http.get("/api/payments").set(bearer(alice.token));
		expect(res.status).toBe(503);
		expect(res.body).toEqual({
			name: "ServiceUnavailableError",
			message: "A service needed for this request is not available. Try again shortly.",
			code: 503,
			type: "SERVICE_UNAVAILABLE"
		});
		expect(res.text).not.toMatch(/payments\.|nodeID|test-/);
	});
});
