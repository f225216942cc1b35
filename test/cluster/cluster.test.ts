/**
 * Cluster mode: every service in its own process, joined by a real nats-server that this test
 * starts on a free loopback port. Each step is bounded in time; every process is killed at the end.
 */
import {
	api,
	bearer,
	createCluster,
	loginAdmin,
	newProduct as createProduct,
	placeOrder as placeOrderAs,
	ready as readyIn,
	stockOf as stockIn,
	until,
	waitForHttp,
	type Cluster
} from "../helpers/cluster";
import type { RunningNode } from "../../scripts/cluster-lib";

jest.setTimeout(90_000);

let c: Cluster;
const nodes: Record<string, RunningNode> = {};
let adminToken: string;
let customerToken: string;

function start(name: string, nodeID = `${name}-1`, env: Record<string, string> = {}) {
	nodes[nodeID] = c.start({ services: name, nodeID, env });
	return nodes[nodeID];
}

const wait = <T>(what: string, check: () => Promise<T | false | null | undefined>, ms?: number) =>
	until(c, what, check, ms);
const placeOrder = (productId: string, quantity = 1) =>
	placeOrderAs(c, customerToken, productId, quantity);

beforeAll(async () => {
	c = await createCluster({
		REQUEST_TIMEOUT: "3000",
		RESPONSE_NODE_HEADER: "true",
		SEED_CATALOG: "true",
		// The load below comes from one client address: the per-client rate limit is not under test.
		RATE_LIMIT_MAX: "0"
	});
	for (const name of ["users", "inventory", "payments", "orders", "notifications", "api"])
		start(name);
	await waitForHttp(`${c.base}/health`, 60_000);
	await readyIn(c, ["users", "inventory", "payments", "orders", "notifications"]);

	adminToken = await loginAdmin(c);
	const email = `cluster-${Date.now()}@shopmesh.test`;
	expect(
		(await api(c.base, "POST", "/users", { email, password: "cluster-pass-1", name: "C" }))
			.status
	).toBe(201);
	customerToken = (
		await api(c.base, "POST", "/users/login", { email, password: "cluster-pass-1" })
	).body.token;
}, 120_000);

afterAll(async () => {
	await c?.stopAll();
});

describe("cluster over NATS", () => {
	it("discovers every service in its own process and places a full order through the gateway", async () => {
		const state = await api(c.base, "GET", "/ready");
		expect(state.status).toBe(200);
		const productId = await createProduct(c, adminToken, 5);
		const res = await placeOrder(productId, 2);
		expect(res.status).toBe(201);
		expect(res.body.status).toBe("confirmed");
		expect(res.headers["x-node-id"]).toBe("orders-1");
		expect(await stockIn(c, productId)).toBe(3);
		const notes = await wait("the customer is notified", async () => {
			const n = await api(c.base, "GET", "/notifications", undefined, bearer(customerToken));
			return n.body.rows?.length ? n.body.rows : null;
		});
		expect(notes[0].orderId).toBe(res.body.id);
	});

	it("keeps confirming orders with notifications killed", async () => {
		await c.stop(nodes["notifications-1"], "SIGKILL");
		const productId = await createProduct(c, adminToken, 5);
		for (let i = 0; i < 3; i++) {
			const res = await placeOrder(productId);
			expect(res.status).toBe(201);
			expect(res.ms).toBeLessThan(2000);
		}
		start("notifications");
		await readyIn(c, ["notifications"]);
	});

	it("answers 503 fast with payments killed, reserves nothing, and recovers when payments returns", async () => {
		const productId = await createProduct(c, adminToken, 5);
		await c.stop(nodes["payments-1"], "SIGKILL");
		// The gateway learns of the dead node by its missing heartbeats (HEARTBEAT_TIMEOUT).
		await wait("payments leaves the registry", async () => {
			const r = await api(c.base, "GET", "/ready");
			return r.status === 503 && r.body.missing.includes("payments");
		});
		for (let i = 0; i < 5; i++) {
			const res = await placeOrder(productId);
			expect([res.status, res.body.type]).toEqual([503, "SERVICE_UNAVAILABLE"]);
			expect(res.ms).toBeLessThan(2500);
		}
		expect(await stockIn(c, productId)).toBe(5);

		start("payments");
		const ok = await wait("orders recover by themselves", async () => {
			const res = await placeOrder(productId);
			return res.status === 201 ? res : null;
		});
		expect(ok.body.status).toBe("confirmed");
		expect(await stockIn(c, productId)).toBe(4);
	});

	it("spreads calls over two instances and loses no request when one stops gracefully under load", async () => {
		start("inventory", "inventory-2");
		const seen = await wait("both inventory instances serve", async () => {
			const served = new Set<string>();
			for (let i = 0; i < 10; i++) {
				const res = await api(c.base, "GET", "/products?pageSize=5");
				expect(res.status).toBe(200);
				served.add(String(res.headers["x-node-id"]));
			}
			return served.size === 2 ? served : null;
		});
		expect([...seen].sort()).toEqual(["inventory-1", "inventory-2"]);
		// Both instances open one SQLite file: one set of data, no fork to report.
		expect(c.logs()).not.toMatch(/DATA FORK/);

		// Load from 8 concurrent clients while inventory-2 receives SIGTERM.
		const statuses: number[] = [];
		let running = true;
		const clients = Array.from({ length: 8 }, async () => {
			while (running)
				statuses.push((await api(c.base, "GET", "/products?pageSize=5")).status);
		});
		await new Promise(r => setTimeout(r, 500));
		const exitCode = await c.stop(nodes["inventory-2"], "SIGTERM");
		await new Promise(r => setTimeout(r, 1000));
		running = false;
		await Promise.all(clients);

		expect(exitCode).toBe(0);
		expect(statuses.length).toBeGreaterThan(20);
		expect(statuses.filter(s => s !== 200)).toEqual([]);
		const after = await api(c.base, "GET", "/products?pageSize=5");
		expect([after.status, after.headers["x-node-id"]]).toEqual([200, "inventory-1"]);
	});

	it("reconnects every node after nats-server restarts, without restarting any node", async () => {
		await c.nats.stop();
		await new Promise(r => setTimeout(r, 1000));
		await c.nats.restart();
		const productId = await wait("the cluster serves orders again", async () => {
			const res = await api(
				c.base,
				"POST",
				"/products",
				{
					sku: `R-${Date.now()}`,
					name: "After restart",
					priceCents: 100,
					currency: "EUR",
					stock: 3
				},
				bearer(adminToken)
			);
			return res.status === 201 ? (res.body.id as string) : null;
		});
		const res = await wait("an order is confirmed", async () => {
			const r = await placeOrder(productId);
			return r.status === 201 ? r : null;
		});
		expect(res.body.status).toBe("confirmed");
		for (const node of Object.values(nodes).filter(n => n.spec.nodeID !== "inventory-2"))
			if (!["notifications-1", "payments-1"].includes(node.spec.nodeID))
				expect(node.proc.exitCode).toBeNull();
	});
});
