/**
 * `npm run bench`: every scenario of bench/scenarios, each figure beside its baseline measured in
 * the same run. Markdown table on stdout, JSON in bench/results/<timestamp>.json and uPlot
 * charts of the same figures beside it (<timestamp>.html).
 *
 *   npm run bench                         all scenarios, 8 s per measured run (~6 min)
 *   npm run bench:quick                   all scenarios, 2 s per run (under 2 min)
 *   npm run bench -- cluster scaleout     only these scenarios (baselines always run)
 *   npm run bench -- --duration 5 --warmup 1 --cpu-prof
 *
 * Loopback only; every process started is stopped at the end, on Ctrl-C and on failure.
 */
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import type { BenchContext } from "./lib/context";
import { BENCH_DIR, installCleanup, stopAll } from "./lib/procs";
import { startReferences } from "./lib/references";
import { writeHtml } from "./lib/html-report";
import { Results, markdown, writeJson } from "./lib/report";
import { baselines } from "./scenarios/baselines";
import { cluster } from "./scenarios/cluster";
import { embedded } from "./scenarios/embedded";
import { faults } from "./scenarios/faults";
import { logins } from "./scenarios/logins";
import { scaleout } from "./scenarios/scaleout";
import { storage } from "./scenarios/storage";

interface Scenario {
	name: string;
	covers: string;
	/** Seconds of fixed-length work besides the measured runs (fault loads, waits). */
	fixedS?: number;
	run(ctx: BenchContext): Promise<void>;
}

const SCENARIOS: Scenario[] = [
	{
		name: "baselines",
		covers: "bare node:http, raw NATS request-reply, broker.call over NATS",
		run: baselines
	},
	{
		name: "embedded",
		covers: "npm start: gateway to a local action (cacher on/off), orders at c1/16/64, RSS",
		run: embedded
	},
	{
		name: "cluster",
		covers: "a process per service: gateway to a remote action, reads (cacher on/off), orders, RSS",
		run: cluster
	},
	{
		name: "scaleout",
		covers: "CPU-bound bench action with 1 and 2 instances vs bare hash loops",
		run: scaleout
	},
	{
		name: "storage",
		covers: "orders c64 with 1 and 2 orders instances on one SQLite file; RSS and start-up after 100k orders",
		run: storage
	},
	{ name: "logins", covers: "logins/s and latency at scrypt N=2^17 beside 2^14", run: logins },
	{
		name: "faults",
		covers: "kill -9, kill -STOP, a consumer or a nats-server lost under load, beside before: failed, slowest, time to the last bad one",
		fixedS: 600,
		run: faults
	}
];

function usage(): string {
	return [
		"usage: npm run bench [-- [scenario...] [--quick] [--duration s] [--warmup s] [--cpu-prof]]",
		"",
		"scenarios (default: all; baselines always run, every ratio needs them):",
		...SCENARIOS.map(s => `  ${s.name.padEnd(10)} ${s.covers}`),
		"",
		"  --quick         2 s per run, 1 s warm-up, no restarts without the cacher (under 2 min)",
		"  --duration s    seconds per measured run (default 8)",
		"  --warmup s      seconds of warm-up before each measured run (default 2)",
		"  --cpu-prof      systems under test write V8 CPU profiles to bench/results/prof-<time>/",
		"  --out dir       where the JSON goes (default bench/results)"
	].join("\n");
}

