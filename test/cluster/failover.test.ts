/**
 * Target 1 of issue 22: one of two instances of every service killed with kill -9 under load
 * costs nobody a request. Heartbeats are missed only after 30 s here, longer than the test runs
 * after the kill: only nats-server's "no responders" (platform/messaging/nats-transporter.ts) and the failover
 * (platform/messaging/failover.ts) can be what sends the calls to the survivors.
 */
import type { RunningNode } from "../../scripts/cluster-lib";
import { freePort } from "../../scripts/cluster-lib";
import {
	api,
	bearer,
	createCluster,
	loginAdmin,
	newCustomer,
	newProduct,
	ready,
	TEST_CARD,
	waitForHttp,
	type Cluster
} from "../helpers/cluster";
import { Gateways, runLoad, summary, type Answer } from "../helpers/load";

jest.setTimeout(120_000);

const SERVICES = ["users", "inventory", "payments", "orders", "notifications"];
let c: Cluster;
const nodes: Record<string, RunningNode> = {};
let gateways: Gateways;
let customers: { id: string; token: string }[];
let productId: string;

beforeAll(async () => {
	c = await createCluster({
		HEARTBEAT_TIMEOUT: "30",
		RATE_LIMIT_MAX: "0",
		RESPONSE_NODE_HEADER: "true"
	});
	const port2 = await freePort();
	for (const name of SERVICES)
		for (const n of [1, 2])
			nodes[`${name}-${n}`] = c.start({ services: name, nodeID: `${name}-${n}` });
	nodes["api-1"] = c.start({ services: "api", nodeID: "api-1" });
	nodes["api-2"] = c.start({ services: "api", nodeID: "api-2", env: { PORT: String(port2) } });
	const bases = [c.base, `http://127.0.0.1:${port2}/api`];
	await Promise.all(bases.map(b => waitForHttp(`${b}/health`, 90_000)));
	await ready(c, SERVICES, 60_000);
	// Every instance has announced itself by now (INFO goes out on connect; heartbeats each 1 s).
	await new Promise(r => setTimeout(r, 2000));
	gateways = new Gateways(bases);
	const admin = await loginAdmin(c);
	productId = await newProduct(c, admin, 100_000);
	customers = await Promise.all(Array.from({ length: 4 }, () => newCustomer(c)));
	// Warm-up, so the first orders of the measured load are not those of cold processes.
	await runLoad({ gateways, concurrency: 16, durationMs: 1500, request: mixed("warm") });
}, 150_000);

/** The i-th order of a load, under its own Idempotency-Key: asked again safely after a death. */
function keyedOrder(prefix: string, i: number) {
	const customer = customers[i % customers.length];
	const headers = { ...bearer(customer.token), "Idempotency-Key": `${prefix}-${i}` };
	const body = { items: [{ productId, quantity: 1 }], payment: TEST_CARD };
	return { what: "order", send: (b: string) => api(b, "POST", "/orders", body, headers) };
}

/** Orders (each with its own Idempotency-Key), product reads and `me` reads, in turn. */
function mixed(prefix: string) {
	return (i: number) => {
		const customer = customers[i % customers.length];
		if (i % 3 === 0) return keyedOrder(prefix, i);
		if (i % 3 === 1)
			return {
				what: "product",
				send: (b: string) => api(b, "GET", `/products/${productId}`)
			};
		return {
			what: "me",
			send: (b: string) => api(b, "GET", "/users/me", undefined, bearer(customer.token))
		};
	};
}

afterAll(() => c?.stopAll());

const kill = (...ids: string[]) => Promise.all(ids.map(id => c.stop(nodes[id], "SIGKILL")));

function expectNoneFailedNorSlow(answers: Answer[], faultAt: number) {
	const failed = answers.filter(a => a.status < 200 || a.status >= 300);
	// Under 1 s from the kill on. One already running when it came (an order whose gateway died
	// under it is asked again, and counts from its first try) gets 2 s: on the shared 2-core
	// machine an order alone took up to 0.9 s before any kill.
	const slow = answers.filter(a => a.ms >= (a.startedAt < faultAt ? 2000 : 1000));
	const afterFault = answers.filter(a => a.startedAt > faultAt);
	const logs = failed.length + slow.length > 0 ? `\n${c.logs()}` : "";
	const report = `fault at ${faultAt} ms\n${summary(answers)}${logs}`;
	expect({ failed, slow, report }).toEqual({ failed: [], slow: [], report });
	expect(afterFault.length).toBeGreaterThan(40);
}

