/**
 * Cluster mode (`npm run cluster`: one process per service over NATS): the gateway to a remote
 * action, the read path with and without the cacher, the write path at c1/16/64, and the RSS of
 * every node.
 */
import type { BenchContext } from "../lib/context";
import { GROUPS, type Row, type Target } from "../lib/report";
import { NO_CACHER, startCluster } from "../lib/stack";
import { memory, p99Under, read, seed, shareOfBare, writePath } from "./shop";

export const REMOTE_TARGET = 0.25;
export const REMOTE_P99_MS = 40;

/** The targets for the gateway calling an action on another process. */
export function remoteTargets(row: Row): Target[] {
	return [shareOfBare(row, REMOTE_TARGET), p99Under(row, REMOTE_P99_MS)];
}

export async function cluster(ctx: BenchContext): Promise<void> {
	ctx.log("cluster: starting one process per service and a nats-server");
	const stack = await startCluster({ cacher: "Memory", profileDir: ctx.profileDir });
	try {
		await memory(ctx, stack, "idle", GROUPS.memory);
		const shop = await seed(stack);
		const productPath = `/products/${shop.productIds[0]}`;

		await read(ctx, stack, {
			id: "gateway.remote",
			group: GROUPS.gateway,
			name: "GET /api/products/:id, our gateway to inventory on another process over NATS",
			path: productPath,
			note: "cacher on, the default",
			targets: remoteTargets,
			vanilla: {
				id: "vanilla.remote",
				name: "vanilla moleculer-web alias to an action on another process over NATS",
				url: ctx.refs.vanillaRemoteUrl
			}
		});
		await read(ctx, stack, {
			id: "read.cluster.list",
			group: GROUPS.read,
			name: "GET /api/products, inventory on another process, cacher on",
			path: "/products"
		});

		ctx.log("cluster: write path");
		await writePath(ctx, stack, shop, "cluster", GROUPS.write);
		await memory(ctx, stack, "after", GROUPS.memory);

		if (ctx.quick) return; // the reads without the cacher need a restart: full runs only
		ctx.log("cluster: restarting inventory without the cacher");
		await stack.restart("inventory-1", NO_CACHER);
		await read(ctx, stack, {
			id: "read.cluster.get.nocache",
			group: GROUPS.read,
			name: "GET /api/products/:id, inventory on another process, no cacher",
			path: productPath,
			baselineId: "gateway.remote",
			targets: remoteTargets
		});
		await read(ctx, stack, {
			id: "read.cluster.list.nocache",
			group: GROUPS.read,
			name: "GET /api/products, inventory on another process, no cacher",
			path: "/products",
			baselineId: "read.cluster.list"
		});
	} finally {
		await stack.stop();
	}
}
