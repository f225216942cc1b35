/**
 * Stateful services scaled by starting more processes: two orders, two inventory and two payments
 * processes on one host and one DATA_DIR (so one SQLite file per service), over a real NATS.
 */
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

jest.setTimeout(120_000);

let c: Cluster;
let adminToken: string;
const SCALED = ["orders", "inventory", "payments"];

beforeAll(async () => {
	c = await createCluster({
		REQUEST_TIMEOUT: "10000",
		RESPONSE_NODE_HEADER: "true",
		SEED_CATALOG: "false",
		RATE_LIMIT_MAX: "0"
	});
	for (const name of ["users", "notifications", "api"])
		c.start({ services: name, nodeID: `${name}-1` });
	for (const name of SCALED)
		for (const i of [1, 2]) c.start({ services: name, nodeID: `${name}-${i}` });
	await waitForHttp(`${c.base}/health`, 90_000);
	await ready(c, ["users", "inventory", "payments", "orders", "notifications"], 90_000);
	adminToken = await loginAdmin(c);
}, 180_000);

afterAll(async () => {
	await c?.stopAll();
});

/** The node ids that answered `n` GETs of `url`, all of which must be 200. */
async function answeredBy(url: string, token: string, n = 16): Promise<Set<string>> {
	const nodes = new Set<string>();
	for (let i = 0; i < n; i++) {
		const res = await api(c.base, "GET", url, undefined, bearer(token));
		expect(res.status).toBe(200);
		nodes.add(String(res.headers["x-node-id"]));
	}
	return nodes;
}

describe("two instances of orders, inventory and payments on one host", () => {
	it("serves an order placed through one instance from either, and spreads calls over both", async () => {
		const productId = await newProduct(c, adminToken, 10);
		const cu = await newCustomer(c);
		const placed = await placeOrder(c, cu.token, productId);
		// With the error's type and message when it is not (the nodes' logs too, for a 5xx).
		expect([placed.status, placed.body.status]).toEqual(
			placed.status === 201
				? [201, "confirmed"]
				: [201, `${placed.body.type}: ${placed.body.message}\n${c.logs()}`]
		);

		const orders = await until(c, "both orders instances answer", async () => {
			const seen = await answeredBy(`/orders/${placed.body.id}`, cu.token);
			return seen.size === 2 ? seen : null;
		});
		expect([...orders].sort()).toEqual(["orders-1", "orders-2"]);
		const products = await until(c, "both inventory instances answer", async () => {
			const seen = await answeredBy(`/products/${productId}`, cu.token);
			return seen.size === 2 ? seen : null;
		});
		expect([...products].sort()).toEqual(["inventory-1", "inventory-2"]);
		const payments = await until(c, "both payments instances answer", async () => {
			const seen = await answeredBy(`/payments?orderId=${placed.body.id}`, cu.token);
			return seen.size === 2 ? seen : null;
		});
		expect([...payments].sort()).toEqual(["payments-1", "payments-2"]);
		expect(c.logs()).not.toMatch(/DATA FORK/);
	});

	it("confirms exactly 4 of 40 racing orders for 4 units", async () => {
		const productId = await newProduct(c, adminToken, 4);
		const customers = await Promise.all(Array.from({ length: 8 }, () => newCustomer(c)));
		const results = await Promise.all(
			Array.from({ length: 40 }, (_, i) => placeOrder(c, customers[i % 8].token, productId))
		);
		const statuses = results.map(r => r.status);
		expect(statuses.filter(s => s === 201)).toHaveLength(4);
		expect(statuses.filter(s => s !== 201 && s !== 409)).toEqual([]);
		expect(
			results.filter(r => r.status === 409).every(r => r.body.type === "OUT_OF_STOCK")
		).toBe(true);
		expect(await stockOf(c, productId)).toBe(0);
	});

	it("cancels and refunds once each under racing requests", async () => {
		const productId = await newProduct(c, adminToken, 5, 2000);
		const cu = await newCustomer(c);
		const order = (await placeOrder(c, cu.token, productId, 2)).body;
		expect(order.status).toBe("confirmed");
		const cancels = await Promise.all(
			Array.from({ length: 8 }, () =>
				api(c.base, "POST", `/orders/${order.id}/cancel`, {}, bearer(cu.token))
			)
		);
		expect(cancels.filter(r => r.status === 200)).toHaveLength(1);
		expect(cancels.filter(r => r.status !== 200).map(r => r.status)).toEqual(
			Array(7).fill(409)
		);
		const payment = await until(c, "the cancelled order's refund", async () => {
			const [p] = (
				await api(
					c.base,
					"GET",
					`/payments?orderId=${order.id}`,
					undefined,
					bearer(cu.token)
				)
			).body.rows;
			return p?.status === "refunded" ? p : null;
		});
		expect(payment.refundedCents).toBe(4000);
		expect(await stockOf(c, productId)).toBe(5);

		// Admin refunds of one captured payment, racing: the money goes back once.
		const other = (await placeOrder(c, cu.token, productId, 1)).body;
		const [captured] = (
			await api(c.base, "GET", `/payments?orderId=${other.id}`, undefined, bearer(cu.token))
		).body.rows;
		const refunds = await Promise.all(
			Array.from({ length: 8 }, () =>
				api(c.base, "POST", `/payments/${captured.id}/refund`, {}, bearer(adminToken))
			)
		);
		// A full refund is idempotent: every racer is told of the one refund made.
		expect(refunds.map(r => r.status)).toEqual(Array(8).fill(200));
		const after = (
			await api(c.base, "GET", `/payments/${captured.id}`, undefined, bearer(adminToken))
		).body;
		expect([after.status, after.refundedCents, after.refunds.length]).toEqual([
			"refunded",
			2000,
			1
		]);
	});

	it("publishes each outbox event once: every confirmed order is notified exactly once", async () => {
		const productId = await newProduct(c, adminToken, 50);
		const customers = await Promise.all(Array.from({ length: 6 }, () => newCustomer(c)));
		const placed = await Promise.all(
			customers.map(cu =>
				placeOrder(c, cu.token, productId).then(r => ({ cu, order: r.body }))
			)
		);
		for (const { order } of placed) expect(order.status).toBe("confirmed");
		const confirmedOf = async (token: string, orderId: string) =>
			(await allRows(c, token, "/notifications")).filter(
				n => n.orderId === orderId && n.kind === "order.confirmed"
			);
		for (const { cu, order } of placed)
			await until(c, `order ${order.id} notified`, async () =>
				(await confirmedOf(cu.token, order.id)).length > 0 ? true : null
			);
		// Both orders instances relay and sweep the same outboxes: a duplicate would show by now.
		await new Promise(r => setTimeout(r, 2000));
		for (const { cu, order } of placed)
			expect(await confirmedOf(cu.token, order.id)).toHaveLength(1);
	});
});
