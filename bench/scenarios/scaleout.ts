/**
 * 5. Scale-out: a CPU-bound action (bench/services/cpu.service.ts, a SHA-256 chain) called over
 * NATS with 1 and then 2 instances of its service. The ceiling is what the machine gives: the
 * same hash loop in 1 and 2 bare processes, no broker, measured in the same run.
 */
import path from "node:path";
import type { BenchContext } from "../lib/context";
import { interleavedCalls } from "../lib/load";
import { BENCH_DIR, sleep, startHelper, track } from "../lib/procs";
import { GROUPS, fromLoad } from "../lib/report";
import { callerBroker, startCluster } from "../lib/stack";

/** Rounds per call: about 6 ms of one core on the reference machine. */
export const ROUNDS = 2000;
/** Calls in flight: enough to keep two instances busy with a short queue each. */
const IN_FLIGHT = 8;
const CPU_SERVICE = path.join(BENCH_DIR, "services", "cpu.service.ts");

/**
 * The hash loop in 1 and in 2 bare processes, in alternating slices; chains per second of each.
 */
async function bareLoops(ctx: BenchContext): Promise<[number, number]> {
	const loops = await Promise.all(
		[1, 2].map(() => startHelper("servers/hash-loop.ts", [String(ROUNDS)]))
	);
	try {
		const slices = Math.max(1, Math.round(ctx.durationS / 2));
		const sliceMs = Math.round((ctx.durationS * 1000) / slices);
		const rate = (rs: { calls: number; ms: number }[]) =>
			rs.reduce((sum, r) => sum + r.calls / (r.ms / 1000), 0);
		const one: number[] = [];
		const two: number[] = [];
		for (let i = 0; i < slices; i++) {
			for (const [n, out] of [
				[1, one],
				[2, two]
			] as const) {
				const used = loops.slice(0, n);
				for (const l of used) l.send(`go ${sliceMs}`);
				out.push(rate(await Promise.all(used.map(l => l.nextResult()))));
			}
		}
		const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
		return [mean(one), mean(two)];
	} finally {
		await Promise.all(loops.map(l => l.stop()));
	}
}

export async function scaleout(ctx: BenchContext): Promise<void> {
	const group = GROUPS.scale;
	ctx.log("scaleout: bare hash loop in 1 and 2 processes, alternating");
	const bare = await bareLoops(ctx);
	for (const n of [1, 2] as const) {
		ctx.log(`  ${n} process(es): ${Math.round(bare[n - 1])} chains/s`);
		ctx.results.add({
			id: `scale.bare.${n}`,
			group,
			name: `bare SHA-256 chain (${ROUNDS} rounds) in ${n} process${n > 1 ? "es" : ""}, no broker`,
			unit: "calls/s",
			value: bare[n - 1],
			baselineId: n > 1 ? "scale.bare.1" : undefined
		});
	}

	ctx.log("scaleout: benchcpu.hash over NATS, 1 instance vs 2 instances, alternating");
	const stack = await startCluster({
		cacher: "Memory",
		profileDir: ctx.profileDir,
		services: [],
		extraNodes: [
			{ services: CPU_SERVICE, nodeID: "cpu-1" },
			{ services: CPU_SERVICE, nodeID: "cpu-2" }
		]
	});
	try {
		const { nats, namespace } = stack.cluster!;
		const broker = await callerBroker({ url: nats.url, namespace });
		const untrack = track({ name: "caller broker", pids: () => [], stop: () => broker.stop() });
		try {
			await broker.waitForServices("benchcpu", 60_000);
			const until = Date.now() + 60_000;
			const instances = () =>
				broker.registry
					.getServiceList({ onlyAvailable: true })
					.filter(s => s.name === "benchcpu").length;
			while (instances() < 2) {
				if (Date.now() > until) throw new Error(`cpu nodes did not join\n${stack.logs()}`);
				await sleep(100);
			}
			const params = (i: number) => ({ seed: `seed-${i}`, rounds: ROUNDS });
			// One instance: every call pinned to cpu-1 (cpu-2 idles). Two: the balancer spreads them.
			const one = (i: number) => broker.call("benchcpu.hash", params(i), { nodeID: "cpu-1" });
			const two = (i: number) => broker.call("benchcpu.hash", params(i));
			if (ctx.warmupS > 0)
				await interleavedCalls([one, two], IN_FLIGHT, ctx.warmupS, ctx.warmupS);
			const results = await interleavedCalls([one, two], IN_FLIGHT, ctx.durationS);
			for (const [k, res] of results.entries()) {
				const n = k + 1;
				ctx.log(
					`  ${n} instance(s): ${Math.round(res.rps)} calls/s, p99 ${res.p99.toFixed(1)} ms`
				);
				ctx.results.add(
					fromLoad(res, {
						id: `scale.${n}`,
						group,
						name: `benchcpu.hash over NATS, ${n} instance${n > 1 ? "s" : ""}, ${IN_FLIGHT} in flight`,
						unit: "calls/s",
						baselineId: n === 1 ? "scale.bare.1" : "scale.1"
					})
				);
			}
		} finally {
			await untrack();
		}
	} finally {
		await stack.stop();
	}
}
