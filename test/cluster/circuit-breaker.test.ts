/**
 * A node that dies without a word (SIGKILL) stays in the registry until its heartbeats are
 * missed. Meanwhile calls to it time out, and the circuit breaker must turn that into fast 503s
 * instead of every request waiting for its timeout. Heartbeats are slowed down here so that only
 * the breaker can be what makes the answers fast.
 */
import type { RunningNode } from "../../scripts/cluster-lib";
import {
	api,
	createCluster,
	loginAdmin,
	newCustomer,
	newProduct,
	placeOrder,
	ready,
	stockOf,
	until,
	waitForHttp,
	type Cluster
} from "../helpers/cluster";

jest.setTimeout(120_000);

let c: Cluster;
const nodes: Record<string, RunningNode> = {};

beforeAll(async () => {
	c = await createCluster({
		REQUEST_TIMEOUT: "1500",
		HEARTBEAT_INTERVAL: "5",
		HEARTBEAT_TIMEOUT: "120",
		CIRCUIT_BREAKER_MIN_REQUESTS: "3",
		CIRCUIT_BREAKER_HALF_OPEN_MS: "60000",
		RATE_LIMIT_MAX: "0"
	});
	for (const name of ["users", "inventory", "payments", "orders", "notifications", "api"])
		nodes[name] = c.start({ services: name, nodeID: `${name}-1` });
	await waitForHttp(`${c.base}/health`, 60_000);
	await ready(c, ["users", "inventory", "payments", "orders"], 60_000);
}, 120_000);

afterAll(() => c?.stopAll());

it("fails fast with 503 once the breaker opens, long before the dead node leaves the registry", async () => {
	const admin = await loginAdmin(c);
	const cu = await newCustomer(c);
	const productId = await newProduct(c, admin, 10);
	expect((await placeOrder(c, cu.token, productId)).status).toBe(201);

	await c.stop(nodes.payments, "SIGKILL");
	const answers: { status: number; type: string; ms: number }[] = [];
	for (let i = 0; i < 8; i++) {
		const res = await placeOrder(c, cu.token, productId);
		answers.push({ status: res.status, type: res.body.type, ms: res.ms });
	}

	// Still registered (heartbeats are missed only after 120 s), so nothing but the breaker
	// makes the later answers fast.
	expect((await api(c.base, "GET", "/ready")).body.services.payments).toBeTruthy();
	// First the calls wait for their timeout (504 from the gateway, or 503 from the saga), then
	// the breaker is open and every answer is an immediate 503.
	for (const a of answers)
		expect([
			[503, "SERVICE_UNAVAILABLE"],
			[504, "TIMEOUT"]
		]).toContainEqual([a.status, a.type]);
	expect(answers[0].ms).toBeGreaterThanOrEqual(1400);
	expect(answers.slice(-4).map(a => [a.status, a.ms < 500])).toEqual(Array(4).fill([503, true]));
	// Every rejected order gave its reservation back.
	await until(c, "stock restored", async () => (await stockOf(c, productId)) === 9);
});
