/**
 * The parts that drive the shop itself through its gateway: reads, the write path and RSS.
 * Shared by the embedded and cluster scenarios.
 */
import { type BenchContext, CONCURRENCY, measureHttp, measurePaired } from "../lib/context";
import http from "node:http";
import { cpuMs, rssMB, sleep, startHelper } from "../lib/procs";
import { fromLoad, type Row, type Target } from "../lib/report";
import { ratio } from "../lib/stats";
import { orderBody, orderLoad, seedShop, type Shop, type Stack } from "../lib/stack";

export const WRITE_CONCURRENCY = [1, 16, 64] as const;

/** Orders at c64 must reach this many per second (issue targets). */
export const ORDER_TARGETS = { embedded: 800, cluster: 400 } as const;
const ORDER_P99_MS = 250;

export async function seed(stack: Stack): Promise<Shop> {
	// Many customers and several products: each connection orders as one customer and product,
	// so no customer's list of orders grows unrealistically long.
	return seedShop(stack.base, { customers: 128, products: 8, stock: 10_000_000 });
}

export interface ReadSpec {
	id: string;
	group: string;
	name: string;
	path: string;
	baselineId?: string;
	targets?: (row: Row) => Target[];
	note?: string;
	/** Also measure this vanilla moleculer-web route in the same slices, as its own row. */
	vanilla?: Reference;
	/** Also measure bare node:http sending the same answer (sameAnswer()), as its own row. */
	sameAnswer?: Reference;
}

interface Reference {
	id: string;
	name: string;
	url: string;
}

/**
 * GET through the gateway at c64, in alternating slices with the bare node:http baseline (and
 * the vanilla and same-answer references, if any); the answer must be 200 every time.
 */
export async function read(ctx: BenchContext, stack: Stack, spec: ReadSpec): Promise<Row> {
	const references = [spec.sameAnswer, spec.vanilla].filter(r => r != null);
	const { res, bare, others } = await measurePaired(
		ctx,
		spec.name,
		{ url: stack.base + spec.path, connections: CONCURRENCY },
		references
	);
	const row = fromLoad(res, {
		id: spec.id,
		group: spec.group,
		name: spec.name,
		unit: "req/s",
		baselineId: spec.baselineId,
		note: spec.note
	});
	row.pairedBare = bare.rps;
	row.targets = [...(spec.targets?.(row) ?? []), zeroErrors(row)];
	for (const [k, reference] of references.entries()) {
		const added = ctx.results.add(
			fromLoad(others[k], {
				id: reference.id,
				group: spec.group,
				name: reference.name,
				unit: "req/s",
				note: "same slices as our gateway's row"
			})
		);
		added.pairedBare = bare.rps;
		if (reference !== spec.vanilla) continue;
		const r = ratio(row.value, added.value) ?? 0;
		row.targets.push({
			text: `beats vanilla moleculer-web (${(r * 100).toFixed(0)}% of it)`,
			holds: r > 1
		});
	}
	return ctx.results.add(row);
}

/**
 * Bare node:http sending what the gateway answers to `GET url` (bench/servers/same-answer.ts):
 * the answer's header fields in order and its body, fetched once. Stop it after the read.
 */
export async function sameAnswer(url: string): Promise<{ url: string; stop(): Promise<void> }> {
	const answer = await new Promise<{ headers: [string, string][]; body: string }>(
		(resolve, reject) => {
			http.get(url, res => {
				let body = "";
				res.setEncoding("utf8");
				res.on("data", (chunk: string) => (body += chunk));
				res.on("end", () => {
					if (res.statusCode !== 200)
						return reject(new Error(`GET ${url}: ${res.statusCode} ${body}`));
					const raw = res.rawHeaders;
					const headers: [string, string][] = [];
					for (let i = 0; i < raw.length; i += 2) headers.push([raw[i], raw[i + 1]]);
					resolve({ headers, body });
				});
			}).on("error", reject);
		}
	);
	const helper = await startHelper("servers/same-answer.ts", [JSON.stringify(answer)]);
	return { url: `http://127.0.0.1:${helper.ready}/`, stop: helper.stop };
}

/** At least `share` of bare node:http measured in the same slices. */
export function shareOfBare(row: Row, share: number): Target {
	const r = ratio(row.value, row.pairedBare) ?? 0;
	return {
		text: `≥ ${share * 100}% of bare node:http (${(r * 100).toFixed(0)}%)`,
		holds: r >= share
	};
}

/** p99 latency under a bound. */
export function p99Under(row: Row, ms: number): Target {
	return { text: `p99 < ${ms} ms`, holds: (row.p99 ?? Infinity) < ms };
}

/** No error answers, and answers at all (a run whose every call outlasts it has none). */
function zeroErrors(row: Row): Target {
	if (!row.load?.total) return { text: "0 errors (no answer within the run)", holds: false };
	return { text: "0 errors", holds: row.errors === 0 };
}

