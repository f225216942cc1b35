/**
 * Target 5 of issue 22: the broker itself highly available. Three nats-servers routed into one
 * JetStream cluster, streams kept on all three (EVENTS_STREAM_REPLICAS=3), every node given the
 * three URLs. One server killed with kill -9 under c8 orders: the nodes on it reconnect to
 * another, requests fail only around that reconnect, and every confirmed order's event reaches
 * notifications once (no loss, no second effect).
 */
import type { RunningNode } from "../../scripts/cluster-lib";
import {
	allRows,
	api,
	bearer,
	createCluster,
	loginAdmin,
	Nats,
	newCustomer,
	newProduct,
	TEST_CARD,
	until,
	type Cluster,
	startEveryService
} from "../helpers/cluster";
import { Gateways, runLoad, summary } from "../helpers/load";
import {
	jetStreamState,
	killServer,
	natsCluster,
	startNatsCluster,
	streamLeader
} from "../helpers/nats-cluster";

jest.setTimeout(120_000);

let c: Cluster;
let servers: Nats[] = [];
const nodes: Record<string, RunningNode> = {};

beforeAll(async () => {
	servers = await natsCluster();
	await startNatsCluster(servers);
	c = await createCluster({
		TRANSPORTER: servers.map(n => n.url).join(","),
		EVENTS_STREAM_REPLICAS: "3",
		RATE_LIMIT_MAX: "0",
		EVENTS_RELAY_INTERVAL_MS: "200"
	});
	Object.assign(nodes, await startEveryService(c));
}, 120_000);

afterAll(async () => {
	await c?.stopAll();
	await Promise.all(servers.map(n => n.destroy()));
});

it("loses no request beyond the reconnect and no event when one of three nats-servers dies", async () => {
	const admin = await loginAdmin(c);
	const productId = await newProduct(c, admin, 100_000);
	const customer = await newCustomer(c);
	const confirmedIds: string[] = [];
	const order = async () => {
		const res = await api(
			c.base,
			"POST",
			"/orders",
			{ items: [{ productId, quantity: 1 }], payment: TEST_CARD },
			bearer(customer.token)
		);
		if (res.status === 201) confirmedIds.push(res.body.id);
		return res;
	};
	for (let i = 0; i < 5; i++) expect((await order()).status).toBe(201);

	const { answers, faultAt } = await runLoad({
		gateways: new Gateways([c.base]),
		concurrency: 8,
		durationMs: 8000,
		request: () => ({ what: "order", send: () => order() }),
		// The leader of the orders' stream: its events must survive a leader election.
		fault: {
			atMs: 2000,
			run: async () => killServer(servers[await streamLeader(servers, "_ORDER")])
		}
	});
	const failed = answers.filter(a => a.status !== 201);
	const report = `${summary(answers)}\nkill at ${faultAt} ms\n${c.logs().slice(-4000)}`;
	// Only requests around the reconnect may fail; the last 3 s of the load are all answered.
	expect({ lateFailures: failed.filter(a => a.startedAt > faultAt! + 3000).length }).toEqual({
		lateFailures: 0,
		...(failed.some(a => a.startedAt > faultAt! + 3000) ? { report } : {})
	});
	expect(answers.filter(a => a.startedAt > faultAt! + 3000).length).toBeGreaterThan(0);
	// A failure is an answer, never a hang.
	expect(Math.max(...answers.map(a => a.ms))).toBeLessThan(11_000);

	// Every confirmed order's event reached notifications, once.
	const toldOf = async () =>
		(await allRows(c, customer.token, "/notifications")).filter(
			n => n.kind === "order.confirmed"
		);
	await until(
		c,
		"every confirmed order told",
		async () => {
			const told = new Set((await toldOf()).map(n => n.orderId));
			return confirmedIds.every(id => told.has(id));
		},
		15_000
	).catch(async err => {
		const told = new Set((await toldOf()).map(n => n.orderId));
		const missing = confirmedIds.filter(id => !told.has(id));
		const untold = `${missing.length} (${(
			await Promise.all(
				missing.map(
					async id =>
						(
							await api(
								c.base,
								"GET",
								`/orders/${id}`,
								undefined,
								bearer(customer.token)
							)
						).body.status
				)
			)
		).join(",")})`;
		throw new Error(
			`${untold} of ${confirmedIds.length} untold\n${await jetStreamState(servers)}\n${err}`
		);
	});
	await new Promise(r => setTimeout(r, 1000)); // a late duplicate would show by now
	const told = await toldOf();
	expect(new Set(told.map(n => n.orderId)).size).toBe(told.length);
	console.log(`target 5: ${summary(answers)}; ${confirmedIds.length} confirmed, each told once`);
});
