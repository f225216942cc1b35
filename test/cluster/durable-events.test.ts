/**
 * Nothing lost: durable domain events on JetStream and sagas that survive crashes. Every service
 * in its own process over a nats-server (with JetStream) that this test starts; orders and
 * notifications keep their data in NeDB files so they can be killed and restarted.
 */
import { connect, JSONCodec, type NatsConnection } from "nats";
import type { RunningNode } from "../../scripts/cluster-lib";
import {
	allRows,
	api,
	bearer,
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

jest.setTimeout(180_000);

/** These keep their data on disk across restarts (same node id, same dir). */
const PERSISTENT = { NODE_ENV: "development", PASSWORD_HASH_COST: "1024" };
const MAX_ATTEMPTS = 3;

let c: Cluster;
let nc: NatsConnection;
const nodes: Record<string, RunningNode> = {};
let adminToken: string;
const codec = JSONCodec<Record<string, unknown>>();

function start(name: string, env: Record<string, string> = {}) {
	const nodeID = `${name}-1`;
	const persistent = ["orders", "notifications", "payments"].includes(name) ? PERSISTENT : {};
	nodes[nodeID] = c.start({ services: name, nodeID, env: { ...persistent, ...env } });
	return nodes[nodeID];
}
const kill = (name: string, signal: NodeJS.Signals = "SIGKILL") =>
	c.stop(nodes[`${name}-1`], signal);
const wait = <T>(what: string, check: () => Promise<T | false | null | undefined>, ms?: number) =>
	until(c, what, check, ms);

const subject = (event: string) => `shopmesh.${c.namespace}.${event}`;

async function notificationsOf(token: string): Promise<any[]> {
	return allRows(c, token, "/notifications");
}

beforeAll(async () => {
	c = await createCluster({
		REQUEST_TIMEOUT: "3000",
		SEED_CATALOG: "false",
		EVENTS_MAX_ATTEMPTS: String(MAX_ATTEMPTS),
		EVENTS_BACKOFF_MS: "100",
		EVENTS_RELAY_INTERVAL_MS: "200",
		ORDER_STUCK_AFTER_MS: "1500",
		ORDER_RECOVERY_INTERVAL_MS: "500",
		PAYMENT_LEASE_MS: "1000",
		PAYMENT_RECOVERY_INTERVAL_MS: "500",
		RATE_LIMIT_MAX: "0"
	});
	for (const name of ["users", "inventory", "payments", "orders", "notifications", "api"])
		start(name);
	await waitForHttp(`${c.base}/health`, 60_000);
	await ready(c, ["users", "inventory", "payments", "orders", "notifications"], 60_000);
	adminToken = await loginAdmin(c);
	nc = await connect({ servers: c.nats.url });
}, 120_000);

afterAll(async () => {
	await nc?.close();
	await c?.stopAll();
});

describe("durable domain events", () => {
	it("delivers every event to a consumer that was down, each exactly once", async () => {
		await kill("notifications", "SIGTERM");
		const productId = await newProduct(c, adminToken, 100);
		const customers = await Promise.all(Array.from({ length: 20 }, () => newCustomer(c)));
		const orders = await Promise.all(customers.map(cu => placeOrder(c, cu.token, productId)));
		expect(orders.map(o => o.status)).toEqual(Array(20).fill(201));

		start("notifications");
		for (const [i, cu] of customers.entries())
			await wait(`customer ${i} notified`, async () => {
				const rows = await notificationsOf(cu.token);
				return rows.some(
					n => n.orderId === orders[i].body.id && n.kind === "order.confirmed"
				);
			});
		await new Promise(r => setTimeout(r, 1000)); // a late duplicate would show by now
		for (const [i, cu] of customers.entries()) {
			const confirmed = (await notificationsOf(cu.token)).filter(
				n => n.orderId === orders[i].body.id && n.kind === "order.confirmed"
			);
			expect(confirmed).toHaveLength(1);
		}
	});

	it("changes state once when the same event is delivered twice", async () => {
		const cu = await newCustomer(c);
		const orderId = `dup${Date.now()}`;
		const event = {
			orderId,
			userId: cu.id,
			status: "confirmed",
			totalCents: 1500,
			currency: "EUR",
			items: [],
			eventId: `evt-${orderId}`,
			occurredAt: new Date().toISOString()
		};
		const js = nc.jetstream();
		// Two different message ids: JetStream stores both, so both are delivered.
		await js.publish(subject("order.confirmed"), codec.encode(event), {
			msgID: `${orderId}-a`
		});
		await js.publish(subject("order.confirmed"), codec.encode(event), {
			msgID: `${orderId}-b`
		});

		const shipments = () =>
			api(c.base, "GET", `/shipments?orderId=${orderId}`, undefined, bearer(adminToken));
		await wait("the shipment exists", async () => (await shipments()).body.total === 1);
		await wait("the customer is notified", async () =>
			(await notificationsOf(cu.token)).some(n => n.orderId === orderId)
		);
		await new Promise(r => setTimeout(r, 1000));
		expect((await shipments()).body.total).toBe(1);
		expect((await notificationsOf(cu.token)).filter(n => n.orderId === orderId)).toHaveLength(
			1
		);
	});

	it("moves a poison message to the dead-letter stream and keeps consuming", async () => {
		const poisonId = `poison-${Date.now()}`;
		// No userId: every consumer of order.confirmed refuses it, on every attempt.
		await nc
			.jetstream()
			.publish(
				subject("order.confirmed"),
				codec.encode({ eventId: poisonId, orderId: "p1" }),
				{
					msgID: poisonId
				}
			);

		const cu = await newCustomer(c);
		const productId = await newProduct(c, adminToken, 5);
		const order = await placeOrder(c, cu.token, productId);
		expect(order.status).toBe(201);
		await wait("the next event is handled", async () =>
			(await notificationsOf(cu.token)).some(n => n.orderId === order.body.id)
		);

		const jsm = await nc.jetstreamManager();
		const stream = `SHOPMESH_${c.namespace}_DLQ`.toUpperCase();
		const dead = await wait("the poison message is dead-lettered", () =>
			jsm.streams.getMessage(stream, {
				last_by_subj: subject("dlq.notifications.order.confirmed")
			})
		);
		expect(codec.decode(dead.data).eventId).toBe(poisonId);
		expect(dead.header.get("Shopmesh-Attempts")).toBe(String(MAX_ATTEMPTS));
		expect(dead.header.get("Shopmesh-Error")).toMatch(/userId/);
	});
});

describe("sagas that survive crashes", () => {
	async function crashAt(step: "authorize" | "capture") {
		await kill("orders", "SIGTERM");
		start("orders", { ORDERS_FAULT_BEFORE_STEP: step });
		await ready(c, ["orders"]);
		const cu = await newCustomer(c);
		const productId = await newProduct(c, adminToken, 5, 1000);
		const res = await placeOrder(c, cu.token, productId, 2);
		expect(res.status).not.toBe(201); // the process died under the request
		await nodes["orders-1"].exited;

		start("orders");
		await ready(c, ["orders"]);
		const [order] = await wait(`the order crashed before ${step} is settled`, async () => {
			const rows = await allRows(c, cu.token, "/orders");
			return rows.length === 1 && rows[0].status !== "pending" ? rows : null;
		});
		const payments = await allRows(c, cu.token, `/payments?orderId=${order.id}`);
		return { order, stock: await stockOf(c, productId), payments };
	}

	it("compensates a saga that died after reserving: stock back, nothing captured", async () => {
		const { order, stock, payments } = await crashAt("authorize");
		expect(order.status).toBe("rejected");
		expect(stock).toBe(5);
		expect(payments.every(p => !p.capturedCents)).toBe(true);
	});

	it("resumes a saga that died after authorizing: captured once, stock taken once", async () => {
		const { order, stock, payments } = await crashAt("capture");
		expect(order.status).toBe("confirmed");
		expect(stock).toBe(3);
		expect(payments).toHaveLength(1);
		expect(payments[0]).toMatchObject({ status: "captured", capturedCents: 2000 });
	});

	it("finishes a capture whose payments process died mid-way, then refunds the rejected order", async () => {
		await kill("payments", "SIGTERM");
		start("payments", { PAYMENTS_FAULT_AFTER_OPERATION: "capture" });
		await ready(c, ["payments"]);
		const cu = await newCustomer(c);
		const productId = await newProduct(c, adminToken, 5, 1000);
		const res = await placeOrder(c, cu.token, productId, 2);
		// payments died with the capture written and not yet asked of the processor: whether
		// the money moved is unknown to orders, which rejects the order and owes the payment's
		// cancellation.
		expect(res.status).not.toBe(201);
		await nodes["payments-1"].exited;

		start("payments");
		await ready(c, ["payments"]);
		// payments finishes the capture under its key (the processor may have made it); the
		// owed void then finds it captured, and orders refunds it instead.
		const [payment] = await wait("the payment is settled", async () => {
			const rows = await allRows(c, cu.token, "/payments");
			return rows.length === 1 && rows[0].status === "refunded" ? rows : null;
		});
		expect(payment).toMatchObject({ capturedCents: 2000, refundedCents: 2000 });
		expect(payment.history.map((h: { status: string }) => h.status)).toEqual([
			"pending",
			"authorized",
			"captured",
			"refunded"
		]);
		const [order] = await allRows(c, cu.token, "/orders");
		expect(order.status).toBe("rejected");
		expect(await stockOf(c, productId)).toBe(5);
	});
});

describe("soak", () => {
	it("keeps stock, money and notifications consistent while nodes are killed at random", async () => {
		const TOTAL = 500;
		const INITIAL = 600;
		const productId = await newProduct(c, adminToken, INITIAL, 700);
		const customers = await Promise.all(Array.from({ length: 10 }, () => newCustomer(c)));

		let attempts = 0;
		const statuses: number[] = [];
		const workers = customers.map(async cu => {
			while (attempts < TOTAL) {
				attempts++;
				const { status } = await placeOrder(c, cu.token, productId);
				statuses.push(status);
				// A node is down: a real client backs off instead of burning its requests.
				if (status !== 201) await new Promise(r => setTimeout(r, 250));
			}
		});
		const jitter = (min: number, max: number) =>
			new Promise(r => setTimeout(r, min + Math.random() * (max - min)));
		const chaos = (async () => {
			await jitter(300, 1500);
			await kill("notifications");
			await jitter(500, 1500);
			start("notifications");
			await jitter(300, 1500);
			await kill("orders");
			await jitter(500, 1500);
			start("orders");
			await jitter(300, 1000);
			await kill("notifications");
			await jitter(300, 1000);
			start("notifications");
		})();
		await Promise.all([...workers, chaos]);
		await ready(c, ["orders", "notifications"]);
		const counts = statuses.reduce<Record<number, number>>(
			(acc, s) => ({ ...acc, [s]: (acc[s] ?? 0) + 1 }),
			{}
		);
		expect([counts, statuses.filter(s => s === 201).length > TOTAL / 2]).toEqual([
			counts,
			true
		]);

		// Recovery settles whatever the killed orders process left half-way.
		const orders = await wait(
			"no order is left pending",
			async () => {
				const rows = await allRows(c, adminToken, "/orders");
				return rows.some(o => o.status === "pending") ? null : rows;
			},
			60_000
		);
		const mine = orders.filter(o => o.items[0]?.productId === productId);
		expect(mine.filter(o => o.status !== "confirmed" && o.status !== "rejected")).toEqual([]);
		const confirmed = mine.filter(o => o.status === "confirmed");
		const sold = confirmed.reduce((n, o) => n + o.items[0].quantity, 0);
		expect((await stockOf(c, productId)) + sold).toBe(INITIAL);

		const payments = await allRows(c, adminToken, "/payments");
		const byOrder = new Map(payments.map(p => [p.orderId, p]));
		const net = (id: string) => {
			const p = byOrder.get(id);
			return p ? (p.capturedCents ?? 0) - (p.refundedCents ?? 0) : 0;
		};
		expect(confirmed.reduce((n, o) => n + net(o.id), 0)).toBe(
			confirmed.reduce((n, o) => n + o.totalCents, 0)
		);
		expect(mine.filter(o => o.status === "rejected").every(o => net(o.id) === 0)).toBe(true);

		for (const cu of customers) {
			const theirs = new Set(confirmed.filter(o => o.userId === cu.id).map(o => o.id));
			const notes = await wait(
				"every confirmed order is notified",
				async () => {
					const rows = (await notificationsOf(cu.token)).filter(
						n => n.kind === "order.confirmed" && theirs.has(n.orderId)
					);
					return rows.length >= theirs.size ? rows : null;
				},
				60_000
			);
			expect(notes).toHaveLength(theirs.size); // each exactly once
		}
	});
});