it("kills one users, inventory, payments and notifications instance and a gateway under c16 orders and reads: nothing fails", async () => {
	const { answers, faultAt, faultDoneAt } = await runLoad({
		gateways,
		concurrency: 16,
		durationMs: 6000,
		request: mixed("f1"),
		fault: {
			atMs: 2000,
			run: () => kill("users-1", "inventory-1", "payments-1", "notifications-1", "api-1")
		}
	});
	expectNoneFailedNorSlow(answers, faultAt!);
	// After the kill (every killed process seen exited) the gateway chooses the survivor. (The
	// header names its first choice: the call that taught it the node was gone, sent again to
	// the survivor, may still name the dead one.)
	const late = answers.filter(a => a.what === "product" && a.startedAt > faultDoneAt!);
	expect(late.length).toBeGreaterThan(20);
	expect(late.filter(a => a.node !== "inventory-2").length).toBeLessThanOrEqual(2);
});

it("kills one orders instance under c16 reads of orders: nothing fails", async () => {
	const customer = customers[0];
	// (api-1 is gone: everything below goes through the gateways, api-2 now.)
	const order = await gateways.send(b =>
		api(
			b,
			"POST",
			"/orders",
			{ items: [{ productId, quantity: 1 }], payment: TEST_CARD },
			bearer(customer.token)
		)
	);
	expect(order.status).toBe(201);
	const { answers, faultAt } = await runLoad({
		gateways,
		concurrency: 16,
		durationMs: 4000,
		request: i =>
			i % 2 === 0
				? {
						what: "order",
						send: b =>
							api(
								b,
								"GET",
								`/orders/${order.body.id}`,
								undefined,
								bearer(customer.token)
							)
					}
				: {
						what: "orders",
						send: b =>
							api(b, "GET", "/orders?pageSize=5", undefined, bearer(customer.token))
					},
		fault: { atMs: 1500, run: () => kill("orders-1") }
	});
	expectNoneFailedNorSlow(answers, faultAt!);
	// And orders are placed by the survivor.
	const after = await gateways.send(b =>
		api(
			b,
			"POST",
			"/orders",
			{ items: [{ productId, quantity: 1 }], payment: TEST_CARD },
			bearer(customer.token)
		)
	);
	expect([after.status, after.ms < 1000]).toEqual([201, true]);
});

it("kills one orders instance under c16 orders, each with its Idempotency-Key: its twins finish the orders it left, nothing fails", async () => {
	// orders-1 is gone: two more instances beside orders-2, known to every node before the load.
	// The one to be killed holds each saga 300 ms before its capture, so that the kill surely
	// finds orders of its own in the middle of their sagas (without it, only now and then).
	const started = ["orders-3", "orders-4"].map(async nodeID => {
		const health = await freePort();
		nodes[nodeID] = c.start({
			services: "orders",
			nodeID,
			env: {
				HEALTH_PORT: String(health),
				HEALTH_HOST: "127.0.0.1",
				...(nodeID === "orders-4" ? { ORDERS_DELAY_BEFORE_STEP: "capture:300" } : {})
			}
		});
		await waitForHttp(`http://127.0.0.1:${health}/ready`, 60_000);
	});
	await Promise.all(started);
	// Their INFO reaches every node on connect; a moment for the gateways to balance over them.
	await new Promise(r => setTimeout(r, 2000));
	const TAKEN_OVER = /its node is gone, saga taken over/g;
	const takeovers = () =>
		["orders-2", "orders-3"].reduce(
			(n, id) => n + (nodes[id].output().match(TAKEN_OVER)?.length ?? 0),
			0
		);
	const before = takeovers();
	const { answers, faultAt } = await runLoad({
		gateways,
		concurrency: 16,
		durationMs: 5000,
		request: i => keyedOrder("f3", i),
		fault: { atMs: 2000, run: () => kill("orders-4") }
	});
	expectNoneFailedNorSlow(answers, faultAt!);
	expect(answers.filter(a => a.node === "orders-4").length).toBeGreaterThan(0);
	const late = answers.filter(a => a.startedAt > faultAt! + 500);
	expect(late.filter(a => a.node === "orders-4")).toEqual([]);
	// Those in flight on orders-4 were finished by its twins, not left to the recovery sweep.
	expect(takeovers()).toBeGreaterThan(before);
});
