/**
 * Load generators: autocannon for HTTP, and a fixed-concurrency call loop for anything that is a
 * promise-returning call (raw NATS requests, broker.call). Both give the same LoadResult.
 */
import autocannon from "autocannon";
import { percentile } from "./stats";

export interface LoadResult {
	/** Completed requests (any status) per second. */
	rps: number;
	/** Latency percentiles in ms. */
	p50: number;
	p99: number;
	total: number;
	/** Responses that are not 2xx (HTTP), or failed calls. */
	non2xx: number;
	/** Connection errors and timeouts. */
	errors: number;
	durationS: number;
	connections: number;
	statusCodes?: Record<string, number>;
	/** The first few error answers, to say what went wrong. */
	errorSamples?: string[];
	/**
	 * With `connectionTail`: the p99 of every answer but each connection's first, and the slowest
	 * first answer (a new connection waits to be accepted: one per event-loop turn of the server).
	 */
	p99Connected?: number;
	firstMax?: number;
}

export interface HttpLoad {
	url: string;
	connections: number;
	durationS: number;
	method?: string;
	headers?: Record<string, string>;
	body?: string;
	/** Per-connection headers and body (e.g. one user and product per connection). */
	perConnection?: (index: number) => { headers?: Record<string, string>; body?: string };
	/** Keep every answer's latency, telling each connection's first answer from the rest. */
	connectionTail?: boolean;
}

interface Slice {
	raw: unknown;
	duration: number;
	samples: string[];
	/** With connectionTail: latencies (ms) of the first answer of each connection, and the rest. */
	firsts?: number[];
	connected?: number[];
}

/** One autocannon run, kept raw so several runs (slices) aggregate into one histogram. */
async function slice(opts: HttpLoad, durationS: number): Promise<Slice> {
	const samples: string[] = [];
	let next = 0;
	const instance = autocannon({
		url: opts.url,
		connections: opts.connections,
		duration: durationS,
		timeout: 20,
		skipAggregateResult: true,
		requests: [
			{
				method: opts.method ?? "GET",
				headers: opts.headers,
				body: opts.body,
				onResponse(status, body) {
					if ((status < 200 || status > 299) && samples.length < 5)
						samples.push(`${status} ${body.slice(0, 300)}`);
				}
			}
		],
		setupClient: opts.perConnection
			? client => {
					const c = opts.perConnection!(next++);
					client.setHeadersAndBody(
						{ ...opts.headers, ...c.headers },
						c.body ?? opts.body ?? ""
					);
				}
			: undefined
	});
	const tail = opts.connectionTail ? trackConnections(instance) : undefined;
	const raw = await instance;
	return {
		raw,
		duration: (raw as unknown as { duration: number }).duration,
		samples,
		...tail
	};
}

function trackConnections(instance: autocannon.Instance) {
	const tail = { firsts: [] as number[], connected: [] as number[] };
	const seen = new WeakSet<object>();
	instance.on("response", (client: object, _status: number, _bytes: number, ms: number) => {
		if (seen.has(client)) tail.connected.push(ms);
		else {
			seen.add(client);
			tail.firsts.push(ms);
		}
	});
	return tail;
}

function aggregate(opts: HttpLoad, slices: Slice[]): LoadResult {
	const res = autocannon.aggregateResult(
		slices.map(s => s.raw),
		{ url: opts.url, connections: opts.connections }
	);
	const statusCodes = Object.fromEntries(
		Object.entries(res.statusCodeStats ?? {}).map(([k, v]) => [k, Number(v.count)])
	);
	const total = Object.values(statusCodes).reduce((a, b) => a + b, 0);
	const durationS = slices.reduce((sum, s) => sum + s.duration, 0);
	const samples = slices.flatMap(s => s.samples).slice(0, 5);
	const connected = slices.flatMap(s => s.connected ?? []).sort((a, b) => a - b);
	const firsts = slices.flatMap(s => s.firsts ?? []);
	return {
		rps: total / durationS,
		p50: res.latency.p50,
		p99: res.latency.p99,
		total,
		non2xx: res.non2xx,
		errors: res.errors + res.timeouts,
		durationS,
		connections: opts.connections,
		statusCodes,
		...(samples.length ? { errorSamples: samples } : {}),
		...(opts.connectionTail && connected.length
			? { p99Connected: percentile(connected, 99), firstMax: Math.max(...firsts) }
			: {})
	};
}

