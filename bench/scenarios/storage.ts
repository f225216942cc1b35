/**
 * The embedded database under growth and scale-out: orders at c64 with one and with two orders
 * processes on one SQLite file (cluster), and the embedded node's RSS and start-up time after a
 * bounded number of orders (100 000 in a full run).
 */
import { performance } from "node:perf_hooks";
import type { BenchContext } from "../lib/context";
import { measureHttp } from "../lib/context";
import { httpLoad } from "../lib/load";
import { rssMB, sleep } from "../lib/procs";
import { GROUPS, fromLoad } from "../lib/report";
import { orderBody, startCluster, startEmbedded, type Shop, type Stack } from "../lib/stack";
import { p99Under, seed } from "./shop";

const ORDERS_FULL = 100_000;
const ORDERS_QUICK = 5_000;

/** POST /api/orders at c64 from every customer of the shop. */
function orderLoad(stack: Stack, shop: Shop) {
	return {
		url: `${stack.base}/orders`,
		connections: 64,
		method: "POST",
		headers: { "Content-Type": "application/json" },
		perConnection: (i: number) => ({
			headers: { Authorization: `Bearer ${shop.tokens[i % shop.tokens.length]}` },
			body: orderBody(shop.productIds[i % shop.productIds.length])
		})
	};
}

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
		const one = await measureHttp(ctx, "orders c64, 1 orders instance", orderLoad(stack, shop));
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
			orderLoad(stack, shop)
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

/** RSS and start-up of the embedded node before and after many orders. */
async function growth(ctx: BenchContext): Promise<void> {
	const count = ctx.quick ? ORDERS_QUICK : ORDERS_FULL;
	ctx.log(`storage: embedded, ${count} orders, then a restart`);
	const stack = await startEmbedded({ cacher: "Memory", profileDir: ctx.profileDir });
	try {
		const shop = await seed(stack);
		await sleep(1000);
		const idle = rssMB(stack.nodes[0].proc.pid)!;
		ctx.results.add({
			id: "storage.rss.idle",
			group: GROUPS.memory,
			name: "RSS embedded, idle (seeded shop)",
			unit: "MB",
			value: idle
		});
		// Bounded by count: orders at c64 until `count` have been placed.
		let placed = 0;
		let early: { placed: number; rss: number } | undefined;
		while (placed < count) {
			const res = await httpLoad({ ...orderLoad(stack, shop), durationS: 10 });
			placed += res.total - res.non2xx - res.errors;
			const rss = rssMB(stack.nodes[0].proc.pid)!;
			ctx.log(`  ${placed} of ${count} orders placed, RSS ${rss} MB`);
			if (res.total === 0) throw new Error("no orders placed");
			if (!early && placed >= count / 10) early = { placed, rss };
		}
		await sleep(2000);
		const after = rssMB(stack.nodes[0].proc.pid)!;
		// Under load the heap's young generation and the caches grow once; what grows with the
		// data is what keeps growing after the first tenth of the orders.
		ctx.results.add({
			id: "storage.rss.early",
			group: GROUPS.memory,
			name: `RSS embedded, under load after the first ${early!.placed} orders`,
			unit: "MB",
			value: early!.rss,
			baselineId: "storage.rss.idle"
		});
		ctx.results.add({
			id: "storage.rss.after",
			group: GROUPS.memory,
			name: `RSS embedded, after ${placed} orders`,
			unit: "MB",
			value: after,
			baselineId: "storage.rss.idle",
			targets: [
				{ text: "≤ 1.5x idle", holds: after <= idle * 1.5 },
				{
					text: `≤ 1.2x the RSS after the first tenth (${early!.rss} MB)`,
					holds: after <= early!.rss * 1.2
				}
			]
		});
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
}
