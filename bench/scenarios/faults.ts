/**
 * Faults (issue 22), each under load and beside its "before" figures measured in the same run,
 * each side on a fresh cluster: a node killed with kill -9 or frozen with kill -STOP, with the
 * failover (platform/messaging/failover.ts) and without it (FAILOVER=false); a consumer killed
 * and restarted, with today's JetStream ack wait and with the old 30 s; one nats-server of three
 * killed. For
 * each: the requests that failed, the slowest one, the time from the fault to the last failed or
 * slow (1 s or more) request, and what the fault asks besides (traffic off a frozen node and back
 * after kill -CONT, every confirmed order's event told once).
 * Heartbeats and breaker as in `npm start`'s defaults (a node is missed after 15 s).
 */
import brokerConfig from "../../moleculer.config";
import { connect } from "nats";
import { BUDGET_MS } from "../../platform/messaging/budgets";
import { durableName, streamName } from "../../platform/messaging/jetstream";
import { freePort, waitForHttp, type RunningNode } from "../../scripts/cluster-lib";
import { allRows, api, createCluster, type Cluster, type Nats } from "../../test/helpers/cluster";
import { Gateways, runLoad, summary, type Answer } from "../../test/helpers/load";
import {
	killServer,
	natsCluster,
	running,
	startNatsCluster,
	streamLeader
} from "../../test/helpers/nats-cluster";
import type { BenchContext } from "../lib/context";
import { sleep, track } from "../lib/procs";
import { GROUPS, type Target, type Unit } from "../lib/report";
import { ADMIN, nodeEnv, orderBody, seedShop, type Shop } from "../lib/stack";

type Env = Record<string, string | undefined>;

/** One figure of one run, with the target it is held to on the measured side. */
interface Figure {
	key: string;
	what: string;
	unit: Unit;
	value: number;
	target?: (value: number) => Target;
}

/** How the nodes run: the "before" side or the measured one. */
interface Variant {
	key: string;
	/** Shown after the figure's name; empty for the measured side. */
	label: string;
	env: Env;
}

interface Fault {
	id: string;
	name: string;
	/** The "before" side first, then the measured one. */
	variants: [Variant, Variant];
	run(ctx: BenchContext, env: Env): Promise<Figure[]>;
}

const FAILOVER_OFF_ON: [Variant, Variant] = [
	{ key: "off", label: "FAILOVER=false, before", env: { FAILOVER: "false" } },
	{ key: "on", label: "", env: { FAILOVER: "true" } }
];

const SERVICES = ["users", "inventory", "payments", "orders", "notifications", "api"];

/** A load starts, the fault comes this long after it. */
const FAULT_AT_MS = 2000;
/** Load after a kill, and how long a freeze lasts: past the heartbeat timeout (15 s) without --quick. */
const afterMs = (ctx: BenchContext) => (ctx.quick ? 8 : 20) * 1000;
const HALF_OPEN_MS = brokerConfig.circuitBreaker?.halfOpenTime ?? 10_000;

const zeroFailed = (v: number): Target => ({ text: "zero failed", holds: v === 0 });
const under =
	(ms: number, text = `under ${ms / 1000} s`) =>
	(v: number) => ({
		text,
		holds: v < ms
	});
const none = (what: string) => (v: number) => ({ text: `zero ${what}`, holds: v === 0 });

const alive = (n: RunningNode) => n.proc.exitCode === null && n.proc.signalCode === null;

interface Stack {
	cluster: Cluster;
	shop: Shop;
	gateways: Gateways;
	env: Env;
	/** The three routed nats-servers, when the stack runs on them. */
	servers: Nats[];
	node(nodeID: string): RunningNode;
}

/**
 * A cluster of every service (and `twins`), seeded, on one nats-server or on three routed ones
 * (streams on all three), given to `fn`; every process is stopped by pid afterwards.
 */
