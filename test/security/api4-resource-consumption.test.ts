/**
 * OWASP API4: unrestricted resource consumption.
 *
 * Bodies are capped (BODY_LIMIT, refused before they are read) and so is their nesting; pages,
 * arrays and strings have upper bounds; every client has a request budget per window
 * (RATE_LIMIT_MAX / RATE_LIMIT_WINDOW_MS, 429 + Retry-After); slow or huge requests neither
 * block other clients nor hold a connection for ever.
 */
import net from "node:net";
import type { AddressInfo } from "node:net";
import { MAX_JSON_DEPTH } from "../../platform/http/body-limits";
import { bearer, card, clientAgent, loadSystem, startShop, type Shop } from "./fixtures";

const BODY_LIMIT = 16 * 1024;
const RATE_LIMIT = 300;

let shop: Shop;
let port: number;
let alice: { token: string; id: string };

beforeAll(async () => {
	shop = await startShop({
		BODY_LIMIT: "16kb",
		RATE_LIMIT_MAX: String(RATE_LIMIT),
		RATE_LIMIT_WINDOW_MS: "600000"
	});
	port = (shop.server.address() as AddressInfo).port;
	alice = await shop.customer("Alice");
});
afterAll(() => shop?.stop());

/** A raw TCP client: write what a test wants, collect what the server answers. */
function rawClient() {
	const socket = net.connect({ host: "127.0.0.1", port });
	let received = "";
	socket.setEncoding("latin1");
	socket.on("data", chunk => (received += chunk));
	socket.on("error", () => undefined);
	const closed = new Promise<void>(resolve => socket.once("close", () => resolve()));
	return {
		socket,
		received: () => received,
		closed,
		/** Resolves with what arrived once a full response head is there (bounded). */
		async response(ms = 3000): Promise<string> {
			const deadline = Date.now() + ms;
			while (!received.includes("\r\n\r\n") && Date.now() < deadline)
				await new Promise(r => setTimeout(r, 10));
			return received;
		}
	};
}

const timed = async <T>(fn: () => Promise<T>) => {
	const start = Date.now();
	const value = await fn();
	return { value, ms: Date.now() - start };
};

describe("body size", () => {
	it("a JSON body over BODY_LIMIT is refused with 413 PAYLOAD_TOO_LARGE", async () => {
		const res = await shop.http
			.post("/api/users")
			.set("Content-Type", "application/json")
			.send(JSON.stringify({ email: "a@b.cd", password: "x".repeat(BODY_LIMIT), name: "x" }));
		expect(res.status).toBe(413);
		expect(res.body).toEqual({
			name: "PayloadTooLargeError",
			message: "Request body is too large",
			code: 413,
			type: "PAYLOAD_TOO_LARGE"
		});
	});

	it("a declared huge body is refused at once, without reading it", async () => {
		const client = rawClient();
		try {
			client.socket.write(
				"POST /api/orders HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n" +
					`Authorization: Bearer ${alice.token}\r\nContent-Length: 500000000\r\n\r\n{"items":`
			);
			const { value: head, ms } = await timed(() => client.response());
			expect(head).toMatch(/^HTTP\/1\.1 413 /);
			expect(head).toMatch(/\r\nConnection: close\r\n/i);
			expect(head).toMatch(/\r\nX-Content-Type-Options: nosniff\r\n/i);
			expect(ms).toBeLessThan(2000);
			await client.closed; // the server hangs up instead of reading 500 MB
		} finally {
			client.socket.destroy();
		}
	});

	it("a chunked body is cut off as soon as it passes the limit", async () => {
		const client = rawClient();
		try {
			client.socket.write(
				"POST /api/users HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n" +
					'Transfer-Encoding: chunked\r\n\r\n1\r\n"\r\n'
			);
			const chunk = "x".repeat(4096);
			let sent = 0;
			while (!client.received() && !client.socket.destroyed && sent < 100 * BODY_LIMIT) {
				client.socket.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
				sent += chunk.length;
				await new Promise(r => setTimeout(r, 5));
			}
			expect(await client.response()).toMatch(/^HTTP\/1\.1 413 /);
			expect(sent).toBeLessThan(4 * BODY_LIMIT);
			await client.closed;
		} finally {
			client.socket.destroy();
		}
	});

	it(`a body nested deeper than ${MAX_JSON_DEPTH} levels is refused with 400, not a 500`, async () => {
		// Within the size limit: 5000 arrays used to overflow the validator's stack (a 500).
		for (const [open, close, depth] of [
			["[", "]", 5000],
			['{"a":', "}", 2000]
		] as const) {
			const nested = open.repeat(depth) + "1" + close.repeat(depth);
			const res = await shop.http
				.patch("/api/users/me")
				.set(bearer(alice.token))
				.set("Content-Type", "application/json")
				.send(`{"address": ${nested}}`);
			expect(res.status).toBe(400);
			expect(res.body).toMatchObject({ code: 400, type: "INVALID_JSON" });
		}
	});

	it("nesting within the bound is validated as usual (422)", async () => {
		const nested = "[".repeat(MAX_JSON_DEPTH - 1) + "]".repeat(MAX_JSON_DEPTH - 1);
		const res = await shop.http
			.post("/api/orders")
			.set(bearer(alice.token))
			.set("Content-Type", "application/json")
			.send(`{"items": ${nested}, "payment": ${nested}}`);
		expect(res.status).toBe(422);
		expect(res.body.type).toBe("VALIDATION_ERROR");
	});
});

