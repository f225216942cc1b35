import { TrafficHistory, actionCounters, type MetricList } from "../../../services/api/ops/traffic";

const lists = (
	action: string,
	total: number,
	errors: number,
	time: { count: number; p50: number; p99: number },
	extra: Record<string, unknown> = {}
): MetricList[] => {
	const labels = {
		action,
		service: action.split(".")[0],
		type: "local",
		caller: "api",
		...extra
	};
	return [
		{ name: "moleculer.request.total", values: [{ labels, value: total }] },
		{ name: "moleculer.request.error.total", values: [{ labels, value: errors }] },
		{
			name: "moleculer.request.time",
			values: [
				{ labels, count: time.count, quantiles: { "0.5": time.p50, "0.99": time.p99 } }
			]
		}
	];
};

describe("actionCounters", () => {
	it("sums an action over nodes, weighs p50 by count and keeps the worst p99", () => {
		const c = actionCounters([
			lists("orders.create", 30, 2, { count: 30, p50: 10, p99: 40 }),
			lists("orders.create", 10, 0, { count: 10, p50: 30, p99: 90 })
		]);
		expect(c.get("orders.create")).toEqual({ total: 40, errors: 2, p50: 15, p99: 90 });
	});

	it("counts calls where they run, and leaves out the broker's and the console's actions", () => {
		const c = actionCounters([
			lists("orders.create", 5, 0, { count: 5, p50: 1, p99: 2 }, { type: "remote" }),
			lists("$node.health", 9, 0, { count: 9, p50: 1, p99: 1 }),
			lists("ops.snapshot", 9, 0, { count: 9, p50: 1, p99: 1 })
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
	});
});
