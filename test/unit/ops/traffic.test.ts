import type { ActionTraffic } from "../../../platform/runtime/traffic";
import { TrafficHistory, actionCounters } from "../../../services/api/ops/traffic";

const traffic = (total: number, errors: number, count: number, p50: number, p99: number) =>
	({ total, errors, count, p50, p99 }) satisfies ActionTraffic;

describe("actionCounters", () => {
	it("sums an action over nodes, weighs p50 by calls in the window and keeps the worst p99", () => {
		const c = actionCounters([
			{ "orders.create": traffic(30, 2, 30, 10, 40) },
			{ "orders.create": traffic(10, 0, 10, 30, 90) }
		]);
		expect(c.get("orders.create")).toEqual({ total: 40, errors: 2, p50: 15, p99: 90 });
	});

	it("keeps a node's totals without calls in the window out of the quantiles", () => {
		const c = actionCounters([
			{ "orders.create": traffic(30, 0, 30, 10, 40) },
			{ "orders.create": { total: 7, errors: 1, count: 0, p50: null, p99: null } }
		]);
		expect(c.get("orders.create")).toEqual({ total: 37, errors: 1, p50: 10, p99: 40 });
	});

	it("leaves out the broker's and the console's actions", () => {
		const c = actionCounters([
			{
				"$node.health": traffic(9, 0, 9, 1, 1),
				"ops.snapshot": traffic(9, 0, 9, 1, 1),
				"orders.opsStats": traffic(9, 0, 9, 1, 1),
				"orders.eventStats": traffic(9, 0, 9, 1, 1)
			}
		]);
		expect([...c.keys()]).toEqual([]);
	});
});

describe("TrafficHistory", () => {
	const counters = (total: number, errors = 0) =>
		new Map([["orders.create", { total, errors, p50: 5, p99: 9 }]]);

	it("turns totals into rates per second between samples", () => {
		const h = new TrafficHistory(10);
		h.record(1_000, counters(0));
		h.record(3_000, counters(20, 4));
		const v = h.view();
		expect(v.times).toEqual([3]);
		expect(v.actions["orders.create"]).toEqual({
			calls: [20],
			rps: [10],
			errorsPerSec: [2],
			p50: [5],
			p99: [9]
		});
	});

	it("reads a total that went down (a node restarted) as no traffic", () => {
		const h = new TrafficHistory(10);
		h.record(1_000, counters(100));
		h.record(2_000, counters(3));
		expect(h.view().actions["orders.create"].rps).toEqual([0]);
	});

	it("keeps the last `size` samples, and pads an action that appears later", () => {
		const h = new TrafficHistory(2);
		h.record(1_000, new Map());
		h.record(2_000, new Map());
		h.record(3_000, counters(4));
		h.record(4_000, counters(6));
		const v = h.view();
		expect(v.times).toEqual([3, 4]);
		expect(v.actions["orders.create"].rps).toEqual([4, 2]);
		expect(v.actions["orders.create"].calls).toEqual([4, 2]);
	});

	it("counts whole calls whatever the samples' spacing: equally busy actions rank alike", () => {
		const h = new TrafficHistory(10);
		const both = (a: number, b: number) =>
			new Map([
				["orders.create", { total: a, errors: 0, p50: 5, p99: 9 }],
				["payments.capture", { total: b, errors: 0, p50: 5, p99: 9 }]
			]);
		h.record(1_000, both(0, 0));
		h.record(1_900, both(3, 2)); // the same five calls of each, counted a sample apart
		h.record(3_200, both(5, 5));
		const { actions } = h.view();
		const sum = (xs: (number | null)[]) => xs.reduce<number>((a, x) => a + (x ?? 0), 0);
		expect(sum(actions["orders.create"].calls)).toBe(5);
		expect(sum(actions["payments.capture"].calls)).toBe(5);
		expect(sum(actions["orders.create"].rps)).not.toBe(sum(actions["payments.capture"].rps));
	});
});
