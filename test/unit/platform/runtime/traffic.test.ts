import brokerConfig from "../../../../moleculer.config";
import { Errors, ServiceBroker } from "moleculer";
import {
	TrafficMeter,
	TrafficMiddleware,
	TRAFFIC_NODE_SERVICE,
	type TrafficSnapshot
} from "../../../../platform/runtime/traffic";

describe("TrafficMeter", () => {
	let clock: number;
	const meter = (maxSamples?: number) => new TrafficMeter({ now: () => clock, maxSamples });
	beforeEach(() => (clock = 1_000_000));

	it("counts calls and errors per action, and lists only actions that were called", () => {
		const m = meter();
		const create = m.action("orders.create");
		m.action("orders.get");
		create.add(1, false);
		create.add(2, true);
		m.action("orders.create").add(3, false);
		expect(m.snapshot()).toEqual({
			"orders.create": { total: 3, errors: 1, p50: 2, p99: 3, count: 3 }
		});
	});

	it("reads p50 and p99 from the samples by nearest rank", () => {
		const m = meter();
		const a = m.action("a");
		// 1..100 in a shuffled order: sorting happens when read.
		for (let i = 0; i < 100; i++) a.add(((i * 37) % 100) + 1, false);
		expect(m.snapshot().a).toMatchObject({ p50: 50, p99: 99, count: 100 });
	});

	it("forgets latency older than 5 s, but never the totals", () => {
		const m = meter();
		const a = m.action("a");
		a.add(100, true);
		clock += 3_000;
		a.add(1, false);
		expect(m.snapshot().a).toEqual({ total: 2, errors: 1, p50: 1, p99: 100, count: 2 });
		clock += 2_000; // the first sample's second has left the window
		expect(m.snapshot().a).toEqual({ total: 2, errors: 1, p50: 1, p99: 1, count: 1 });
		clock += 3_000;
		expect(m.snapshot().a).toEqual({ total: 2, errors: 1, p50: null, p99: null, count: 0 });
	});

	it("reuses a second's bucket five seconds later without its old samples", () => {
		const m = meter();
		const a = m.action("a");
		a.add(100, false);
		clock += 5_000; // the same bucket, a new second
		a.add(1, false);
		expect(m.snapshot().a).toMatchObject({ p99: 1, count: 1 });
	});

	it("keeps at most maxSamples per second and action, still counting every call", () => {
		const m = meter(10);
		const a = m.action("a");
		for (let i = 0; i < 1_000; i++) a.add(i, false);
		expect(m.samplesHeld()).toBe(10);
		expect(m.snapshot().a).toMatchObject({ total: 1_000, count: 1_000 });
		clock += 1_000;
		for (let i = 0; i < 1_000; i++) a.add(i, false);
		expect(m.samplesHeld()).toBe(20);
	});

	it("samples a busy second uniformly, not only its first calls", () => {
		const m = new TrafficMeter({ now: () => clock, maxSamples: 100 });
		const a = m.action("a");
		for (let i = 0; i < 10_000; i++) a.add(i < 5_000 ? 1 : 1_000, false);
		expect(m.snapshot().a!.p99).toBe(1_000);
	});
});

describe("TrafficMiddleware and $node.traffic on a broker", () => {
	let broker: ServiceBroker;
	let cachedRuns = 0;

	beforeAll(async () => {
		broker = new ServiceBroker({
			logger: false,
			cacher: "Memory",
			middlewares: [TrafficMiddleware()],
			internalServices: { $node: TRAFFIC_NODE_SERVICE } as never
		});
		broker.createService({
			name: "shop",
			actions: {
				ok: async () => {
					await new Promise(r => setTimeout(r, 5));
					return "fine";
				},
				fail: () => {
					throw new Errors.MoleculerServerError("boom", 500, "BOOM");
				},
				cached: { cache: true, handler: () => ++cachedRuns },
				strict: { params: { n: "number" }, handler: () => "valid" }
			}
		});
		await broker.start();
	});
	afterAll(() => broker.stop());

	it("counts each local call where it runs, and an error without swallowing it", async () => {
		for (let i = 0; i < 3; i++) expect(await broker.call("shop.ok")).toBe("fine");
		await expect(broker.call("shop.fail")).rejects.toThrow("boom");
		await expect(broker.call("shop.fail")).rejects.toThrow("boom");
		const t = await broker.call<TrafficSnapshot, object>("$node.traffic", {});
		expect(t["shop.ok"]).toMatchObject({ total: 3, errors: 0, count: 3 });
		expect(t["shop.ok"]!.p50).toBeGreaterThanOrEqual(4);
		expect(t["shop.fail"]).toMatchObject({ total: 2, errors: 2, count: 2 });
	});

	it("counts calls moleculer's own middlewares answer: the cache's, validation's refusals", async () => {
		for (let i = 0; i < 5; i++) await broker.call("shop.cached");
		expect(cachedRuns).toBe(1);
		await expect(broker.call("shop.strict", { n: "x" })).rejects.toThrow(/validation/i);
		const t = await broker.call<TrafficSnapshot, object>("$node.traffic", {});
		expect(t["shop.cached"]).toMatchObject({ total: 5, errors: 0 });
		expect(t["shop.strict"]).toMatchObject({ total: 1, errors: 1 });
	});

	it("keeps moleculer's own $node actions", async () => {
		const health = await broker.call<{ cpu: unknown }, object>("$node.health", {});
		expect(health.cpu).toBeDefined();
	});
});

describe("the configuration's $node.traffic", () => {
	// moleculer adds its own $node schema to ours as a mixin, on each broker made from the config.
	it("serves every broker made from the configuration, beside moleculer's own $node actions", async () => {
		const brokers = [1, 2, 3].map(
			i =>
				new ServiceBroker({
					...brokerConfig,
					nodeID: `traffic-${i}`,
					logger: false,
					transporter: null
				})
		);
		try {
			for (const b of brokers) await b.start();
			for (const b of brokers) {
				await b.call("$node.health", {});
				expect(await b.call("$node.traffic", {})).toMatchObject({
					"$node.health": { total: 1, errors: 0 }
				});
			}
		} finally {
			for (const b of brokers) await b.stop();
		}
	});
});
