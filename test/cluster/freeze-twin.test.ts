/**
 * Target 3 of issue 22 with a twin: one of two payments instances frozen (kill -STOP) under c8
 * orders. It keeps its NATS connection, so nats-server cannot tell it from a busy node; its
 * callers' probes go without a PONG and take it off the registry (platform/messaging/
 * nats-transporter.ts), and the authorizations pending on it go to its twin. Heartbeats are
 * missed only after 120 s here: nothing else can be what moves the traffic. After kill -CONT its
 * next heartbeat brings it back.
 *
 * Both instances share one SQLite file: stopped inside a transaction (the write lock held for the
 * rest of its turn: 2 freezes in 23 here), it is killed by its twin once that has waited 2 s for
 * the lock (platform/persistence/lock-holders.ts), and started again as a supervisor would. The
 * second test stops it so on purpose: at a moment /proc/locks shows it holding the lock.
 */
import type { ChildProcess } from "node:child_process";
import path from "node:path";
import { ServiceBroker } from "moleculer";
import { processState, writeLockHolders } from "../../platform/persistence/lock-holders";
import type { TrafficSnapshot } from "../../platform/runtime/traffic";
import type { RunningNode } from "../../scripts/cluster-lib";
import {
	allRows,
	api,
	bearer,
	createCluster,
	loginAdmin,
	newCustomer,
	newProduct,
	startEveryService,
	stockOf,
	TEST_CARD,
	until,
	type Cluster
} from "../helpers/cluster";
import { Gateways, runLoad, summary } from "../helpers/load";

jest.setTimeout(150_000);

let c: Cluster;
let observer: ServiceBroker;
const nodes: Record<string, RunningNode> = {};

/** Payments instances the observer sees available, by node id. */
const paymentNodes = () =>
	observer.registry
		.getActionEndpoints("payments.authorize")
		?.endpoints.filter(ep => ep.isAvailable)
		.map(ep => ep.id) ?? [];

/** Authorizations a payments node has handled, from its own traffic meter. */
async function authorizationsOn(nodeID: string): Promise<number> {
	const traffic = await observer.call<TrafficSnapshot, object>(
		"$node.traffic",
		{},
		{ nodeID, timeout: 2000 }
	);
	return traffic["payments.authorize"]?.total ?? 0;
}

beforeAll(async () => {
	c = await createCluster({
		HEARTBEAT_INTERVAL: "1",
		HEARTBEAT_TIMEOUT: "120",
		RATE_LIMIT_MAX: "0",
		PAYMENT_RECOVERY_INTERVAL_MS: "1000",
		ORDER_RECOVERY_INTERVAL_MS: "1000"
	});
	Object.assign(nodes, await startEveryService(c, ["users", "inventory", "payments", "orders"]));
	nodes["payments-2"] = c.start({ services: "payments", nodeID: "payments-2" });
	observer = new ServiceBroker({
		namespace: c.namespace,
		nodeID: `observer-${process.pid}`,
		transporter: { type: "NATS", options: { url: c.nats.url } },
		heartbeatTimeout: 120,
		logger: false
	});
	await observer.start();
	await until(c, "two payments instances", async () => paymentNodes().length === 2, 60_000);
	// Every node has heard of payments-2 by now (INFO on connect, heartbeats each second).
	await new Promise(r => setTimeout(r, 2000));
}, 150_000);

afterAll(async () => {
	if (nodes["payments-2"]?.proc.exitCode === null) nodes["payments-2"].proc.kill("SIGCONT");
	await observer?.stop();
	await c?.stopAll();
});

/** A product with plenty of stock, four customers, and an order request for runLoad. */
async function shop() {
	const admin = await loginAdmin(c);
	const productId = await newProduct(c, admin, 100_000);
	const customers = await Promise.all(Array.from({ length: 4 }, () => newCustomer(c)));
	const order = (i: number) => ({
		what: "order",
		send: (b: string) =>
			api(
				b,
				"POST",
				"/orders",
				{ items: [{ productId, quantity: 1 }], payment: TEST_CARD },
				bearer(customers[i % customers.length].token)
			)
	});
	// Both instances take authorizations before the fault.
	for (let i = 0; i < 8; i++) expect((await order(i).send(c.base)).status).toBe(201);
	expect(await authorizationsOn("payments-2")).toBeGreaterThan(0);
	return { admin, productId, order, placedBefore: 8 };
}

/**
 * payments-2 back: continued (kill -CONT), or, if its twin killed it for holding the file's write
 * lock while stopped, started again as a supervisor would; until it takes authorizations again.
 * How many orders that took.
 */
