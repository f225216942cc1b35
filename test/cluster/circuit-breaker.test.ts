/**
 * A frozen node (kill -STOP) keeps its NATS connection and subscriptions: nats-server cannot tell
 * it from a busy one, so "no responders" does not help (a dead node is test/cluster/failover*).
 * Its calls time out after their action's budget (platform/messaging/budgets.ts: 5 s for a payment, not 10 s for
 * everything), the circuit breaker then stops traffic to it at once, and after kill -CONT it
 * rejoins. Heartbeats are missed only after 120 s: only the breaker can be what makes answers fast.
 */
import type { RunningNode } from "../../scripts/cluster-lib";
import {
	allRows,
	createCluster,
	loginAdmin,
	newCustomer,
	newProduct,
	placeOrder,
	stockOf,
	until,
	type Cluster,
	startEveryService
} from "../helpers/cluster";
import { BUDGET_MS } from "../../platform/messaging/budgets";

jest.setTimeout(120_000);

let c: Cluster;
const nodes: Record<string, RunningNode> = {};

beforeAll(async () => {
	c = await createCluster({
		HEARTBEAT_INTERVAL: "5",
		HEARTBEAT_TIMEOUT: "120",
		CIRCUIT_BREAKER_MIN_REQUESTS: "3",
		CIRCUIT_BREAKER_HALF_OPEN_MS: "3000",
		ORDER_RECOVERY_INTERVAL_MS: "1000",
		RATE_LIMIT_MAX: "0"
	});
	Object.assign(nodes, await startEveryService(c, ["users", "inventory", "payments", "orders"]));
}, 120_000);

afterAll(async () => {
	if (nodes.payments?.proc.exitCode === null) nodes.payments.proc.kill("SIGCONT");
	await c?.stopAll();
});

it("times out on a frozen payments within its budget, then answers 503 at once, and takes it back after kill -CONT", async () => {
	const admin = await loginAdmin(c);
	const cu = await newCustomer(c);
	const productId = await newProduct(c, admin, 100);
	expect((await placeOrder(c, cu.token, productId)).status).toBe(201);

	nodes.payments.proc.kill("SIGSTOP");
	// In flight together: each waits out the payment budget, and their timeouts open the breaker.
	const first = await Promise.all([0, 1, 2, 3].map(() => placeOrder(c, cu.token, productId)));
	const later = [];
	for (let i = 0; i < 4; i++) later.push(await placeOrder(c, cu.token, productId));

	const seen = (a: { status: number; body: any; ms: number }) => [a.status, a.body.type];
	// Each waits out the authorization's budget, then its void's (the breaker is per action): a
	// 503, or the gateway's 504 once the whole flow's budget is spent; the sweep voids it later.
	for (const a of first) {
		expect([
			[503, "SERVICE_UNAVAILABLE"],
			[504, "TIMEOUT"]
		]).toContainEqual(seen(a));
		expect(a.ms).toBeGreaterThanOrEqual(BUDGET_MS.payment - 100);
		expect(a.ms).toBeLessThan(BUDGET_MS.flow + 1500);
	}
	expect(later.map(a => [...seen(a), a.ms < 500])).toEqual(
		Array(4).fill([503, "SERVICE_UNAVAILABLE", true])
	);

	nodes.payments.proc.kill("SIGCONT");
	// Half-open after 3 s: a trial call finds it answering again.
	const back = await until(
		c,
		"an order confirmed after kill -CONT",
		async () => {
			const o = await placeOrder(c, cu.token, productId);
			return o.status === 201 ? o : null;
		},
		15_000
	);
	expect(back.status).toBe(201);

	// Nothing lost: each refused order's units are back, and its payment, if the frozen node
	// made one when it woke up, is voided by the recovery sweep.
	await until(
		c,
		"stock of the 2 confirmed orders only",
		async () => (await stockOf(c, productId)) === 98
	);
	await until(c, "no payment left authorized", async () => {
		const payments = await allRows(c, admin, "/payments");
		return payments.every(p => p.status === "captured" || p.status === "voided");
	});
});
