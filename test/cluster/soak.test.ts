/**
 * Soak, bounded: 500 orders while one of two orders instances (one SQLite file) is killed with
 * SIGKILL and restarted at random. Afterwards stock and money reconcile exactly, every confirmed
 * order is notified once, and no order is left pending.
 */
import type { RunningNode } from "../../scripts/cluster-lib";
import {
	allRows,
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

jest.setTimeout(240_000);

const ORDERS = 500;
const STOCK = 10_000;
const PRICE = 300;

let c: Cluster;
let adminToken: string;
const orders: Record<string, RunningNode> = {};

const startOrders = (nodeID: string) => (orders[nodeID] = c.start({ services: "orders", nodeID }));

beforeAll(async () => {
	c = await createCluster({
		REQUEST_TIMEOUT: "5000",
		SEED_CATALOG: "false",
		RATE_LIMIT_MAX: "0",
		// A saga cut short by a kill is finished or undone within seconds, not minutes.
		ORDER_STUCK_AFTER_MS: "3000",
		ORDER_RECOVERY_INTERVAL_MS: "1000",
		PAYMENT_RECOVERY_INTERVAL_MS: "1000",
		PAYMENT_LEASE_MS: "3000"
	});
	for (const name of ["users", "inventory", "payments", "notifications", "api"])
		c.start({ services: name, nodeID: `${name}-1` });
	startOrders("orders-1");
	startOrders("orders-2");
	await waitForHttp(`${c.base}/health`, 90_000);
	await ready(c, ["users", "inventory", "payments", "orders", "notifications"], 90_000);
	adminToken = await loginAdmin(c);
}, 180_000);

afterAll(async () => {
	await c?.stopAll();
});

it("reconciles stock, money and notifications after 500 orders with orders instances killed at random", async () => {
	const productId = await newProduct(c, adminToken, STOCK, PRICE);
	const customers = await Promise.all(Array.from({ length: 10 }, () => newCustomer(c)));

	// The chaos: every 1-2 s one orders instance dies (SIGKILL) and comes back a second later.
	let loading = true;
	const chaos = (async () => {
		while (loading) {
			await new Promise(r => setTimeout(r, 1000 + Math.random() * 1000));
			if (!loading) break;
			const victim = Math.random() < 0.5 ? "orders-1" : "orders-2";
			await c.stop(orders[victim], "SIGKILL");
			await new Promise(r => setTimeout(r, 1000));
			startOrders(victim);
		}
	})();

	let next = 0;
	const statuses: number[] = [];
	await Promise.all(
		Array.from({ length: 8 }, async (_, w) => {
			while (next < ORDERS) {
				next++;
				const res = await placeOrder(
					c,
					customers[w % customers.length].token,
					productId
				).catch(() => ({ status: 0 }));
				statuses.push(res.status);
				// A client told "try again shortly" (503) waits a moment, as a real one does: a
				// loop asking again at once counted the instants with no orders instance up, not
				// the orders.
				if (res.status === 503) await new Promise(r => setTimeout(r, 100));
			}
		})
	);
	loading = false;
	await chaos;
	expect(statuses).toHaveLength(ORDERS);
	// Most orders got through; those cut short are settled by the sweeps below.
	expect(statuses.filter(s => s === 201).length).toBeGreaterThan(ORDERS / 2);
	expect(statuses.filter(s => s >= 400 && s < 500 && s !== 409)).toEqual([]);

	// Nothing stays pending: every saga ends confirmed or rejected.
	const all = await until(
		c,
		"every order settled",
		async () => {
			const rows = await allRows(c, adminToken, "/orders");
			return rows.some(o => o.status === "pending") ? null : rows;
		},
		60_000
	);
	const mine = all.filter(o =>
		o.items.some((i: { productId: string }) => i.productId === productId)
	);
	const confirmed = mine.filter(o => o.status === "confirmed");
	expect(confirmed.length).toBeGreaterThanOrEqual(statuses.filter(s => s === 201).length);

	// Stock: exactly the confirmed orders' units are gone.
	await until(c, "stock reconciles", async () =>
		(await stockOf(c, productId)) === STOCK - confirmed.length ? true : null
	);

	// Money: captured minus refunded is exactly the confirmed orders' total.
	const ids = new Set(mine.map(o => o.id));
	const netCents = async () =>
		(await allRows(c, adminToken, "/payments"))
			.filter(p => ids.has(p.orderId))
			.reduce((sum, p) => sum + (p.capturedCents ?? 0) - (p.refundedCents ?? 0), 0);
	let net = 0;
	await until(c, "money reconciles", async () => {
		net = await netCents();
		return net === confirmed.length * PRICE ? true : null;
	});
	expect(net).toBe(confirmed.length * PRICE);

	// Every confirmed order told once.
	const byUser = new Map<string, any[]>();
	for (const cu of customers) byUser.set(cu.id, []);
	await until(
		c,
		"every confirmed order notified",
		async () => {
			for (const cu of customers)
				byUser.set(
					cu.id,
					(await allRows(c, cu.token, "/notifications")).filter(
						n => n.kind === "order.confirmed"
					)
				);
			return confirmed.every(o => byUser.get(o.userId)?.some(n => n.orderId === o.id))
				? true
				: null;
		},
		60_000
	);
	for (const o of confirmed)
		expect(byUser.get(o.userId)!.filter(n => n.orderId === o.id)).toHaveLength(1);
});
