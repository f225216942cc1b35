/**
 * The embedded database under growth and scale-out: orders at c64 with one and with two orders
 * processes on one SQLite file (cluster), the embedded node's RSS and start-up time and each
 * cluster node's RSS after a bounded number of orders (100 000 in a full run).
 */
import { performance } from "node:perf_hooks";
import type { BenchContext } from "../lib/context";
import { measureHttp } from "../lib/context";
import { httpLoad } from "../lib/load";
import { rssMB, sleep } from "../lib/procs";
import { GROUPS, fromLoad } from "../lib/report";
import { orderLoad, startCluster, startEmbedded, type Shop, type Stack } from "../lib/stack";
import { p99Under, seed } from "./shop";

const ORDERS_FULL = 100_000;
const ORDERS_QUICK = 5_000;

export async function storage(ctx: BenchContext): Promise<void> {
	await scaleOrders(ctx);
	await growth(ctx);
}

/** Orders c64 through one orders process, then through two sharing its SQLite file. */
async function scaleOrders(ctx: BenchContext): Promise<void> {
	ctx.log("storage: cluster, 1 then 2 orders instances on one SQLite file");
	const stack = await startCluster({ cacher: "Memory", profileDir: ctx.profileDir });
	try {
		const shop = await seed(stack);
		const one = await measureHttp(
			ctx,
			"orders c64, 1 orders instance",
			orderLoad(stack.base, shop)
		);
		ctx.results.add(
			fromLoad(one, {
				id: "storage.orders1.c64",
				group: GROUPS.write,
				name: "POST /api/orders, cluster, 1 orders instance, c64",
				unit: "orders/s"
			})
		);
		stack.addNode!("orders", "orders-2");
		await sleep(5000); // discovered by the gateway and warm
		const two = await measureHttp(
			ctx,
			"orders c64, 2 orders instances",
			orderLoad(stack.base, shop)
		);
		const row = fromLoad(two, {
			id: "storage.orders2.c64",
			group: GROUPS.write,
			name: "POST /api/orders, cluster, 2 orders instances on one SQLite file, c64",
			unit: "orders/s",
			baselineId: "storage.orders1.c64"
		});
		row.targets = [p99Under(row, 500)];
		ctx.results.add(row);
	} finally {
		await stack.stop();
	}
}

/** Orders at c64 until `count` are placed; the RSS of every node after the first tenth. */
async function placeOrders(ctx: BenchContext, stack: Stack, shop: Shop, count: number) {
	let placed = 0;
	let early: { placed: number; rss: (number | undefined)[] } | undefined;
	while (placed < count) {
		const res = await httpLoad({ ...orderLoad(stack.base, shop), durationS: 10 });
		placed += res.total - res.non2xx - res.errors;
		const rss = stack.nodes.map(n => rssMB(n.proc.pid));
		ctx.log(`  ${placed} of ${count} orders placed, RSS ${rss.join(" / ")} MB`);
		if (res.total === 0) throw new Error("no orders placed");
		if (!early && placed >= count / 10) early = { placed, rss };
	}
	return { placed, early: early! };
}

/**
 * RSS of every node of `stack` idle, then after `count` orders: 2 s after the load, and at rest
 * (up to REST_S later, once V8's memory reducer has collected what the load left in the old
 * generation; nothing forces a GC). Under load the heap's young generation and the caches grow
 * once; what grows with the data is what keeps growing after the first tenth of the orders.
 */
