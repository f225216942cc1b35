/**
 * Traffic per action from every node's `$node.traffic` (platform/runtime/traffic.ts), as the
 * console charts it. Plain functions and a bounded history; no broker.
 */
import type { TrafficSnapshot } from "../../../platform/runtime/traffic";

export interface ActionCounters {
	total: number;
	errors: number;
	/** Over the meter's window (the last 5 s); null without calls in it. */
	p50: number | null;
	p99: number | null;
}

/** The broker's own and the console's actions are left out: polling them is not traffic. */
export const isWatchedAction = (action: string) =>
	!action.startsWith("$") &&
	!action.startsWith("ops.") &&
	!action.endsWith(".opsStats") &&
	!action.endsWith(".eventStats");

/**
 * Counters per action, summed over nodes (each counts the calls it ran). p99 is the worst
 * node's, p50 the nodes' mean weighted by their calls in the window.
 */
export function actionCounters(perNode: TrafficSnapshot[]): Map<string, ActionCounters> {
	const out = new Map<string, ActionCounters & { p50Weight: number }>();
	for (const snapshot of perNode)
		for (const [action, t] of Object.entries(snapshot)) {
			if (!isWatchedAction(action)) continue;
			let e = out.get(action);
			if (!e)
				out.set(action, (e = { total: 0, errors: 0, p50: null, p99: null, p50Weight: 0 }));
			e.total += t.total;
			e.errors += t.errors;
			if (t.p50 !== null && t.count > 0) {
				e.p50 = ((e.p50 ?? 0) * e.p50Weight + t.p50 * t.count) / (e.p50Weight + t.count);
				e.p50Weight += t.count;
			}
			if (t.p99 !== null) e.p99 = Math.max(e.p99 ?? 0, t.p99);
		}
	return new Map([...out].map(([k, { p50Weight: _, ...c }]) => [k, c]));
}

export interface ActionSeries {
	/** Calls counted between a sample and the one before (whole numbers: what to rank by). */
	calls: (number | null)[];
	rps: (number | null)[];
	errorsPerSec: (number | null)[];
	p50: (number | null)[];
	p99: (number | null)[];
}
export interface TrafficView {
	/** Seconds since the epoch, one per sample (uPlot's x axis). */
	times: number[];
	actions: Record<string, ActionSeries>;
}

/**
 * The last `size` samples. Rates come from the difference of two samples' totals; a total that
 * went down (a node restarted or left) counts as no traffic, never as negative traffic.
 */
export class TrafficHistory {
	private readonly times: number[] = [];
	private readonly series = new Map<string, ActionSeries>();
	private last?: { at: number; counters: Map<string, ActionCounters> };

	constructor(private readonly size: number) {}

	record(at: number, counters: Map<string, ActionCounters>): void {
		const prev = this.last;
		this.last = { at, counters };
		if (!prev || at <= prev.at) return;
		const dt = (at - prev.at) / 1000;
		this.times.push(Math.round(at / 1000));
		for (const action of counters.keys()) {
			if (!this.series.has(action))
				this.series.set(action, {
					calls: this.times.slice(1).map(() => null),
					rps: this.times.slice(1).map(() => null),
					errorsPerSec: this.times.slice(1).map(() => null),
					p50: this.times.slice(1).map(() => null),
					p99: this.times.slice(1).map(() => null)
				});
		}
		for (const [action, s] of this.series) {
			const c = counters.get(action);
			const p = prev.counters.get(action);
			const delta = (now?: number, before?: number) =>
				now === undefined ? null : Math.max(0, now - (before ?? 0));
			const perSec = (n: number | null) => (n === null ? null : n / dt);
			const calls = delta(c?.total, p?.total);
			s.calls.push(calls);
			s.rps.push(perSec(calls));
			s.errorsPerSec.push(perSec(delta(c?.errors, p?.errors)));
			s.p50.push(c?.p50 ?? null);
			s.p99.push(c?.p99 ?? null);
		}
		if (this.times.length > this.size) {
			this.times.shift();
			for (const s of this.series.values())
				for (const arr of Object.values(s)) (arr as unknown[]).shift();
		}
	}

	view(): TrafficView {
		const actions: Record<string, ActionSeries> = {};
		for (const [name, s] of [...this.series].sort(([a], [b]) => a.localeCompare(b)))
			actions[name] = {
				calls: [...s.calls],
				rps: [...s.rps],
				errorsPerSec: [...s.errorsPerSec],
				p50: [...s.p50],
				p99: [...s.p99]
			};
		return { times: [...this.times], actions };
	}
}