describe("pages, arrays and strings are bounded", () => {
	const LISTS = [
		"/api/products",
		"/api/orders",
		"/api/payments",
		"/api/notifications",
		"/api/shipments",
		"/api/users"
	];

	it.each(LISTS)("%s: pageSize ≤ 100, page ≤ 10000", async url => {
		const token = shop.adminToken;
		const ok = await shop.http.get(`${url}?pageSize=100`).set(bearer(token));
		expect(ok.status).toBe(200);
		expect(ok.body.pageSize).toBe(100);
		for (const query of [
			"pageSize=101",
			"pageSize=1000000",
			"pageSize=0",
			"pageSize=-1",
			"pageSize=abc",
			"page=10001",
			"page=0"
		]) {
			const res = await shop.http.get(`${url}?${query}`).set(bearer(token));
			expect(res.status).toBe(422);
			expect(res.body.type).toBe("VALIDATION_ERROR");
			expect(res.body.data.map((d: { field: string }) => d.field)).toEqual([
				query.split("=")[0]
			]);
		}
	});

	it("an order has at most 50 lines of at most 1000 units", async () => {
		const p = await shop.product(100_000, 100);
		const line = { productId: p.id, quantity: 1 };
		const tooMany = await shop.order(alice.token, Array(51).fill(line));
		expect(tooMany.status).toBe(422);
		expect(tooMany.body.data[0].field).toBe("items");
		const tooLarge = await shop.order(alice.token, [{ productId: p.id, quantity: 1001 }]);
		expect(tooLarge.status).toBe(422);
		expect(tooLarge.body.data[0].field).toBe("items[0].quantity");
		const orders = await shop.http.get("/api/orders").set(bearer(alice.token));
		expect(orders.body.total).toBe(0);
	});

	it("strings have upper bounds", async () => {
		const long = (n: number) => "y".repeat(n);
		const cases = [
			shop.http
				.post("/api/users")
				.send({ email: "long@shopmesh.test", password: long(129), name: "L" }),
			shop.http
				.post("/api/users")
				.send({ email: `${long(250)}@x.io`, password: "long-enough-1", name: "L" }),
			shop.http
				.post("/api/users")
				.send({ email: "long2@shopmesh.test", password: "long-enough-1", name: long(101) }),
			shop.http.post("/api/users/login").send({ email: "a@b.cd", password: long(129) }),
			shop.http
				.patch("/api/users/me")
				.set(bearer(alice.token))
				.send({
					address: { line1: long(201), city: "c", postalCode: "1", country: "BE" }
				}),
			shop.http.get(`/api/products?q=${long(101)}`),
			shop.http
				.post("/api/products")
				.set(bearer(shop.adminToken))
				.send({ sku: "LONG-1", name: long(201), priceCents: 1, currency: "EUR" }),
			shop.http
				.post(`/api/orders/${"a".repeat(65)}/cancel`)
				.set(bearer(alice.token))
				.send({})
		];
		for (const res of await Promise.all(cases)) {
			expect(res.status).toBe(422);
			expect(res.body.type).toBe("VALIDATION_ERROR");
		}
	});

	it("a long Idempotency-Key is refused with 422, never cut (two long keys would collide)", async () => {
		const p = await shop.product(10, 100);
		const key = "k".repeat(4000);
		const res = await shop.http
			.post("/api/orders")
			.set(bearer(alice.token))
			.set("Idempotency-Key", key)
			.send({ items: [{ productId: p.id, quantity: 1 }], payment: card() });
		expect(res.status).toBe(422);
		expect(res.body).toMatchObject({
			type: "VALIDATION_ERROR",
			data: [{ field: "Idempotency-Key" }]
		});
		const stock = await shop.http.get(`/api/products/${p.id}`);
		expect(stock.body.stock).toBe(10);
	});
});