async function rssGrowth(ctx: BenchContext, stack: Stack, count: number) {
	const shop = await seed(stack);
	await sleep(1000);
	const names = stack.nodes.map(n => (stack.kind === "embedded" ? "embedded" : n.spec.nodeID));
	const idle = stack.nodes.map(n => rssMB(n.proc.pid)!);
	const { placed, early } = await placeOrders(ctx, stack, shop, count);
	await sleep(2000);
	const after = stack.nodes.map(n => rssMB(n.proc.pid)!);
	const rest = await atRest(stack, idle);
	stack.nodes.forEach((node, i) => {
		const id = `storage.rss.${stack.kind === "embedded" ? "" : `${names[i]}.`}`;
		const firstTenth = early.rss[i]!;
		ctx.results.add({
			id: `${id}idle`,
			group: GROUPS.memory,
			name: `RSS ${names[i]}, idle (seeded shop)`,
			unit: "MB",
			value: idle[i]
		});
		ctx.results.add({
			id: `${id}early`,
			group: GROUPS.memory,
			name: `RSS ${names[i]}, under load after the first ${early.placed} orders`,
			unit: "MB",
			value: firstTenth,
			baselineId: `${id}idle`
		});
		ctx.results.add({
			id: `${id}after`,
			group: GROUPS.memory,
			name: `RSS ${names[i]}, 2 s after ${placed} orders`,
			unit: "MB",
			value: after[i],
			baselineId: `${id}idle`,
			targets: [
				{ text: "≤ 1.5x idle", holds: after[i] <= idle[i] * 1.5 },
				{
					text: `≤ 1.2x the RSS after the first tenth (${firstTenth} MB)`,
					holds: after[i] <= firstTenth * 1.2
				}
			]
		});
		ctx.results.add({
			id: `${id}rest`,
			group: GROUPS.memory,
			name:
				`RSS ${names[i]}, at rest after ${placed} orders (` +
				(rest.settledS[i] == null
					? `not under 1.5x idle within ${REST_S} s)`
					: `under 1.5x idle ${rest.settledS[i]} s after the load)`),
			unit: "MB",
			value: rest.rss[i],
			baselineId: `${id}idle`,
			targets: [{ text: "≤ 1.5x idle", holds: rest.rss[i] <= idle[i] * 1.5 }]
		});
	});
	return placed;
}

/**
 * How long "at rest" may take: V8's memory reducer looks at the allocation rate every 8 s
 * (--memory-reducer-delay-ms) and collects at the first look that finds the node idle
 * (platform/runtime/idle-memory.ts); the sampling stops once every node is under 1.5x.
 */
const REST_S = 75;

/**
 * Each node's RSS once the load is over: sampled every second until every node is under 1.5x its
 * idle RSS, or for REST_S; the last sample, and the second at which each node first was.
 */
async function atRest(stack: Stack, idle: number[]) {
	const settledS: (number | undefined)[] = idle.map(() => undefined);
	let rss: number[] = [];
	for (let s = 1; s <= REST_S && settledS.some(at => at == null); s++) {
		await sleep(1000);
		rss = stack.nodes.map(n => rssMB(n.proc.pid)!);
		rss.forEach((v, i) => {
			if (settledS[i] == null && v <= idle[i] * 1.5) settledS[i] = s + 2;
		});
	}
	return { rss, settledS };
}

/** RSS and start-up of the embedded node, and RSS of each cluster node, after many orders. */
async function growth(ctx: BenchContext): Promise<void> {
	const count = ctx.quick ? ORDERS_QUICK : ORDERS_FULL;
	ctx.log(`storage: embedded, ${count} orders, then a restart`);
	const stack = await startEmbedded({ cacher: "Memory", profileDir: ctx.profileDir });
	try {
		const placed = await rssGrowth(ctx, stack, count);
		const t0 = performance.now();
		await stack.restart("embedded", {});
		const startMs = performance.now() - t0;
		ctx.results.notes.push(
			`Embedded node restarted over ${placed} orders: stop and start until /api/ready ` +
				`${(startMs / 1000).toFixed(2)} s (target < 3 s); RSS after the restart ` +
				`${rssMB(stack.nodes[0].proc.pid)} MB.`
		);
	} finally {
		await stack.stop();
	}
	ctx.log(`storage: cluster, ${count} orders, RSS of each node`);
	const cluster = await startCluster({ cacher: "Memory", profileDir: ctx.profileDir });
	try {
		await rssGrowth(ctx, cluster, count);
	} finally {
		await cluster.stop();
	}
}