/** Check that one order goes through before loading the write path. */
async function probeOrder(stack: Stack, shop: Shop): Promise<void> {
	const res = await fetch(`${stack.base}/orders`, {
		method: "POST",
		headers: {
			"Content-Type": "application/json",
			Authorization: `Bearer ${shop.tokens[0]}`
		},
		body: orderBody(shop.productIds[0]),
		signal: AbortSignal.timeout(20_000)
	});
	if (res.status !== 201)
		throw new Error(`a first order failed: ${res.status} ${await res.text()}`);
}

/**
 * POST /api/orders end to end (auth, pricing, reserve, authorize, capture, commit, events) at
 * each concurrency level. Every answer must be 201.
 */
export async function writePath(
	ctx: BenchContext,
	stack: Stack,
	shop: Shop,
	mode: "embedded" | "cluster",
	group: string
): Promise<void> {
	await probeOrder(stack, shop);
	for (const c of WRITE_CONCURRENCY) {
		const cpu = cpuMeter(stack);
		const res = await measureHttp(
			ctx,
			`POST /api/orders c${c}`,
			{ ...orderLoad(stack.base, shop, c), connectionTail: true },
			() => cpu.begin()
		);
		const row = fromLoad(res, {
			id: `write.${mode}.c${c}`,
			group,
			name: `POST /api/orders, ${mode}, c${c}`,
			unit: "orders/s",
			baselineId: mode === "embedded" ? "gateway.local" : `write.embedded.c${c}`
		});
		row.cpuPerOrderMs = cpu.perRequest(res.total);
		row.targets = [zeroErrors(row)];
		if (c === 64)
			row.targets.unshift(
				{
					text: `≥ ${ORDER_TARGETS[mode]} orders/s`,
					holds: row.value >= ORDER_TARGETS[mode]
				},
				p99Under(row, ORDER_P99_MS)
			);
		ctx.results.add(row);
		ctx.results.notes.push(
			`${row.name}: CPU ms per order, by process: ` +
				Object.entries(row.cpuPerOrderMs)
					.map(([name, ms]) => `${name} ${ms}`)
					.join(", ")
		);
		if (c > 1 && res.p99Connected != null && res.firstMax != null)
			ctx.results.notes.push(
				`${row.name}: p99 ${res.p99Connected.toFixed(0)} ms once connected; the first answers ` +
					`on the ${c} new connections took up to ${res.firstMax.toFixed(0)} ms (a socket ` +
					`accepts one connection per event-loop turn; the gateway listens on several)`
			);
		if (res.errorSamples?.length)
			ctx.results.notes.push(
				`${row.name}: first error answers: ${res.errorSamples.map(s => `\`${s}\``).join("; ")}`
			);
	}
}

/**
 * CPU time each node of the stack (and its nats-server) uses during the measured run (from
 * begin(), after the warm-up), per request: where an order's time goes, process by process.
 */
function cpuMeter(stack: Stack) {
	const pids = () => [
		...stack.nodes.map(n => ({ name: n.spec.nodeID, pid: n.proc.pid })),
		...(stack.cluster ? [{ name: "nats-server", pid: stack.cluster.nats.proc?.pid }] : [])
	];
	let start: Map<string, number> | undefined;
	const snapshot = () => new Map(pids().map(p => [p.name, cpuMs(p.pid) ?? NaN]));
	return {
		/** Call right before the measured run (after the warm-up). */
		begin: () => (start = snapshot()),
		perRequest(requests: number): Record<string, number> {
			const end = snapshot();
			const out: Record<string, number> = {};
			for (const [name, ms] of end)
				if (start?.has(name) && requests > 0)
					out[name] = Math.round(((ms - start.get(name)!) / requests) * 100) / 100;
			return out;
		}
	};
}

/** RSS of every node of a stack, in MB (idle: before any load; after: after the write path). */
export async function memory(
	ctx: BenchContext,
	stack: Stack,
	phase: "idle" | "after",
	group: string
): Promise<void> {
	await sleep(1000); // let the last requests and timers settle
	for (const node of stack.nodes) {
		const value = rssMB(node.proc.pid);
		if (value == null) continue;
		const id = `memory.${stack.kind}.${node.spec.nodeID}`;
		ctx.results.add({
			id: `${id}.${phase}`,
			group,
			name: `RSS ${stack.kind === "embedded" ? "embedded (all services)" : node.spec.nodeID}, ${
				phase === "idle" ? "idle" : "after the write path"
			}`,
			unit: "MB",
			value,
			baselineId: phase === "after" ? `${id}.idle` : undefined
		});
	}
	if (stack.kind === "cluster") {
		const total = stack.nodes.reduce((sum, n) => sum + (rssMB(n.proc.pid) ?? 0), 0);
		ctx.results.add({
			id: `memory.cluster.total.${phase}`,
			group,
			name: `RSS all ${stack.nodes.length} cluster nodes, ${phase === "idle" ? "idle" : "after the write path"}`,
			unit: "MB",
			value: total,
			baselineId:
				phase === "after" ? "memory.cluster.total.idle" : "memory.embedded.embedded.idle"
		});
	}
}