describe("rate limits per client", () => {
	it(`after ${RATE_LIMIT} requests a client gets 429 with Retry-After; others do not`, async () => {
		const greedy = clientAgent("127.0.0.2");
		const get = (agent = greedy) => shop.http.get("/api/products").agent(agent);
		const first = await get();
		expect(first.status).toBe(200);
		expect(Number(first.headers["x-rate-limit-limit"])).toBe(RATE_LIMIT);
		expect(Number(first.headers["x-rate-limit-remaining"])).toBe(RATE_LIMIT - 1);
		for (let sent = 1; sent < RATE_LIMIT; sent += 50) {
			const batch = await Promise.all(
				Array.from({ length: Math.min(50, RATE_LIMIT - sent) }, () => get())
			);
			for (const res of batch) expect(res.status).toBe(200);
		}

		const limited = await get();
		expect(limited.status).toBe(429);
		expect(limited.body).toMatchObject({ code: 429, type: "RATE_LIMITED" });
		const retryAfter = Number(limited.headers["retry-after"]);
		expect(Number.isInteger(retryAfter)).toBe(true);
		expect(retryAfter).toBeGreaterThanOrEqual(1);
		expect(retryAfter).toBeLessThanOrEqual(600);
		// Logged-in or not, every route of the API counts.
		const login = await shop.http
			.post("/api/users/login")
			.agent(greedy)
			.send({ email: "a@b.cd", password: "whatever-1" });
		expect(login.status).toBe(429);

		const other = await get(clientAgent("127.0.0.3"));
		expect(other.status).toBe(200);
		// Probes stay reachable for the orchestrator.
		expect((await shop.http.get("/api/health").agent(greedy)).status).toBe(200);
	});
});

describe("who a client is", () => {
	it("without TRUST_PROXY, X-Forwarded-For cannot buy a fresh budget", async () => {
		const spoofer = clientAgent("127.0.0.4");
		let last = 0;
		for (let i = 0; i <= RATE_LIMIT; i += 50) {
			const batch = await Promise.all(
				Array.from({ length: 50 }, (_, j) =>
					shop.http
						.get("/api/products")
						.agent(spoofer)
						.set("X-Forwarded-For", `10.0.${i}.${j}`)
				)
			);
			last = batch.filter(r => r.status === 429).length;
		}
		expect(last).toBeGreaterThan(0);
	});

	it("behind TRUST_PROXY=1, clients are told apart by the address the proxy appends", async () => {
		const { helpers, services } = loadSystem({ TRUST_PROXY: "1", RATE_LIMIT_MAX: "3" });
		const proxied = await helpers.startSystem(services);
		try {
			// The proxy appends the real client; what the client itself sent stays on the left.
			const as = (chain: string) =>
				proxied.http.get("/api/products").set("X-Forwarded-For", chain);
			for (let i = 0; i < 3; i++) expect((await as("203.0.113.7")).status).toBe(200);
			expect((await as("203.0.113.7")).status).toBe(429);
			expect((await as("198.51.100.9, 203.0.113.7")).status).toBe(429);
			expect((await as("203.0.113.8")).status).toBe(200);
		} finally {
			await proxied.stop();
		}
	});
});

