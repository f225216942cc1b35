/**
 * What counting traffic adds to one local broker.call and one emit: a broker with nothing, with
 * the traffic middleware only (platform/runtime/traffic.ts, the console's `$node.traffic`), and
 * with moleculer's metrics (5 s window, as moleculer.config.ts sets them). Variants alternate
 * round by round, so a busy machine weighs on each alike; µs per call and per emit.
 *
 *   npx tsx bench/traffic-micro.ts [rounds]
 */
import { ServiceBroker, type BrokerOptions } from "moleculer";
import { TrafficMiddleware } from "../platform/runtime/traffic";

const WARMUP = 50_000;
const CALLS = 300_000;

const VARIANTS: Record<string, () => BrokerOptions> = {
	none: () => ({ metrics: false }),
	"traffic meter": () => ({
		metrics: false,
		middlewares: [TrafficMiddleware()]
	}),
	"moleculer metrics": () => ({ metrics: { enabled: true, defaultMaxAgeSeconds: 5 } })
};

async function run(options: BrokerOptions): Promise<{ call: number; emit: number }> {
	const broker = new ServiceBroker({ logger: false, ...options });
	broker.createService({ name: "s", actions: { a: () => 1 }, events: { "e.x"() {} } });
	await broker.start();
	for (let i = 0; i < WARMUP; i++) await broker.call("s.a");
	const t0 = process.hrtime.bigint();
	for (let i = 0; i < CALLS; i++) await broker.call("s.a");
	const t1 = process.hrtime.bigint();
	for (let i = 0; i < CALLS; i++) broker.emit("e.x", {});
	await new Promise(r => setImmediate(r));
	const t2 = process.hrtime.bigint();
	await broker.stop();
	const us = (ns: bigint) => Number(ns) / CALLS / 1000;
	return { call: us(t1 - t0), emit: us(t2 - t1) };
}

async function main() {
	const rounds = Number(process.argv[2] ?? 3);
	const results: Record<string, { call: number; emit: number }[]> = {};
	for (let r = 0; r < rounds; r++)
		for (const [name, options] of Object.entries(VARIANTS))
			(results[name] ??= []).push(await run(options()));
	const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
	const fmt = (xs: number[]) => xs.map(x => x.toFixed(2)).join(" ");
	for (const [name, rs] of Object.entries(results)) {
		const call = rs.map(x => x.call);
		const emit = rs.map(x => x.emit);
		console.log(
			`${name.padEnd(18)} call ${median(call).toFixed(2)} µs (${fmt(call)})` +
				`  emit ${median(emit).toFixed(2)} µs (${fmt(emit)})`
		);
	}
}

void main();