async function withStack<T>(
	opts: { env: Env; twins?: string[]; natsCluster?: boolean },
	fn: (s: Stack) => Promise<T>
): Promise<T> {
	const servers = opts.natsCluster ? await natsCluster("shopmesh-bench") : [];
	const clusterRef: { c?: Cluster } = {};
	const stop = track({
		name: "faults cluster",
		pids: () => [
			// Only live ones: a dead node's pid may belong to another process by now.
			...(clusterRef.c?.nodes ?? []).filter(alive).map(n => n.proc.pid),
			clusterRef.c?.nats.proc?.pid,
			...servers.filter(running).map(n => n.proc?.pid)
		],
		async stop() {
			await clusterRef.c?.stopAll();
			await Promise.all(servers.map(n => n.destroy()));
		}
	});
	try {
		if (servers.length) await startNatsCluster(servers);
		const env: Env = servers.length
			? {
					...opts.env,
					TRANSPORTER: servers.map(n => n.url).join(","),
					EVENTS_STREAM_REPLICAS: "3"
				}
			: opts.env;
		const cluster = (clusterRef.c = await createCluster());
		for (const s of [...SERVICES, ...(opts.twins ?? [])])
			cluster.start({
				services: s,
				nodeID: `${s}-${cluster.nodes.filter(n => n.spec.services === s).length + 1}`,
				env
			});
		await waitReady(
			cluster,
			SERVICES.filter(s => s !== "api")
		);
		await adminCanLogIn(cluster);
		const shop = await seedShop(cluster.base, { customers: 8, products: 1, stock: 1_000_000 });
		const node = (id: string) => {
			const n = cluster.nodes.findLast(x => x.spec.nodeID === id);
			if (!n) throw new Error(`faults: no node ${id}`);
			return n;
		};
		return await fn({
			cluster,
			shop,
			gateways: new Gateways([cluster.base]),
			env,
			servers,
			node
		});
	} finally {
		await stop();
	}
}

async function waitReady(cluster: Cluster, services: string[]) {
	const until = Date.now() + 90_000;
	for (;;) {
		const res = await api(cluster.base, "GET", "/ready").catch(() => undefined);
		if (services.every(s => res?.body?.services?.[s])) return;
		if (Date.now() > until) throw new Error(`faults: cluster not ready\n${cluster.logs()}`);
		await sleep(200);
	}
}

/** Users bootstraps the admin in its started hook; once, a login came before it (30 s bound). */
async function adminCanLogIn(cluster: Cluster) {
	const until = Date.now() + 30_000;
	for (;;) {
		const res = await api(cluster.base, "POST", "/users/login", ADMIN).catch(() => undefined);
		if (res?.status === 200) return;
		if (Date.now() > until)
			throw new Error(`faults: admin login ${res?.status}: ${JSON.stringify(res?.body)}`);
		await sleep(500);
	}
}

type Request = Parameters<typeof runLoad>[0]["request"];

const read =
	(shop: Shop): Request =>
	() => ({ what: "read", send: b => api(b, "GET", `/products/${shop.productIds[0]}`) });

/** Confirmed orders: id to when the answer came (epoch ms). */
type Confirmed = Map<string, number>;

/** Orders of the shop's customers in turn; each confirmed one goes to `confirmed`. */
const order =
	(shop: Shop, confirmed: Confirmed = new Map()): Request =>
	i => ({
		what: "order",
		send: async b => {
			const res = await api(b, "POST", "/orders", JSON.parse(orderBody(shop.productIds[0])), {
				Authorization: `Bearer ${shop.tokens[i % shop.tokens.length]}`
			});
			if (res.status === 201) confirmed.set(res.body.id, Date.now());
			return res;
		}
	});

/** A second of warm-up, then the measured load with `fault` FAULT_AT_MS into it. */
async function loadWithFault(
	ctx: BenchContext,
	s: Stack,
	opts: { concurrency: number; request: Request; durationMs: number; fault: () => Promise<void> }
) {
	const { concurrency, request } = opts;
	await runLoad({ gateways: s.gateways, concurrency, durationMs: 1000, request });
	const { answers, faultAt, faultDoneAt } = await runLoad({
		gateways: s.gateways,
		concurrency,
		durationMs: FAULT_AT_MS + opts.durationMs,
		request,
		fault: { atMs: FAULT_AT_MS, run: opts.fault }
	});
	ctx.log(`  ${answers.length} requests, fault at ${faultAt} ms, done at ${faultDoneAt} ms:`);
	for (const line of summary(answers).split("\n")) ctx.log(`    ${line}`);
	return { answers, faultAt: faultAt!, faultDoneAt: faultDoneAt! };
}

