/**
 * Traffic per action, counted on the node where each call runs: calls, errors and the latency
 * quantiles of the last few seconds. The operator console reads it from every node as
 * `$node.traffic`; moleculer's own metrics stay for Prometheus (moleculer.config.ts).
 */
import type {
	ActionSchema,
	Context,
	Middleware,
	Service,
	ServiceBroker,
	ServiceSchema
} from "moleculer";

/** One action's traffic; p50/p99 in milliseconds over the window, null without calls in it. */
export interface ActionTraffic {
	total: number;
	errors: number;
	p50: number | null;
	p99: number | null;
	/** Calls timed in the window (the quantiles' weight when nodes are combined). */
	count: number;
}

/** A node's traffic by action name, as `$node.traffic` answers. */
export type TrafficSnapshot = Record<string, ActionTraffic>;

export interface TrafficMeterOptions {
	/** Milliseconds, monotonic; performance.now() unless a test injects its own. */
	now?: () => number;
	/** Latency samples kept per action and second; beyond it a uniform sample of the second's calls. */
	maxSamples?: number;
	random?: () => number;
}

const BUCKET_MS = 1000;
/** The quantiles' window: this many one-second buckets. */
const BUCKETS = 5;

interface Bucket {
	second: number;
	/** Calls timed in this second; `samples` holds at most maxSamples of them. */
	seen: number;
	samples: number[];
}

/** One action's counters, resolved once when its handler is wrapped. */
export class ActionMeter {
	total = 0;
	errors = 0;
	readonly buckets: Bucket[] = Array.from({ length: BUCKETS }, () => ({
		second: -1,
		seen: 0,
		samples: []
	}));

	constructor(
		private readonly now: () => number,
		private readonly maxSamples: number,
		private readonly random: () => number
	) {}

	/** One call that took `ms`, failed or not. */
	add(ms: number, failed: boolean): void {
		this.total++;
		if (failed) this.errors++;
		const second = Math.floor(this.now() / BUCKET_MS);
		const b = this.buckets[second % BUCKETS]!;
		if (b.second !== second) {
			b.second = second;
			b.seen = 0;
			b.samples.length = 0;
		}
		b.seen++;
		if (b.samples.length < this.maxSamples) b.samples.push(ms);
		else {
			// Reservoir sampling: every call of the second is equally likely to be kept.
			const i = Math.floor(this.random() * b.seen);
			if (i < this.maxSamples) b.samples[i] = ms;
		}
	}

	read(): ActionTraffic {
		const second = Math.floor(this.now() / BUCKET_MS);
		let count = 0;
		const samples: number[] = [];
		for (const b of this.buckets)
			if (b.second > second - BUCKETS && b.second <= second) {
				count += b.seen;
				for (const ms of b.samples) samples.push(ms);
			}
		// Sorted only here: recording stays a push.
		const sorted = Float64Array.from(samples).sort();
		const at = (q: number) =>
			sorted.length
				? sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!
				: null;
		return { total: this.total, errors: this.errors, p50: at(0.5), p99: at(0.99), count };
	}
}

/** Every action's traffic on one broker. */
export class TrafficMeter {
	private readonly actions = new Map<string, ActionMeter>();
	private readonly now: () => number;
	private readonly maxSamples: number;
	private readonly random: () => number;

	constructor(options: TrafficMeterOptions = {}) {
		this.now = options.now ?? (() => performance.now());
		this.maxSamples = options.maxSamples ?? 1000;
		this.random = options.random ?? Math.random;
	}

	/** The action's counters, the same object for every call of it. */
	action(name: string): ActionMeter {
		let m = this.actions.get(name);
		if (!m)
			this.actions.set(name, (m = new ActionMeter(this.now, this.maxSamples, this.random)));
		return m;
	}

	/** The actions called at least once (every action is registered when its handler is wrapped). */
	snapshot(): TrafficSnapshot {
		const out: TrafficSnapshot = {};
		for (const [name, m] of this.actions) if (m.total > 0) out[name] = m.read();
		return out;
	}

	/** Latency samples held over every action (memory stays bounded by maxSamples). */
	samplesHeld(): number {
		let n = 0;
		for (const m of this.actions.values()) for (const b of m.buckets) n += b.samples.length;
		return n;
	}
}

/** Each broker's meter: brokers made from one configuration (tests make several) count apart. */
const meters = new WeakMap<ServiceBroker, TrafficMeter>();

/** The traffic meter of `broker`, made on first use. */
export function trafficOf(broker: ServiceBroker): TrafficMeter {
	let meter = meters.get(broker);
	if (!meter) meters.set(broker, (meter = new TrafficMeter()));
	return meter;
}

/**
 * Counts and times every local call into the broker's meter; an error is counted and re-thrown.
 * It adds itself once the broker has registered moleculer's own middlewares, so it wraps them: a
 * call answered from the cache, or refused by validation, a bulkhead or a breaker, counts too.
 */
export function TrafficMiddleware(): Middleware {
	return {
		name: "TrafficAfterInternals",
		created(broker: ServiceBroker) {
			broker.middlewares.add(meterCalls(trafficOf(broker)));
		}
	} as Middleware;
}

function meterCalls(meter: TrafficMeter): Middleware {
	return {
		name: "Traffic",
		localAction(next: (ctx: Context) => Promise<unknown>, action: ActionSchema) {
			const m = meter.action(action.name!);
			return (ctx: Context) => {
				const start = performance.now();
				return next(ctx).then(
					res => {
						m.add(performance.now() - start, false);
						return res;
					},
					(err: unknown) => {
						m.add(performance.now() - start, true);
						throw err;
					}
				);
			};
		}
	} as Middleware;
}

/**
 * The `$node` schema adding `traffic` (the broker's own meter), for the broker's
 * `internalServices` option: moleculer creates `$node` from it with its own `$node` schema as a
 * mixin (and adds that mixin to this very object, once per broker made with it).
 */
export const TRAFFIC_NODE_SERVICE: Partial<ServiceSchema> = {
	actions: {
		traffic: {
			params: {},
			handler(this: Service): TrafficSnapshot {
				return trafficOf(this.broker).snapshot();
			}
		}
	}
};
