/**
 * Target 2 of issue 22: the only payments instance killed with kill -9. Every order answers 503
 * SERVICE_UNAVAILABLE within 1 s from the first one after the kill (nats-server's "no responders",
 * then no endpoint at all), nothing stays reserved, and orders succeed again within 2 s of
 * payments being ready again. Heartbeats are missed only after 30 s: they play no part.
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
	placeOrder,
	stockOf,
	TEST_CARD,
	until,
	waitForHttp,
	type Cluster,
	startEveryService
} from "../helpers/cluster";
import { Gateways, runLoad, summary } from "../helpers/load";

jest.setTimeout(90_000);

let c: Cluster;
const nodes: Record<string, RunningNode> = {};

beforeAll(async () => {
	c = await createCluster({ HEARTBEAT_TIMEOUT: "30", RATE_LIMIT_MAX: "0" });
	Object.assign(nodes, await startEveryService(c, ["users", "inventory", "payments", "orders"]));
}, 90_000);

afterAll(() => c?.stopAll());

it("answers every order with a fast 503 while payments is dead, gives every unit back, and recovers at once", async () => {
	const admin = await loginAdmin(c);
	const customer = await newCustomer(c);
	const productId = await newProduct(c, admin, 1000);
	expect((await placeOrder(c, customer.token, productId)).status).toBe(201);

	const { answers, faultAt } = await runLoad({
		gateways: new Gateways([c.base]),
		concurrency: 8,
		durationMs: 3000,
		request: () => ({
			what: "order",
			send: b =>
				api(
					b,
					"POST",
					"/orders",
					{ items: [{ productId, quantity: 1 }], payment: TEST_CARD },
					bearer(customer.token)
				)
		}),
		fault: { atMs: 1000, run: () => c.stop(nodes.payments, "SIGKILL") }
	});
	const report = `fault at ${faultAt} ms\n${summary(answers)}`;
	const after = answers.filter(a => a.startedAt >= faultAt!);
	expect(after.length).toBeGreaterThan(10);
	// In flight at the kill: confirmed, or refused like the rest. After it: refused, at once.
	expect({
		report,
		odd: answers.filter(
			a => a.ms >= 1000 || (a.status !== 201 && a.type !== "SERVICE_UNAVAILABLE")
		),
		confirmedAfter: after.filter(a => a.status === 201)
	}).toEqual({ report, odd: [], confirmedAfter: [] });
	expect(after.every(a => a.status === 503)).toBe(true);

	// Every refused order gave its reservation back.
	const confirmed = 1 + answers.filter(a => a.status === 201).length;
	await until(
		c,
		"stock restored",
		async () => (await stockOf(c, productId)) === 1000 - confirmed,
		5000
	);

	const healthPort = await freePort();
	nodes.payments = c.start({
		services: "payments",
		nodeID: "payments-1",
		env: { HEALTH_PORT: String(healthPort), HEALTH_HOST: "127.0.0.1" }
	});
	await waitForHttp(`http://127.0.0.1:${healthPort}/ready`, 60_000);
	const readyAt = Date.now();
	const res = await until(
		c,
		"an order confirmed",
		async () => {
			const o = await placeOrder(c, customer.token, productId);
			return o.status === 201 ? o : null;
		},
		10_000
	);
	expect(res.status).toBe(201);
	expect(Date.now() - readyAt).toBeLessThan(2000);
});