async function main() {
	const { values, positionals } = parseArgs({
		allowPositionals: true,
		options: {
			quick: { type: "boolean", default: false },
			duration: { type: "string" },
			warmup: { type: "string" },
			"cpu-prof": { type: "boolean", default: false },
			out: { type: "string" },
			only: { type: "string" },
			help: { type: "boolean", short: "h", default: false }
		}
	});
	if (values.help) {
		console.log(usage());
		return;
	}
	const wanted = [...positionals, ...(values.only?.split(",") ?? [])]
		.map(s => s.trim())
		.filter(Boolean);
	const unknown = wanted.filter(w => !SCENARIOS.some(s => s.name === w));
	if (unknown.length) {
		console.error(`bench: unknown scenario ${unknown.join(", ")}\n\n${usage()}`);
		process.exit(2);
	}
	const selected = SCENARIOS.filter(
		s => s.name === "baselines" || wanted.length === 0 || wanted.includes(s.name)
	);

	const seconds = (raw: string | undefined, def: number, name: string) => {
		if (raw == null) return def;
		const n = Number(raw);
		if (!Number.isFinite(n) || n < 0 || n > 600) {
			console.error(`bench: --${name} must be a number of seconds between 0 and 600`);
			process.exit(2);
		}
		return n;
	};
	const durationS = seconds(values.duration, values.quick ? 2 : 8, "duration");
	if (durationS < 1) {
		console.error("bench: --duration must be at least 1 second");
		process.exit(2);
	}
	const warmupS = seconds(values.warmup, values.quick ? 1 : 2, "warmup");

	const startedAt = new Date().toISOString();
	const outDir = path.resolve(values.out ?? path.join(BENCH_DIR, "results"));
	const profileDir = values["cpu-prof"]
		? path.join(outDir, `prof-${startedAt.replace(/[:.]/g, "-")}`)
		: undefined;

	// About 30 measured runs plus process starts; anything far beyond is a hang.
	const fixedS = selected.reduce((t, s) => t + (s.fixedS ?? 0), 0);
	installCleanup((240 + fixedS + 40 * (durationS + warmupS)) * 1000);

	const results = new Results();
	const t0 = Date.now();
	const loadAtStart = os.loadavg()[0];
	// Bare node:http, a nats-server and vanilla moleculer-web run for the whole bench: reads are
	// measured in alternating slices with them.
	const refs = await startReferences();
	const ctx: BenchContext = {
		durationS,
		warmupS,
		results,
		refs,
		quick: values.quick ?? false,
		profileDir,
		log: msg => console.error(`[${((Date.now() - t0) / 1000).toFixed(0).padStart(4)} s] ${msg}`)
	};
	ctx.log(
		`shopmesh bench on ${os.cpus()[0]?.model ?? "?"} x${os.cpus().length}, Node ${process.version}; ` +
			`${durationS} s per run, ${warmupS} s warm-up; scenarios: ${selected.map(s => s.name).join(", ")}`
	);

	let failed = false;
	for (const scenario of selected) {
		try {
			await scenario.run(ctx);
		} catch (err) {
			failed = true;
			const msg = (err as Error).stack ?? String(err);
			ctx.log(`scenario ${scenario.name} FAILED: ${msg}`);
			results.notes.push(
				`Scenario \`${scenario.name}\` failed: ${(err as Error).message.split("\n")[0]}`
			);
		} finally {
			await stopAll(10_000, refs.pids());
		}
	}
	await stopAll();

	const file = writeJson(
		outDir,
		{
			startedAt,
			finishedAt: new Date().toISOString(),
			argv: process.argv.slice(2),
			durationS,
			warmupS,
			scenarios: selected.map(s => s.name)
		},
		results
	);
	console.log(
		`## shopmesh bench: ${os.cpus()[0]?.model ?? "?"} x${os.cpus().length}, Node ${process.version}, ` +
			`${durationS} s per run; load average ${loadAtStart.toFixed(1)} at start, ` +
			`${os.loadavg()[0].toFixed(1)} at end\n`
	);
	console.log(markdown(results));
	const html = writeHtml(file, `shopmesh bench, ${startedAt}`, results);
	ctx.log(
		`JSON: ${path.relative(process.cwd(), file)}; charts: ${path.relative(process.cwd(), html)}${profileDir ? `; CPU profiles: ${profileDir}` : ""}`
	);
	ctx.log(`done in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
	process.exitCode = failed ? 1 : 0;
}

main().catch(async err => {
	console.error(err);
	await stopAll(3000);
	process.exit(1);
});