/**
 * Failed, slowest, and the fault to the last failed or slow (1 s or more) request. `answered`: a
 * status that is the right answer under this fault (a 503 while the only payments is gone).
 */
function requestFigures(
	answers: Answer[],
	faultAt: number,
	opts: {
		fault: string;
		answered?: (a: Answer) => boolean;
		targets?: Partial<Record<"failed" | "slowest" | "last", (v: number) => Target>>;
	}
): Figure[] {
	const ok = (a: Answer) => (a.status >= 200 && a.status < 300) || Boolean(opts.answered?.(a));
	const bad = answers.filter(a => !ok(a) || a.ms >= 1000);
	const t = {
		failed: zeroFailed,
		slowest: under(1000),
		last: under(1000),
		...opts.targets
	};
	return [
		{
			key: "failed",
			what: "requests failed",
			unit: "requests",
			value: answers.filter(a => !ok(a)).length,
			target: t.failed
		},
		{
			key: "slowest",
			what: "slowest request",
			unit: "ms",
			value: answers.reduce((m, a) => Math.max(m, a.ms), 0),
			target: t.slowest
		},
		{
			key: "last",
			what: `${opts.fault} to the last failed or slow (≥1 s) request`,
			unit: "ms",
			value: bad.reduce((m, a) => Math.max(m, a.startedAt + a.ms - faultAt), 0),
			target: t.last
		}
	];
}

/**
 * Wait (until `deadline`) for every confirmed order's "order.confirmed" notification, then a
 * second more for a late duplicate: how many are missing, how many came twice, and when the last
 * came of those of the orders confirmed before `before`.
 */
async function deliveries(
	ctx: BenchContext,
	s: Stack,
	confirmed: Confirmed,
	deadline: number,
	before = Infinity
) {
	const tokens = s.shop.tokens;
	const told = async () => {
		const byOrder = new Map<string, number[]>();
		for (const token of tokens)
			for (const n of await allRows(s.cluster, token, "/notifications"))
				if (n.kind === "order.confirmed")
					byOrder.set(n.orderId, [
						...(byOrder.get(n.orderId) ?? []),
						Date.parse(n.createdAt)
					]);
		return byOrder;
	};
	let byOrder = await told();
	const ids = [...confirmed.keys()];
	while (ids.some(id => !byOrder.has(id)) && Date.now() < deadline) {
		await sleep(500);
		byOrder = await told();
	}
	await sleep(1000);
	byOrder = await told();
	ctx.log(`  ${ids.length} orders confirmed, ${byOrder.size} told`);
	const times = ids.map(id => byOrder.get(id) ?? []);
	const earlier = ids.filter(id => confirmed.get(id)! < before);
	return {
		lastAt: Math.max(0, ...earlier.flatMap(id => byOrder.get(id) ?? [])),
		lost: times.filter(t => t.length === 0).length,
		duplicated: times.reduce((n, t) => n + Math.max(0, t.length - 1), 0)
	};
}

function eventFigures(d: { lost: number; duplicated: number }): Figure[] {
	return [
		{
			key: "lost",
			what: "confirmed orders never told",
			unit: "events",
			value: d.lost,
			target: none("lost")
		},
		{
			key: "duplicated",
			what: "confirmed orders told twice",
			unit: "events",
			value: d.duplicated,
			target: none("duplicated")
		}
	];
}

/**
 * Wait (up to `ms`) until `service`'s consumer of `event` holds a delivered, unacknowledged
 * message: what a kill -9 then leaves for JetStream to deliver again. How many it held.
 */
async function whenHeld(s: Stack, service: string, event: string, ms: number) {
	const nc = await connect({ servers: s.cluster.nats.url });
	try {
		const jsm = await nc.jetstreamManager();
		const stream = streamName(s.cluster.namespace, event.split(".")[0]);
		const until = Date.now() + ms;
		for (;;) {
			const info = await jsm.consumers.info(stream, durableName(service, event));
			if (info.num_ack_pending > 0 || Date.now() > until) return info.num_ack_pending;
			await sleep(5);
		}
	} finally {
		await nc.close();
	}
}

