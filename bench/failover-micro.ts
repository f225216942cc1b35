/**
 * What the failover (platform/messaging/failover.ts and the transporter's reply subjects) adds to
 * one remote call: two brokers in this process over a private nats-server, 64 callers of an echo
 * action, with the failover off, with only its middleware, with only the transporter's part, and
 * whole. Variants alternate round by round; µs of this process's CPU per call, the server's
 * CPU per call, and calls/s.
 *
 *   npx tsx bench/failover-micro.ts [rounds]
 */
import { spawn } from "node:child_process";
import { ServiceBroker, type BrokerOptions } from "moleculer";
import { FailoverMiddleware } from "../platform/messaging/failover";
import { coalescingNats } from "../platform/messaging/nats-transporter";
import { freePort } from "../scripts/cluster-lib";
import { cpuMs, installCleanup, sleep, track } from "./lib/procs";

const CALLS = 40_000;
const CALLERS = 64;

const ALL_VARIANTS: Record<string, { transporter: boolean; middleware: boolean }> = {
	off: { transporter: false, middleware: false },
	"middleware only": { transporter: false, middleware: true },
	"transporter only": { transporter: true, middleware: false },
	whole: { transporter: true, middleware: true }
};
// FAILOVER_VARIANTS=off,whole runs only those (for a CPU profile of one, say).
const only = process.env.FAILOVER_VARIANTS?.split(",");
const VARIANTS = Object.fromEntries(
	Object.entries(ALL_VARIANTS).filter(([name]) => !only || only.includes(name))
);

interface Pair {
	caller: ServiceBroker;
	callee: ServiceBroker;
}

async function pair(url: string, name: string, v: (typeof ALL_VARIANTS)[string]): Promise<Pair> {
	const id = name.replace(/\W/g, "");
	const options = (nodeID: string): BrokerOptions => ({
		nodeID,
		namespace: id,
		logger: false,
		metrics: false,
		requestTimeout: 10_000,
		transporter: coalescingNats({ url, failover: v.transporter }),
		middlewares: v.middleware ? [FailoverMiddleware()] : []
	});
	const caller = new ServiceBroker(options(`${id}-caller`));
	const callee = new ServiceBroker(options(`${id}-callee`));
	callee.createService({ name: "echo", actions: { ping: ctx => ctx.params } });
	await Promise.all([caller.start(), callee.start()]);
	await caller.waitForServices("echo");
	return { caller, callee };
}

async function round(p: Pair, calls: number) {
	let left = calls;
	const cpu0 = process.cpuUsage();
	const t0 = process.hrtime.bigint();
	await Promise.all(
		Array.from({ length: CALLERS }, async () => {
			while (left-- > 0) await p.caller.call("echo.ping", { n: left });
		})
	);
	const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
	const cpu = process.cpuUsage(cpu0);
	return { usPerCall: (cpu.user + cpu.system) / calls, perS: calls / wallS };
}

async function main() {
	const rounds = Number(process.argv[2] ?? 5);
	installCleanup(10 * 60_000);
	const port = await freePort();
	const server = spawn("/usr/sbin/nats-server", ["-a", "127.0.0.1", "-p", String(port)], {
		stdio: "ignore"
	});
	track({ name: "nats-server", pids: () => [server.pid], stop: async () => void server.kill() });
	await sleep(300);
	const url = `nats://127.0.0.1:${port}`;
	const pairs: Record<string, Pair> = {};
	for (const [name, v] of Object.entries(VARIANTS)) {
		pairs[name] = await pair(url, name, v);
		await round(pairs[name], 5_000); // warm-up
	}
	const results: Record<string, { us: number; serverUs: number; perS: number }[]> = {};
	for (let r = 0; r < rounds; r++)
		for (const name of Object.keys(VARIANTS)) {
			const s0 = cpuMs(server.pid) ?? 0;
			const { usPerCall, perS } = await round(pairs[name]!, CALLS);
			const serverUs = (((cpuMs(server.pid) ?? 0) - s0) * 1000) / CALLS;
			(results[name] ??= []).push({ us: usPerCall, serverUs, perS });
		}
	const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
	const fmt = (xs: number[], d = 1) => xs.map(x => x.toFixed(d)).join(" ");
	console.log(`${CALLS} calls per round, ${CALLERS} callers, ${rounds} rounds (medians)`);
	for (const [name, rs] of Object.entries(results)) {
		const us = rs.map(x => x.us);
		console.log(
			`${name.padEnd(17)} brokers ${median(us).toFixed(1)} µs/call (${fmt(us)})` +
				`  nats-server ${median(rs.map(x => x.serverUs)).toFixed(1)} µs/call` +
				`  ${median(rs.map(x => x.perS)).toFixed(0)} calls/s`
		);
	}
	for (const p of Object.values(pairs)) await Promise.all([p.caller.stop(), p.callee.stop()]);
	server.kill();
}

void main();
