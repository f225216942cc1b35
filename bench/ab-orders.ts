/**
 * Orders at c64 on two stacks at once, this checkout (B) against another (A), the load
 * alternating between them in 1-s slices: on a machine others share, both meet the same load.
 * Embedded stacks by default, `--cluster` for two clusters (a node per service, each cluster with
 * its own nats-server). Prints orders/s, the CPU per order of the whole stack (and of each of a
 * cluster's processes) and its RSS at the end for each. `--a NAME=value` and `--b NAME=value` set
 * a variable for one side only, so `.` as the other checkout compares two settings of this one.
 *
 *   git archive <rev> | tar -x -C /tmp/shopmesh-A && ln -s "$PWD/node_modules" /tmp/shopmesh-A/
 *   npx tsx bench/ab-orders.ts /tmp/shopmesh-A [slices]
 *   npx tsx bench/ab-orders.ts . 16 --a SQLITE_SYNCHRONOUS=FULL
 *   npx tsx bench/ab-orders.ts . 20 --cluster --a FAILOVER=false
 *   npx tsx bench/ab-orders.ts /tmp/shopmesh-A 16 --cluster --twins   (two orders instances, one SQLite file)
 */
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { httpLoad, type HttpLoad } from "./lib/load";
import { cpuMs, installCleanup, rssMB, stopAll } from "./lib/procs";
import { orderLoad, startCluster, startEmbedded, type Stack } from "./lib/stack";
import { seed } from "./scenarios/shop";

interface Side {
	name: string;
	stack: Stack;
	load?: (durationS: number) => HttpLoad;
	cpuMs: number;
	/** The same, per process (nats-server last in a cluster). */
	cpuMsByProcess: number[];
	orders: number;
	seconds: number;
	/** Each slice's p99 (ms) and failures (errors and non-2xx answers). */
	p99s: number[];
	failed: number;
}

async function main() {
	const { positionals, values } = parseArgs({
		allowPositionals: true,
		options: {
			a: { type: "string", multiple: true },
			b: { type: "string", multiple: true },
			cluster: { type: "boolean" },
			twins: { type: "boolean" }
		}
	});
	const [other, slicesArg] = positionals;
	if (!other) {
		console.error(
			"usage: npx tsx bench/ab-orders.ts <other checkout> [slices] [--cluster [--twins]] [--a NAME=value]... [--b NAME=value]..."
		);
		process.exit(2);
	}
	const slices = Number(slicesArg ?? 16);
	installCleanup(120_000 + slices * 10_000);
	const theirs = (await import(path.resolve(other, "bench/lib/stack.ts"))) as {
		startEmbedded: typeof startEmbedded;
		startCluster: typeof startCluster;
	};
	const start = (lib: typeof theirs) => () =>
		values.cluster
			? lib.startCluster({
					cacher: "Memory",
					extraNodes: values.twins ? [{ services: "orders", nodeID: "orders-2" }] : []
				})
			: lib.startEmbedded({ cacher: "Memory" });
	const sides: Side[] = [
		{
			name: `A (${[other, ...(values.a ?? [])].join(" ")})`,
			stack: await withEnv(values.a, start(theirs))
		},
		{
			name: `B (${["this checkout", ...(values.b ?? [])].join(" ")})`,
			stack: await withEnv(values.b, start({ startEmbedded, startCluster }))
		}
	].map(s => ({
		...s,
		cpuMs: 0,
		cpuMsByProcess: [],
		orders: 0,
		seconds: 0,
		p99s: [],
		failed: 0
	}));
	try {
		for (const side of sides) {
			const shop = await seed(side.stack);
			side.load = durationS => ({ ...orderLoad(side.stack.base, shop), durationS });
			await httpLoad(side.load(2)); // warm-up
		}
		const loadAtStart = os.loadavg()[0];
		for (let i = 0; i < slices; i++)
			for (const side of i % 2 ? [...sides].reverse() : sides) {
				const before = processCpuMs(side.stack);
				const res = await httpLoad(side.load!(1));
				processCpuMs(side.stack).forEach((ms, p) => {
					side.cpuMsByProcess[p] = (side.cpuMsByProcess[p] ?? 0) + ms - before[p];
					side.cpuMs += ms - before[p];
				});
				side.orders += res.total;
				side.seconds += res.durationS;
				side.p99s.push(res.p99);
				side.failed += res.errors + res.non2xx;
			}
		for (const side of sides)
			console.log(
				`${side.name}: ${(side.orders / side.seconds).toFixed(0)} orders/s, ` +
					`${(side.cpuMs / side.orders).toFixed(2)} ms CPU per order, ` +
					`p99 ${median(side.p99s)} ms (median of the slices'), ${side.failed} failed, ` +
					`RSS ${side.stack.nodes.map(n => rssMB(n.proc.pid)).join(" + ")} MB` +
					(side.stack.cluster
						? `; ms CPU per order by process: ${[
								...side.stack.nodes.map(n => n.spec.nodeID),
								"nats-server"
							]
								.map(
									(name, p) =>
										`${name} ${(side.cpuMsByProcess[p] / side.orders).toFixed(2)}`
								)
								.join(", ")}`
						: "")
			);
		console.log(`load average ${loadAtStart.toFixed(1)} → ${os.loadavg()[0].toFixed(1)}`);
	} finally {
		for (const side of sides) await side.stack.stop();
		await stopAll();
	}
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** CPU used so far by each process of the stack, its nats-server (in a cluster) last. */
function processCpuMs(stack: Stack): number[] {
	const pids = stack.nodes.map(n => n.proc.pid);
	if (stack.cluster) pids.push(stack.cluster.nats.proc?.pid);
	return pids.map(pid => cpuMs(pid) ?? 0);
}

/** Run `start` with NAME=value pairs set in the environment the node inherits, then restore it. */
async function withEnv<T>(pairs: string[] | undefined, start: () => Promise<T>): Promise<T> {
	const saved = { ...process.env };
	for (const pair of pairs ?? []) {
		const at = pair.indexOf("=");
		if (at < 1) throw new Error(`not NAME=value: ${pair}`);
		process.env[pair.slice(0, at)] = pair.slice(at + 1);
	}
	try {
		return await start();
	} finally {
		process.env = saved;
	}
}

main().catch(async err => {
	console.error(err);
	await stopAll(3000);
	process.exit(1);
});