export async function httpLoad(opts: HttpLoad): Promise<LoadResult> {
	return aggregate(opts, [await slice(opts, opts.durationS)]);
}

/**
 * Several loads measured in alternating slices (A B A B ...) for `durationS` seconds each, so a
 * noisy neighbour on a shared machine hits all of them alike and their ratio holds.
 */
export async function interleaved(
	loads: Omit<HttpLoad, "durationS">[],
	durationS: number,
	sliceS = 2
): Promise<LoadResult[]> {
	const n = Math.max(1, Math.round(durationS / sliceS));
	const each = durationS / n;
	const slices: Slice[][] = loads.map(() => []);
	for (let i = 0; i < n; i++)
		for (const [k, load] of loads.entries())
			slices[k].push(await slice({ ...load, durationS: each }, each));
	return loads.map((load, k) => aggregate({ ...load, durationS }, slices[k]));
}

interface CallSlice {
	latencies: number[];
	failed: number;
	elapsedS: number;
	samples: string[];
}

/** Keep `concurrency` calls in flight for `durationS` seconds; every call's latency is kept. */
async function callSlice(
	call: (i: number) => Promise<unknown>,
	concurrency: number,
	durationS: number
): Promise<CallSlice> {
	const out: CallSlice = { latencies: [], failed: 0, elapsedS: 0, samples: [] };
	let n = 0;
	const started = performance.now();
	const until = started + durationS * 1000;
	const worker = async () => {
		while (performance.now() < until) {
			const t = performance.now();
			try {
				await call(n++);
				out.latencies.push(performance.now() - t);
			} catch (err) {
				out.failed++;
				if (out.samples.length < 5) out.samples.push(String((err as Error).message ?? err));
			}
		}
	};
	await Promise.all(Array.from({ length: concurrency }, worker));
	out.elapsedS = (performance.now() - started) / 1000;
	return out;
}

function aggregateCalls(slices: CallSlice[], concurrency: number): LoadResult {
	const latencies = slices.flatMap(s => s.latencies).sort((a, b) => a - b);
	const failed = slices.reduce((sum, s) => sum + s.failed, 0);
	const durationS = slices.reduce((sum, s) => sum + s.elapsedS, 0);
	const samples = slices.flatMap(s => s.samples).slice(0, 5);
	return {
		rps: (latencies.length + failed) / durationS,
		p50: percentile(latencies, 50),
		p99: percentile(latencies, 99),
		total: latencies.length + failed,
		non2xx: failed,
		errors: 0,
		durationS,
		connections: concurrency,
		...(samples.length ? { errorSamples: samples } : {})
	};
}

/** Keep `concurrency` calls in flight for `durationS` seconds. */
export async function callLoad(
	call: (i: number) => Promise<unknown>,
	concurrency: number,
	durationS: number
): Promise<LoadResult> {
	return aggregateCalls([await callSlice(call, concurrency, durationS)], concurrency);
}

/** Several call loads in alternating slices (A B A B ...), `durationS` seconds each. */
export async function interleavedCalls(
	calls: ((i: number) => Promise<unknown>)[],
	concurrency: number,
	durationS: number,
	sliceS = 2
): Promise<LoadResult[]> {
	const n = Math.max(1, Math.round(durationS / sliceS));
	const slices: CallSlice[][] = calls.map(() => []);
	for (let i = 0; i < n; i++)
		for (const [k, call] of calls.entries())
			slices[k].push(await callSlice(call, concurrency, durationS / n));
	return slices.map(s => aggregateCalls(s, concurrency));
}
