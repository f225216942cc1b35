/// <reference lib="dom" />
/**
 * The operator console against a real cluster: a process per service over a nats-server this test
 * starts on a free loopback port. notifications is killed (SIGKILL) and started again.
 */
import type { Browser, Page } from "playwright-core";
import type { RunningNode } from "../../scripts/cluster-lib";
import {
	CLUSTER_ADMIN,
	createCluster,
	loginAdmin,
	newCustomer,
	newProduct,
	placeOrder,
	ready,
	waitForHttp,
	type Cluster
} from "../helpers/cluster";
import { launch, openPage, screenshot, signIn } from "./browser";

jest.setTimeout(120_000);

const SIX = ["api", "inventory", "notifications", "orders", "payments", "users"];
let c: Cluster;
let browser: Browser;
const nodes: Record<string, RunningNode> = {};

const start = (services: string, nodeID: string) => (nodes[nodeID] = c.start({ services, nodeID }));

/** Resolves once the page shows `service` with `instances`; the milliseconds it took. */
async function shows(page: Page, service: string, instances: number, ms: number) {
	const t0 = Date.now();
	await page.waitForSelector(
		`#services li[data-service="${service}"][data-instances="${instances}"]`,
		{
			timeout: ms
		}
	);
	return Date.now() - t0;
}

beforeAll(async () => {
	c = await createCluster({ RATE_LIMIT_MAX: "0" });
	for (const name of ["users", "inventory", "payments", "orders", "notifications"])
		start(name, `${name}-1`);
	// The console (services/api/ops) comes with the gateway.
	start("api", "api-1");
	await waitForHttp(`${c.base}/health`, 60_000);
	await ready(c, ["users", "inventory", "payments", "orders", "notifications"]);
	browser = await launch();
}, 120_000);

afterAll(async () => {
	await browser?.close();
	await c?.stopAll();
});

describe("the operator console on a cluster over NATS", () => {
	it("shows notifications gone within 3 s of its kill, back when restarted, and orders in the traffic chart", async () => {
		const { page, errors } = await openPage(browser);
		await page.goto(`${c.base}/ops`);
		await signIn(page, CLUSTER_ADMIN.email, CLUSTER_ADMIN.password);
		for (const s of SIX) await shows(page, s, 1, 20_000);
		const nodeRows = await page.$$eval("#nodes tbody tr", rows =>
			rows.map(r => (r as any).dataset.node)
		);
		expect(nodeRows).toEqual(expect.arrayContaining(["api-1", "notifications-1", "orders-1"]));

		const admin = await loginAdmin(c);
		const productId = await newProduct(c, admin, 20);
		const customer = await newCustomer(c);
		for (let i = 0; i < 4; i++)
			expect((await placeOrder(c, customer.token, productId)).status).toBe(201);
		await page.waitForFunction(
			() =>
				/\borders\.create\b/.test(
					document.getElementById("traffic-panel")!.dataset.actions ?? ""
				),
			undefined,
			{ timeout: 10_000 }
		);

		nodes["notifications-1"].proc.kill("SIGKILL");
		const goneMs = await shows(page, "notifications", 0, 3000);
		expect(goneMs).toBeLessThan(3000);
		await screenshot(page, "ops-cluster-notifications-killed");

		start("notifications", "notifications-1");
		await shows(page, "notifications", 1, 30_000);
		await page.waitForSelector('#faults li[data-kind="node-unresponsive"]');
		await screenshot(page, "ops-cluster-notifications-back");
		expect(errors).toEqual([]);
		await page.close();
	});
});
