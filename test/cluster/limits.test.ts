/**
 * Limits that hold across instances: two users processes (one SQLite file) and two gateways (one
 * Redis, RATE_LIMIT_REDIS_URL) over a real NATS. An attacker who alternates between the gateways,
 * and so between the users instances behind them, gets one budget, not one per instance.
 */
import { freePort } from "../../scripts/cluster-lib";
import { api, createCluster, ready, waitForHttp, type Cluster } from "../helpers/cluster";

jest.setTimeout(120_000);

const RATE_LIMIT = 30;
const ACCOUNT_FAILURES = 3;
const CLIENT_FAILURES = 6;

let c: Cluster;
let gateways: string[];

beforeAll(async () => {
	c = await createCluster({
		SEED_CATALOG: "false",
		RATE_LIMIT_REDIS_URL: "redis://127.0.0.1:6379",
		RATE_LIMIT_MAX: String(RATE_LIMIT),
		RATE_LIMIT_WINDOW_MS: "120000",
		LOGIN_MAX_FAILURES: String(ACCOUNT_FAILURES),
		LOGIN_CLIENT_MAX_FAILURES: String(CLIENT_FAILURES)
	});
	const secondPort = await freePort();
	c.start({ services: "users", nodeID: "users-1" });
	c.start({ services: "users", nodeID: "users-2" });
	c.start({ services: "api", nodeID: "api-1" });
	c.start({ services: "api", nodeID: "api-2", env: { PORT: String(secondPort) } });
	gateways = [c.base, `http://127.0.0.1:${secondPort}/api`];
	for (const base of gateways) {
		await waitForHttp(`${base}/health`, 90_000);
		await ready({ ...c, base }, ["users"], 90_000);
	}
	// Both users instances are known to both gateways before anyone counts on the balancing.
	await new Promise(r => setTimeout(r, 2500));
}, 180_000);

afterAll(async () => {
	await c?.stopAll();
});

/** One JSON request to a gateway from loopback address `from` (the client the limits key on). */
const call = (base: string, from: string, method: string, url: string, body?: unknown) =>
	api(base, method, url, body, {}, from);

/** Statuses of `n` requests made by `send`, alternating between the two gateways. */
async function alternating(
	n: number,
	send: (base: string, i: number) => Promise<{ status: number }>
) {
	const statuses: number[] = [];
	for (let i = 0; i < n; i++) statuses.push((await send(gateways[i % 2], i)).status);
	return statuses;
}

describe("two gateways and two users instances", () => {
	it("the gateway rate limit is one budget in Redis: RATE_LIMIT_MAX requests in all, then 429", async () => {
		const from = "127.0.0.3";
		const statuses = await alternating(RATE_LIMIT * 2 + 4, base =>
			call(base, from, "GET", "/users/me")
		);
		// An anonymous /users/me is a 401 within the budget: the limit is checked first.
		expect(statuses.filter(s => s === 401)).toHaveLength(RATE_LIMIT);
		expect(statuses.slice(RATE_LIMIT)).toEqual(statuses.slice(RATE_LIMIT).map(() => 429));
		// Another client has a budget of its own.
		expect((await call(gateways[1], "127.0.0.4", "GET", "/users/me")).status).toBe(401);
	});

	it("an account's failed logins are one budget: after LOGIN_MAX_FAILURES even the right password waits", async () => {
		const from = "127.0.0.5";
		const email = `limits-${Date.now()}@shopmesh.test`;
		const password = "limits-right-pass-1";
		const reg = await call(gateways[0], from, "POST", "/users", { email, password, name: "L" });
		expect(reg.status).toBe(201);

		const statuses = await alternating(ACCOUNT_FAILURES * 2, (base, i) =>
			call(base, from, "POST", "/users/login", { email, password: `wrong-guess-${i}` })
		);
		expect(statuses).toEqual([
			...Array(ACCOUNT_FAILURES).fill(401),
			...Array(ACCOUNT_FAILURES).fill(429)
		]);
		for (const base of gateways) {
			const right = await call(base, from, "POST", "/users/login", { email, password });
			expect([right.status, right.body.type]).toEqual([429, "RATE_LIMITED"]);
		}
	});

	it("a client's failed logins over many accounts are one budget: LOGIN_CLIENT_MAX_FAILURES in all", async () => {
		const from = "127.0.0.6";
		const statuses = await alternating(CLIENT_FAILURES * 2, (base, i) =>
			call(base, from, "POST", "/users/login", {
				email: `nobody-${i}-${Date.now()}@shopmesh.test`,
				password: "wrong-guess-1"
			})
		);
		expect(statuses).toEqual([
			...Array(CLIENT_FAILURES).fill(401),
			...Array(CLIENT_FAILURES).fill(429)
		]);
	});
});