/** kill -9 `victim` under the load. */
const killUnder =
	(opts: {
		victim: string;
		twins: string[];
		concurrency: number;
		request: (shop: Shop) => Request;
		answered?: (a: Answer) => boolean;
	}) =>
	(ctx: BenchContext, env: Env) =>
		withStack({ env, twins: opts.twins }, async s => {
			const victim = s.node(opts.victim);
			const { answers, faultAt } = await loadWithFault(ctx, s, {
				concurrency: opts.concurrency,
				request: opts.request(s.shop),
				durationMs: afterMs(ctx),
				fault: async () => {
					await s.cluster.stop(victim, "SIGKILL");
				}
			});
			return requestFigures(answers, faultAt, { fault: "kill", answered: opts.answered });
		});

const FAULTS: Fault[] = [
	{
		id: "faults.twin",
		name: "kill -9 one of two inventory instances, c16 GET /api/products/:id",
		variants: FAILOVER_OFF_ON,
		run: killUnder({
			victim: "inventory-1",
			twins: ["inventory"],
			concurrency: 16,
			request: read
		})
	},
	{
		id: "faults.only",
		name: "kill -9 the only payments instance, c8 POST /api/orders",
		variants: FAILOVER_OFF_ON,
		run: killUnder({
			victim: "payments-1",
			twins: [],
			concurrency: 8,
			request: shop => order(shop),
			// A 503 SERVICE_UNAVAILABLE is the right answer while the only payments is gone.
			answered: a => a.status === 503 && a.type === "SERVICE_UNAVAILABLE"
		})
	},
	{
		id: "faults.frozen",
		name: "kill -STOP one of two inventory instances, then kill -CONT, c16 GET /api/products/:id",
		variants: FAILOVER_OFF_ON,
		run: (ctx, env) =>
			withStack(
				{ env: { ...env, RESPONSE_NODE_HEADER: "true" }, twins: ["inventory"] },
				async s => {
					const victim = s.node("inventory-1");
					const concurrency = 16;
					const { answers, faultAt, faultDoneAt } = await loadWithFault(ctx, s, {
						concurrency,
						request: read(s.shop),
						// After kill -CONT, past the breaker's half-open time: it is tried again.
						durationMs: afterMs(ctx) + HALF_OPEN_MS + 3000,
						fault: async () => {
							victim.proc.kill("SIGSTOP");
							await sleep(afterMs(ctx));
							victim.proc.kill("SIGCONT");
						}
					});
					// Stopped inside one of its rare writes, its twin kills it (docs/data.md): no rejoin.
					if (victim.proc.signalCode === "SIGKILL")
						ctx.log(
							"  inventory-1 was stopped holding the write lock: its twin killed it"
						);
					const answeredPerS = (from: number, to: number) =>
						Math.round(
							(answers
								.filter(a => a.status === 200 && a.startedAt + a.ms >= from)
								.filter(a => a.startedAt + a.ms < to).length *
								1000) /
								(to - from)
						);
					// Its first answer to a request sent after kill -CONT (only answers carry X-Node-ID).
					const rejoined = answers
						.filter(a => a.node === "inventory-1" && a.startedAt >= faultDoneAt)
						.reduce((m, a) => Math.min(m, a.startedAt + a.ms - faultDoneAt), Infinity);
					return [
						...requestFigures(answers, faultAt, {
							fault: "STOP",
							targets: {
								// The breaker opens on failures: those in flight to it, no more.
								failed: v => ({
									text: `only those in flight at the STOP (≤ ${concurrency})`,
									holds: v <= concurrency
								}),
								slowest: under(
									BUDGET_MS.read + 1000,
									"within the read budget + 1 s"
								),
								// A half-open trial may be the last slow one: the rate below says more.
								last: undefined
							}
						}),
						{
							key: "frozenRate",
							what: `reads answered per second while it was frozen (${(faultDoneAt - faultAt) / 1000} s; ${answeredPerS(0, faultAt)}/s before)`,
							unit: "req/s",
							value: answeredPerS(faultAt, faultDoneAt),
							// Traffic off it: the survivor answers about as many as the two did.
							target: v => ({
								text: "at least half the rate before",
								holds: v >= answeredPerS(0, faultAt) / 2
							})
						},
						{
							key: "rejoin",
							what: "CONT to its first answer",
							unit: "ms",
							value: Number.isFinite(rejoined) ? rejoined : Number.NaN,
							target: under(
								HALF_OPEN_MS + 1000,
								"back within the half-open time + 1 s"
							)
						}
					];
				}
			)
	},
	{
		id: "faults.consumer",
		name: "kill -9 notifications holding unhandled events, restarted at once, c8 POST /api/orders",
		variants: [
			{
				key: "ack30s",
				label: "EVENTS_ACK_WAIT_MS=30000, before",
				env: { EVENTS_ACK_WAIT_MS: "30000" }
			},
			{ key: "ack", label: "", env: { EVENTS_ACK_WAIT_MS: undefined } }
		],
		run: (ctx, env) =>
			withStack({ env }, async s => {
				const confirmed: Confirmed = new Map();
				let readyAt = 0;
				const { answers, faultAt } = await loadWithFault(ctx, s, {
					concurrency: 8,
					request: order(s.shop, confirmed),
					durationMs: afterMs(ctx),
					fault: async () => {
						// Frozen first, so what it is then handed surely stays unhandled: the
						// events the ack wait is for (a handled, unacked one is only a duplicate).
						const victim = s.node("notifications-1");
						victim.proc.kill("SIGSTOP");
						const held = await whenHeld(s, "notifications", "order.confirmed", 5000);
						ctx.log(`  killed holding ${held} unacknowledged order.confirmed events`);
						await s.cluster.stop(victim, "SIGKILL");
						const port = await freePort();
						s.cluster.start({
							services: "notifications",
							nodeID: "notifications-1",
							env: { ...s.env, HEALTH_PORT: String(port), HEALTH_HOST: "127.0.0.1" }
						});
						await waitForHttp(`http://127.0.0.1:${port}/ready`, 60_000);
						readyAt = Date.now();
					}
				});
				// Well past the baseline's 30 s ack wait; the orders confirmed once it was ready
				// reach it as they would without the fault.
				const d = await deliveries(ctx, s, confirmed, readyAt + 45_000, readyAt);
				return [
					...requestFigures(answers, faultAt, { fault: "kill" }),
					{
						key: "told",
						what: "its ready to every earlier confirmed order told",
						unit: "ms",
						value: d.lost ? Number.NaN : Math.max(0, d.lastAt - readyAt),
						target: under(5000)
					},
					...eventFigures(d)
				];
			})
	},
	{
		id: "faults.nats",
		name: "kill -9 the orders stream's leader of 3 routed nats-servers (JetStream R3), c8 POST /api/orders",
		variants: FAILOVER_OFF_ON,
		run: (ctx, env) =>
			withStack({ env, natsCluster: true }, async s => {
				const confirmed: Confirmed = new Map();
				const { answers, faultAt } = await loadWithFault(ctx, s, {
					concurrency: 8,
					request: order(s.shop, confirmed),
					durationMs: afterMs(ctx),
					fault: async () =>
						killServer(s.servers[await streamLeader(s.servers, "_ORDER")])
				});
				const d = await deliveries(ctx, s, confirmed, Date.now() + 15_000);
				return [
					...requestFigures(answers, faultAt, {
						fault: "kill",
						targets: {
							slowest: undefined,
							last: under(3000, "under 3 s (the reconnect)")
						}
					}),
					...eventFigures(d)
				];
			})
	}
];

export async function faults(ctx: BenchContext): Promise<void> {
	const group = GROUPS.faults;
	for (const fault of FAULTS) {
		const [before, measured] = fault.variants;
		for (const variant of fault.variants) {
			const label = variant.label ? ` (${variant.label})` : "";
			ctx.log(`faults: ${fault.name}${label}`);
			const figures = await fault.run(ctx, {
				...nodeEnv({ cacher: "Memory" }),
				...variant.env
			});
			ctx.log(`  ${figures.map(f => `${f.what}: ${f.value} ${f.unit}`).join(", ")}`);
			const failed = figures.find(f => f.key === "failed")?.value;
			for (const f of figures)
				ctx.results.add({
					id: `${fault.id}.${variant.key}.${f.key}`,
					group,
					name: `${fault.name}: ${f.what}${label}`,
					unit: f.unit,
					value: f.value,
					errors: failed,
					baselineId:
						variant === measured ? `${fault.id}.${before.key}.${f.key}` : undefined,
					targets: variant === measured && f.target ? [f.target(f.value)] : undefined
				});
		}
	}
}