async function rejoin(order: Awaited<ReturnType<typeof shop>>["order"]): Promise<number> {
	const fenced = nodes["payments-2"].proc.signalCode === "SIGKILL";
	if (fenced) {
		expect(nodes.payments.output()).toMatch(/was stopped \(kill -STOP\) with the write lock/);
		nodes["payments-2"] = c.start({ services: "payments", nodeID: "payments-2" });
	} else {
		expect(nodes["payments-2"].proc.exitCode).toBeNull();
		nodes["payments-2"].proc.kill("SIGCONT");
	}
	const before = fenced ? 0 : await authorizationsOn("payments-2");
	let after = 0;
	await until(
		c,
		"authorizations on payments-2 again",
		async () => {
			after++;
			expect((await order(after).send(c.base)).status).toBe(201);
			return (await authorizationsOn("payments-2").catch(() => 0)) > before;
		},
		30_000
	);
	return after;
}

/** Nothing lost: every order of the product confirmed, paid once and captured, its unit taken once. */
async function expectEverySettled(admin: string, productId: string, placed: number) {
	await until(c, "stock of every confirmed order", async () => {
		return (await stockOf(c, productId)) === 100_000 - placed;
	});
	const payments = await allRows(c, admin, "/payments");
	const orders = await allRows(c, admin, "/orders");
	const mine = orders.filter(o => o.items.some((i: any) => i.productId === productId));
	expect(mine.length).toBe(placed);
	expect(mine.every(o => o.status === "confirmed")).toBe(true);
	const forMine = payments.filter(p => mine.some(o => o.id === p.orderId));
	expect(forMine.length).toBe(placed);
	expect(forMine.filter(p => p.status !== "captured")).toEqual([]);
}

/** kill -STOP `proc` at a moment it holds `file`'s write lock (seen in /proc/locks). */
async function stopHoldingLock(proc: ChildProcess, file: string): Promise<boolean> {
	const pid = proc.pid!;
	const deadline = Date.now() + 10_000;
	while (Date.now() < deadline) {
		if (writeLockHolders(file).includes(pid)) {
			proc.kill("SIGSTOP");
			while (processState(pid) !== "T") await new Promise(r => setImmediate(r));
			if (writeLockHolders(file).includes(pid)) return true;
			proc.kill("SIGCONT"); // let go meanwhile: again
		}
		await new Promise(r => setImmediate(r));
	}
	return false;
}

it("takes a frozen payments instance out of the traffic within 5 s, loses no order, and takes it back after kill -CONT", async () => {
	const { admin, productId, order, placedBefore } = await shop();
	const { answers, faultAt } = await runLoad({
		gateways: new Gateways([c.base]),
		concurrency: 8,
		durationMs: 10_000,
		request: order,
		fault: { atMs: 2000, run: async () => nodes["payments-2"].proc.kill("SIGSTOP") }
	});
	const report = `frozen at ${faultAt} ms\n${summary(answers)}`;
	const failed = answers.filter(a => a.status !== 201);
	// In flight on it at the freeze: each waits for the probe (3 s without a PONG), then its twin.
	const slowest = Math.max(...answers.map(a => a.ms));
	// Started 5 s after the freeze or later: the frozen instance is out of the traffic.
	const late = answers.filter(a => a.startedAt > faultAt! + 5000);
	expect({ failed, report }).toEqual({ failed: [], report });
	expect(slowest).toBeLessThan(5000);
	expect(late.length).toBeGreaterThan(20);
	expect(late.filter(a => a.ms >= 1000)).toEqual([]);

	const after = await rejoin(order);
	await expectEverySettled(admin, productId, placedBefore + answers.length + after);
});

it("kills a payments instance stopped while it holds the shared file's write lock: its twin writes on, no order fails", async () => {
	const { admin, productId, order, placedBefore } = await shop();
	const victim = nodes["payments-2"];
	let stoppedHolding = false;
	const { answers, faultAt } = await runLoad({
		gateways: new Gateways([c.base]),
		concurrency: 8,
		durationMs: 8000,
		request: order,
		fault: {
			atMs: 1500,
			run: async () => {
				stoppedHolding = await stopHoldingLock(
					victim.proc,
					path.join(c.dataDir, "payments.sqlite")
				);
			}
		}
	});
	expect(stoppedHolding).toBe(true);
	// Its twin waited 2 s for the lock (SQLITE_FENCE_STOPPED_MS), then killed it.
	expect(victim.proc.signalCode).toBe("SIGKILL");
	const report = `stopped holding the lock at ${faultAt} ms\n${summary(answers)}`;
	const failed = answers.filter(a => a.status !== 201);
	expect({ failed, report }).toEqual({ failed: [], report });
	expect(Math.max(...answers.map(a => a.ms))).toBeLessThan(5000);

	const after = await rejoin(order);
	await expectEverySettled(admin, productId, placedBefore + answers.length + after);
});
