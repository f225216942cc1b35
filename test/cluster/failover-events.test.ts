/**
 * Target 4 of issue 22: a consumer killed with kill -9 while events flow, then restarted, gets
 * every event within 5 s of being ready again. What JetStream had handed to the dead instance is
 * redelivered after the consumers' ack wait (4 s, platform/messaging/jetstream.ts; it was 30 s), and a handler
 * that works longer says so (in progress) instead of being redelivered meanwhile.
 */
import type { RunningNode } from "../../scripts/cluster-lib";
import { freePort } from "../../scripts/cluster-lib";
import {
	allRows,
	createCluster,
	loginAdmin,
	newCustomer,
	newProduct,
	placeOrder,
	until,
	waitForHttp,
	type Cluster,
	startEveryService
} from "../helpers/cluster";

jest.setTimeout(90_000);

let c: Cluster;
const nodes: Record<string, RunningNode> = {};

beforeAll(async () => {
	c = await createCluster({ RATE_LIMIT_MAX: "0", EVENTS_RELAY_INTERVAL_MS: "200" });
	Object.assign(nodes, await startEveryService(c));
}, 90_000);

afterAll(() => c?.stopAll());

it("tells every customer within 5 s of the restarted notifications being ready", async () => {
	const admin = await loginAdmin(c);
	const productId = await newProduct(c, admin, 1000);
	const customers = await Promise.all(Array.from({ length: 24 }, () => newCustomer(c)));
	const confirmedOf = async (cu: { token: string }, orderId: string) =>
		(await allRows(c, cu.token, "/notifications")).filter(
			n => n.orderId === orderId && n.kind === "order.confirmed"
		);

	// Orders confirm while notifications dies: some of their events were handed to it.
	const placing = Promise.all(customers.map(cu => placeOrder(c, cu.token, productId)));
	await new Promise(r => setTimeout(r, 300));
	await c.stop(nodes.notifications, "SIGKILL");
	const orders = await placing;
	expect(orders.map(o => o.status)).toEqual(Array(customers.length).fill(201));

	const healthPort = await freePort();
	nodes.notifications = c.start({
		services: "notifications",
		nodeID: "notifications-1",
		env: { HEALTH_PORT: String(healthPort), HEALTH_HOST: "127.0.0.1" }
	});
	await waitForHttp(`http://127.0.0.1:${healthPort}/ready`, 60_000);
	const readyAt = Date.now();
	await until(
		c,
		"every customer told",
		async () => {
			const told = await Promise.all(
				customers.map(async (cu, i) => (await confirmedOf(cu, orders[i].body.id)).length)
			);
			return told.every(n => n > 0);
		},
		10_000
	);
	expect(Date.now() - readyAt).toBeLessThan(5000);

	await new Promise(r => setTimeout(r, 1000)); // a late duplicate would show by now
	for (const [i, cu] of customers.entries())
		expect(await confirmedOf(cu, orders[i].body.id)).toHaveLength(1);
});
