/**
 * 1. Baselines, measured in the same run as everything else: the bare node:http hello server, a
 * raw NATS request-reply echo with the `nats` client, and a plain `broker.call` over NATS to a
 * trivial action on another process (our broker configuration, no HTTP).
 */
import path from "node:path";
import { connect, createInbox, type NatsConnection } from "nats";
import { startNode, stopNode } from "../../scripts/cluster-lib";
import { type BenchContext, CONCURRENCY, measureHttp } from "../lib/context";
import { callLoad, type LoadResult } from "../lib/load";
import { BENCH_DIR, startHelper, track } from "../lib/procs";
import { GROUPS, fromLoad } from "../lib/report";
import { callerBroker, nodeEnv } from "../lib/stack";

const GROUP = GROUPS.baselines;

async function measureCalls(
	ctx: BenchContext,
	what: string,
	call: () => Promise<unknown>
): Promise<LoadResult> {
	if (ctx.warmupS > 0) await callLoad(call, CONCURRENCY, ctx.warmupS);
	const res = await callLoad(call, CONCURRENCY, ctx.durationS);
	ctx.log(`  ${what}: ${Math.round(res.rps)} calls/s, p99 ${res.p99.toFixed(2)} ms`);
	return res;
}

/**
 * Request-reply the way a broker does it: one subscription on a reply inbox, requests published
 * with that inbox as reply subject and matched by a sequence number in the payload (nc.request()
 * adds a timer and a promise bookkeeping per call, which costs more than the round trip here).
 */
function inboxCaller(nc: NatsConnection, payload: Uint8Array): () => Promise<void> {
	const inbox = createInbox();
	const pending = new Map<number, { resolve(): void; reject(e: Error): void; at: number }>();
	let seq = 0;
	nc.subscribe(inbox, {
		callback: (_err, msg) => {
			const id = new DataView(msg.data.buffer, msg.data.byteOffset, 4).getUint32(0);
			pending.get(id)?.resolve();
			pending.delete(id);
		}
	});
	// One sweep instead of a timer per call: a reply lost for 10 s fails its call.
	const sweep = setInterval(() => {
		const old = Date.now() - 10_000;
		for (const [id, p] of pending)
			if (p.at < old) {
				pending.delete(id);
				p.reject(new Error("no reply within 10 s"));
			}
	}, 1000);
	sweep.unref();
	return () =>
		new Promise<void>((resolve, reject) => {
			seq = (seq + 1) >>> 0;
			const buf = new Uint8Array(4 + payload.length);
			new DataView(buf.buffer).setUint32(0, seq);
			buf.set(payload, 4);
			pending.set(seq, { resolve, reject, at: Date.now() });
			nc.publish("bench.echo", buf, { reply: inbox });
		});
}

export async function baselines(ctx: BenchContext): Promise<void> {
	ctx.log("baselines: bare node:http");
	const res = await measureHttp(ctx, "node:http hello", {
		url: ctx.refs.bareUrl,
		connections: CONCURRENCY
	});
	ctx.results.add(
		fromLoad(res, {
			id: "baseline.http",
			group: GROUP,
			name: `bare node:http hello, c${CONCURRENCY}`,
			unit: "req/s"
		})
	);

	ctx.log("baselines: raw NATS request-reply");
	const { nats } = ctx.refs;
	const echo = await startHelper("servers/nats-echo.ts", [nats.url]);
	const nc = await connect({ servers: nats.url });
	const untrackNats = track({ name: "nats client", pids: () => [], stop: () => nc.close() });
	try {
		const payload = new TextEncoder().encode(JSON.stringify({ hello: "world" }));
		const viaRequest = await measureCalls(ctx, "raw NATS echo, nc.request()", () =>
			nc.request("bench.echo", payload, { timeout: 10_000 })
		);
		ctx.results.add(
			fromLoad(viaRequest, {
				id: "baseline.nats.request",
				group: GROUP,
				name: `raw NATS request-reply echo with nc.request(), ${CONCURRENCY} in flight`,
				unit: "calls/s"
			})
		);
		const viaInbox = await measureCalls(
			ctx,
			"raw NATS echo, publish + one reply inbox",
			inboxCaller(nc, payload)
		);
		ctx.results.add(
			fromLoad(viaInbox, {
				id: "baseline.nats",
				group: GROUP,
				name: `raw NATS request-reply echo with publish + one reply inbox, ${CONCURRENCY} in flight`,
				unit: "calls/s",
				baselineId: "baseline.nats.request"
			})
		);
	} finally {
		await untrackNats();
		await echo.stop();
	}

	ctx.log("baselines: broker.call over NATS (our broker configuration)");
	const node = startNode({
		services: path.join(BENCH_DIR, "services", "echo.service.ts"),
		nodeID: "bench-echo",
		env: {
			...nodeEnv({ cacher: "Memory", profileDir: ctx.profileDir }),
			TRANSPORTER: nats.url,
			NAMESPACE: nats.namespace
		}
	});
	const untrackNode = track({
		name: "echo node",
		pids: () => [node.proc.pid],
		stop: async () => void (await stopNode(node, "SIGTERM", 5000))
	});
	try {
		const broker = await callerBroker(nats);
		const untrackBroker = track({
			name: "caller broker",
			pids: () => [],
			stop: () => broker.stop()
		});
		try {
			await broker.waitForServices("benchecho", 60_000);
			const res = await measureCalls(ctx, "broker.call echo", () =>
				broker.call("benchecho.echo", { hello: "world" })
			);
			ctx.results.add(
				fromLoad(res, {
					id: "baseline.broker",
					group: GROUP,
					name: `broker.call over NATS to a trivial action, ${CONCURRENCY} in flight`,
					unit: "calls/s",
					baselineId: "baseline.nats"
				})
			);
		} finally {
			await untrackBroker();
		}
	} finally {
		await untrackNode();
	}
}
