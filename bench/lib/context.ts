/**
 * What every scenario gets: durations, where figures go, the reference servers and a progress
 * log (stderr, so stdout carries only the table).
 */
import { httpLoad, interleaved, type HttpLoad, type LoadResult } from "./load";
import type { References } from "./references";
import type { Results } from "./report";

export interface BenchContext {
	/** Seconds of each measured run. */
	durationS: number;
	/** Seconds of the warm-up run before each measured run (not counted). */
	warmupS: number;
	results: Results;
	refs: References;
	/** --quick: skip the restarts without the cacher. */
	quick: boolean;
	/** Set with --cpu-prof: systems under test write V8 CPU profiles here. */
	profileDir?: string;
	log(message: string): void;
}

/** Concurrency of every HTTP read and of the baselines. */
export const CONCURRENCY = 64;

const describe = (what: string, res: LoadResult) =>
	`  ${what}: ${Math.round(res.rps)} req/s, p50 ${res.p50} ms, p99 ${res.p99} ms, ` +
	`${res.non2xx} non-2xx, ${res.errors} errors`;

/** Warm up (JIT, caches, connections), then measure; both runs with the same load. */
export async function measureHttp(
	ctx: BenchContext,
	what: string,
	load: Omit<HttpLoad, "durationS">,
	/** Called between the warm-up and the measured run. */
	beforeMeasure: () => void = () => undefined
): Promise<LoadResult> {
	if (ctx.warmupS > 0) await httpLoad({ ...load, durationS: ctx.warmupS });
	beforeMeasure();
	const res = await httpLoad({ ...load, durationS: ctx.durationS });
	ctx.log(describe(what, res));
	return res;
}

/**
 * Measure a load in alternating slices with the bare node:http baseline and the given other
 * references (same connections), so all of them see the same noise of a shared machine.
 */
export async function measurePaired(
	ctx: BenchContext,
	what: string,
	load: Omit<HttpLoad, "durationS">,
	others: { name: string; url: string }[] = []
): Promise<{ res: LoadResult; bare: LoadResult; others: LoadResult[] }> {
	const refs = [{ name: "bare node:http", url: ctx.refs.bareUrl }, ...others];
	const loads = [...refs.map(r => ({ url: r.url, connections: load.connections })), load];
	// The bare server is warm from the baselines; the others and the load get a warm-up each.
	if (ctx.warmupS > 0) await interleaved(loads.slice(1), ctx.warmupS, ctx.warmupS);
	const all = await interleaved(loads, ctx.durationS);
	const res = all[all.length - 1];
	ctx.log(
		`${describe(what, res)}; same slices: ` +
			refs.map((r, k) => `${r.name} ${Math.round(all[k].rps)} req/s`).join(", ")
	);
	return { res, bare: all[0], others: all.slice(1, -1) };
}
