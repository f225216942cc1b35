/**
 * Faults (issue 22): a node killed with kill -9 under load, with the failover (platform/messaging/failover.ts)
 * and without it (FAILOVER=false, the "before" figures), measured in the same run. For each: the
 * requests that failed, the slowest one, and the time from the kill to the last failed or slow
 * (1 s or more) request. Heartbeats as in `npm start`'s defaults (missed after 15 s).
 */
import type { BenchContext } from "../lib/context";
import { track } from "../lib/procs";
import { GROUPS } from "../lib/report";
import { nodeEnv, orderBody, seedShop } from "../lib/stack";
import { api, createCluster, type Cluster } from "../../test/helpers/cluster";
import { Gateways, runLoad, type Answer } from "../../test/helpers/load";

interface Fault {
	id: string;
	name: string;
	/** Nodes besides one of each service. */
	twins: string[];
	concurrency: number;
	kill: string;
	request: (
		base: string,
		shop: { tokens: string[]; productIds: string[] },
		i: number
	) => {
		what: string;
		send: (b: string) => ReturnType<typeof api>;
	};
}

const FAULTS: Fault[] = [
	{
		id: "faults.twin",
		name: "kill -9 one of two inventory instances, c16 GET /api/products/:id",
		twins: ["inventory"],
		concurrency: 16,
		kill: "inventory-1",
		request: (_base, shop) => ({
			what: "read",
			send: b => api(b, "GET", `/products/${shop.productIds[0]}`)
		})
	},
	{
		id: "faults.only",
		name: "kill -9 the only payments instance, c8 POST /api/orders",
		twins: [],
		concurrency: 8,
		kill: "payments-1",
		request: (_base, shop, i) => ({
			what: "order",
			send: b =>
				api(b, "POST", "/orders", JSON.parse(orderBody(shop.productIds[0])), {
					Authorization: `Bearer ${shop.tokens[i % shop.tokens.length]}`
				})
		})
	}
];

const SERVICES = ["users", "inventory", "payments", "orders", "notifications", "api"];

async function measure(ctx: BenchContext, fault: Fault, failover: boolean) {
	const env = { ...nodeEnv({ cacher: "Memory" }), FAILOVER: String(failover) };
	const cluster: Cluster = await createCluster();
	const stop = track({
		name: "faults cluster",
		pids: () => [...cluster.nodes.map(n => n.proc.pid), cluster.nats.proc?.pid],
		stop: () => cluster.stopAll()
	});
	try {
		for (const s of [...SERVICES, ...fault.twins])
			cluster.start({
				services: s,
				nodeID: `${s}-${cluster.nodes.filter(n => n.spec.services === s).length + 1}`,
				env
			});
		await waitReady(
			cluster,
			SERVICES.filter(s => s !== "api")
		);
		const shop = await seedShop(cluster.base, { customers: 8, products: 1, stock: 1_000_000 });
		const gateways = new Gateways([cluster.base]);
		const request = (i: number) => fault.request(cluster.base, shop, i);
		await runLoad({ gateways, concurrency: fault.concurrency, durationMs: 1000, request });
		// Long enough after the kill for the heartbeat timeout (15 s) without the failover.
		const afterS = ctx.quick ? 8 : 20;
		const victim = cluster.nodes.find(n => n.spec.nodeID === fault.kill)!;
		const { answers, faultAt } = await runLoad({
			gateways,
			concurrency: fault.concurrency,
			durationMs: 2000 + afterS * 1000,
			request,
			fault: { atMs: 2000, run: () => cluster.stop(victim, "SIGKILL") }
		});
		return figures(answers, faultAt!, fault.id === "faults.only");
	} finally {
		await stop();
	}
}

/** A 503 SERVICE_UNAVAILABLE is the right answer while the only payments is gone. */
function figures(answers: Answer[], faultAt: number, unavailableIsAnswer: boolean) {
	const ok = (a: Answer) =>
		(a.status >= 200 && a.status < 300) ||
		(unavailableIsAnswer && a.status === 503 && a.type === "SERVICE_UNAVAILABLE");
	const bad = answers.filter(a => !ok(a) || a.ms >= 1000);
	const lastBad = bad.reduce((t, a) => Math.max(t, a.startedAt + a.ms - faultAt), 0);
	return {
		requests: answers.length,
		failed: answers.filter(a => !ok(a)).length,
		slowestMs: answers.reduce((m, a) => Math.max(m, a.ms), 0),
		lastBadMs: lastBad
	};
}

async function waitReady(cluster: Cluster, services: string[]) {
	const until = Date.now() + 90_000;
	for (;;) {
		const res = await api(cluster.base, "GET", "/ready").catch(() => undefined);
		if (services.every(s => res?.body?.services?.[s])) return;
		if (Date.now() > until) throw new Error(`faults: cluster not ready\n${cluster.logs()}`);
		await new Promise(r => setTimeout(r, 200));
	}
}

export async function faults(ctx: BenchContext): Promise<void> {
	const group = GROUPS.faults;
	for (const fault of FAULTS) {
		for (const failover of [false, true]) {
			ctx.log(`faults: ${fault.name}, FAILOVER=${failover}`);
			const f = await measure(ctx, fault, failover);
			ctx.log(
				`  ${f.requests} requests, ${f.failed} failed, slowest ${f.slowestMs} ms, last failed or slow ${f.lastBadMs} ms after the kill`
			);
			const id = `${fault.id}.${failover ? "on" : "off"}`;
			const base = `${fault.id}.off`;
			const label = failover ? "" : " (FAILOVER=false, before)";
			const rows = [
				["failed", "requests failed", "requests", f.failed],
				["slowest", "slowest request", "ms", f.slowestMs],
				["last", "kill to the last failed or slow (≥1 s) request", "ms", f.lastBadMs]
			] as const;
			for (const [key, what, unit, value] of rows)
				ctx.results.add({
					id: `${id}.${key}`,
					group,
					name: `${fault.name}: ${what}${label}`,
					unit,
					value,
					errors: f.failed,
					baselineId: failover ? `${base}.${key}` : undefined,
					targets: failover
						? [
								key === "failed"
									? { text: "zero failed", holds: value === 0 }
									: { text: "under 1 s", holds: value < 1000 }
							]
						: undefined
				});
		}
	}
}