describe("slow and huge requests do not stall the gateway", () => {
	it("the server bounds how long headers and whole requests may take", () => {
		const server = shop.server;
		expect(server.headersTimeout).toBeGreaterThan(0);
		expect(server.headersTimeout).toBeLessThanOrEqual(10_000);
		expect(server.requestTimeout).toBeGreaterThan(0);
		expect(server.requestTimeout).toBeLessThanOrEqual(30_000);
		expect(server.keepAliveTimeout).toBeLessThanOrEqual(5_000);
	});

	it("clients sending headers or bodies slowly do not delay others", async () => {
		const slow = Array.from({ length: 60 }, () => rawClient());
		const slowBodies = Array.from({ length: 20 }, () => rawClient());
		slow.forEach((c, i) =>
			c.socket.write(`GET /api/products HTTP/1.1\r\nHost: localhost\r\nX-Slow-${i}: `)
		);
		slowBodies.forEach(c =>
			c.socket.write(
				"POST /api/users HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n" +
					'Content-Length: 1000\r\n\r\n{"email":"'
			)
		);
		const drip = setInterval(() => {
			for (const c of [...slow, ...slowBodies]) c.socket.write("a");
		}, 50);
		try {
			const { value: answers, ms } = await timed(() =>
				Promise.all(
					Array.from({ length: 20 }, (_, i) =>
						i % 2
							? shop.http.get("/api/products")
							: shop.http.get("/api/users/me").set(bearer(alice.token))
					)
				)
			);
			for (const res of answers) expect(res.status).toBe(200);
			expect(ms).toBeLessThan(2000);
			// The slow ones are still waiting: nothing answered them.
			expect(slow.every(c => c.received() === "")).toBe(true);
		} finally {
			clearInterval(drip);
			for (const c of [...slow, ...slowBodies]) c.socket.destroy();
		}
	});

	it("huge uploads from several clients at once are cut off and do not delay others", async () => {
		// Ten clients each streaming 64 kB every 10 ms, up to 5 MB (80 chunks).
		const uploads = Array.from({ length: 10 }, () => {
			const c = rawClient();
			c.socket.write(
				"POST /api/orders HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n" +
					"Transfer-Encoding: chunked\r\n\r\n"
			);
			return { ...c, sent: 0 };
		});
		const block = "z".repeat(64 * 1024);
		const pump = setInterval(() => {
			for (const c of uploads)
				if (!c.socket.destroyed && c.sent < 80 * block.length) {
					c.socket.write(`${block.length.toString(16)}\r\n${block}\r\n`);
					c.sent += block.length;
				}
		}, 10);
		try {
			const { value: answers, ms } = await timed(() =>
				Promise.all(Array.from({ length: 20 }, () => shop.http.get("/api/products")))
			);
			for (const res of answers) expect(res.status).toBe(200);
			expect(ms).toBeLessThan(2000);
			// The server answers 413 and hangs up long before 5 MB are through (the answer may be
			// lost to the reset of a connection closed with unread upload data: that is fine).
			await Promise.all(uploads.map(c => c.closed));
			for (const c of uploads) {
				expect(c.sent).toBeLessThan(16 * block.length);
				if (c.received()) expect(c.received()).toMatch(/^HTTP\/1\.1 413 /);
			}
		} finally {
			clearInterval(pump);
			for (const c of uploads) c.socket.destroy();
		}
	});
});
