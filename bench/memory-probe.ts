/**
 * What the embedded node's RSS is made of under orders: after each round of c64 orders, its RSS
 * (anonymous and file-backed), V8's heap by space, then the same after a full GC asked for
 * through the inspector. Tells garbage the load left in the old generation from what the node
 * keeps (live heap, SQLite's page cache, code). With `settle` > 0, the RSS every 2 s after each
 * round first, with nothing forcing a GC (V8's memory reducer alone).
 *
 *   npx tsx bench/memory-probe.ts [rounds=4] [seconds per round=10] [settle samples=0]
 */
import fs from "node:fs";
import { freePort } from "../scripts/cluster-lib";
import { httpLoad } from "./lib/load";
import { installCleanup, sleep, stopAll } from "./lib/procs";
import { orderLoad, startEmbedded } from "./lib/stack";
import { seed } from "./scenarios/shop";

interface Inspector {
	send(method: string, params?: object): Promise<any>;
	close(): void;
}

async function connect(port: number): Promise<Inspector> {
	for (let attempt = 0; ; attempt++) {
		try {
			const res = await fetch(`http://127.0.0.1:${port}/json/list`);
			const [target] = (await res.json()) as { webSocketDebuggerUrl: string }[];
			const ws = new WebSocket(target.webSocketDebuggerUrl);
			await new Promise((resolve, reject) => {
				ws.onopen = resolve;
				ws.onerror = reject;
			});
			let id = 0;
			const pending = new Map<number, (msg: any) => void>();
			ws.onmessage = m => {
				const msg = JSON.parse(String(m.data));
				pending.get(msg.id)?.(msg);
				pending.delete(msg.id);
			};
			return {
				send: (method, params = {}) =>
					new Promise(resolve => {
						pending.set(++id, resolve);
						ws.send(JSON.stringify({ id, method, params }));
					}),
				close: () => ws.close()
			};
		} catch (err) {
			if (attempt > 50) throw err;
			await sleep(200);
		}
	}
}

/** Evaluated in the node: its heap in MB, in total and by V8 space. */
const HEAP = `JSON.stringify((() => {
	const mb = n => Math.round(n / 1048576);
	const m = process.memoryUsage();
	const spaces = {};
	for (const s of require("v8").getHeapSpaceStatistics())
		if (s.space_size > 0) spaces[s.space_name.replace("_space", "")] = mb(s.space_size);
	return { heapTotal: mb(m.heapTotal), heapUsed: mb(m.heapUsed), external: mb(m.external), spaces };
})())`;

function rss(pid: number) {
	const text = fs.readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
	const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, "m").exec(text)?.[1] ?? 0);
	return {
		rss: Math.round(kb("Rss") / 1024),
		anon: Math.round(kb("Anonymous") / 1024),
		file: Math.round((kb("Rss") - kb("Anonymous")) / 1024)
	};
}

async function main() {
	const [rounds = 4, seconds = 10, settle = 0] = process.argv.slice(2).map(Number);
	installCleanup(120_000 + rounds * (seconds + settle * 2 + 10) * 1000);
	const port = await freePort();
	const saved = process.env.NODE_OPTIONS;
	process.env.NODE_OPTIONS = `${saved ?? ""} --inspect=127.0.0.1:${port}`;
	const stack = await startEmbedded({ cacher: "Memory" });
	process.env.NODE_OPTIONS = saved;
	const pid = stack.nodes[0].proc.pid!;
	const inspector = await connect(port);
	const heap = async () =>
		JSON.parse(
			(
				await inspector.send("Runtime.evaluate", {
					expression: HEAP,
					includeCommandLineAPI: true
				})
			).result.result.value
		);
	const report = async (label: string) => {
		await sleep(1000);
		const before = { ...rss(pid), heap: await heap() };
		await inspector.send("HeapProfiler.collectGarbage");
		await sleep(500);
		const after = { ...rss(pid), heap: await heap() };
		console.log(`${label}\n  as is:         ${JSON.stringify(before)}`);
		console.log(`  after full GC: ${JSON.stringify(after)}`);
	};
	try {
		await report("idle");
		const shop = await seed(stack);
		let placed = 0;
		for (let r = 1; r <= rounds; r++) {
			const res = await httpLoad({ ...orderLoad(stack.base, shop), durationS: seconds });
			placed += res.total - res.non2xx - res.errors;
			if (settle > 0) {
				const samples: number[] = [];
				for (let i = 0; i < settle; i++, await sleep(2000)) samples.push(rss(pid).rss);
				console.log(
					`round ${r}: RSS every 2 s after the load, no GC asked: ${samples.join(" ")}`
				);
			}
			await report(`round ${r}: ${placed} orders placed in all`);
		}
	} finally {
		inspector.close();
		await stack.stop();
		await stopAll();
	}
}

main().catch(async err => {
	console.error(err);
	await stopAll(3000);
	process.exit(1);
});
