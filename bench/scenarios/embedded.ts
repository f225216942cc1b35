/**
 * The embedded default (`npm start`: every service in one process, no transporter): the gateway
 * to a local action (with and without the cacher), the write path at c1/16/64, and the RSS.
 */
import type { BenchContext } from "../lib/context";
import { GROUPS } from "../lib/report";
import { NO_CACHER, startEmbedded } from "../lib/stack";
import { memory, read, sameAnswer, seed, shareOfBare, writePath } from "./shop";

export const LOCAL_TARGET = 0.6;

export async function embedded(ctx: BenchContext): Promise<void> {
	ctx.log("embedded: starting every service in one process");
	const stack = await startEmbedded({ cacher: "Memory", profileDir: ctx.profileDir });
	try {
		await memory(ctx, stack, "idle", GROUPS.memory);
		const shop = await seed(stack);
		const productPath = `/products/${shop.productIds[0]}`;

		await read(ctx, stack, {
			id: "gateway.health",
			group: GROUPS.gateway,
			name: "GET /api/health, answered by the gateway itself (no action call)",
			path: "/health"
		});
		const same = await sameAnswer(stack.base + productPath);
		try {
			await read(ctx, stack, {
				id: "gateway.local",
				group: GROUPS.gateway,
				name: "GET /api/products/:id, our gateway to a local action (embedded)",
				path: productPath,
				note: "cacher on, the default",
				targets: row => [shareOfBare(row, LOCAL_TARGET)],
				sameAnswer: {
					id: "same-answer.local",
					name: "bare node:http sending that very answer (headers and body), no framework",
					url: same.url
				},
				vanilla: {
					id: "vanilla.local",
					name: "vanilla moleculer-web alias to a local action",
					url: ctx.refs.vanillaLocalUrl
				}
			});
		} finally {
			await same.stop();
		}

		ctx.log("embedded: write path");
		await writePath(ctx, stack, shop, "embedded", GROUPS.write);
		await memory(ctx, stack, "after", GROUPS.memory);

		if (ctx.quick) return; // the reads without the cacher need a restart: full runs only
		ctx.log("embedded: restarting without the cacher");
		await stack.restart("embedded", NO_CACHER);
		await read(ctx, stack, {
			id: "read.embedded.get.nocache",
			group: GROUPS.read,
			name: "GET /api/products/:id, embedded, no cacher",
			path: productPath,
			baselineId: "gateway.local",
			targets: row => [shareOfBare(row, LOCAL_TARGET)]
		});
	} finally {
		await stack.stop();
	}
}
