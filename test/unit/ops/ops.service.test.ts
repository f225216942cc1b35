import { Errors, ServiceBroker } from "moleculer";
import OpsService from "../../../services/api/ops/ops.service";
import { TrafficMiddleware, TRAFFIC_NODE_SERVICE } from "../../../platform/runtime/traffic";
import { eventually } from "../../helpers/eventually";

describe("ops.snapshot on one broker", () => {
	let broker: ServiceBroker;

	beforeAll(async () => {
		broker = new ServiceBroker({
			logger: false,
			// The console's traffic, as moleculer.config.ts sets it up; moleculer's metrics stay off.
			middlewares: [TrafficMiddleware()],
			internalServices: { $node: TRAFFIC_NODE_SERVICE } as never,
			circuitBreaker: { enabled: true, threshold: 0.5, minRequestCount: 3, windowTime: 60 }
		});
		broker.createService({
			...OpsService,
			settings: { intervalMs: 100, historySize: 50, watchedMs: 30_000 }
		} as never);
		broker.createService({
			name: "orders",
			actions: {
				create: () => ({ ok: true }),
				fail: () => {
					throw new Errors.MoleculerServerError("boom", 500, "BOOM");
				},
				opsStats: () => ({
					byStatus: { pending: 2 },
					sagasInFlight: 1,
					compensationsOwed: 0
				}),
				eventStats: () => ({
					consumers: [{ event: "shipment.shipped", pending: 3, ackPending: 1 }],
					deadLetters: 4
				})
			}
		});
		await broker.start();
	});
	afterAll(() => broker.stop());

	const snapshot = () => broker.call<any>("ops.snapshot");

	it("shows the node, its services and their business and event figures", async () => {
		const s = await eventually(async () => {
			const v = await snapshot();
			return v.nodes.length > 0 && v.business.orders ? v : null;
		});
		expect(s.nodes[0]).toMatchObject({
			id: broker.nodeID,
			up: true,
			services: ["ops", "orders"]
		});
		expect(s.services).toEqual([
			{ name: "ops", instances: 1 },
			{ name: "orders", instances: 1 }
		]);
		expect(s.business.orders).toEqual({
			byStatus: { pending: 2 },
			sagasInFlight: 1,
			compensationsOwed: 0
		});
		expect(s.events).toEqual([
			{ service: "orders", event: "shipment.shipped", pending: 3, ackPending: 1 }
		]);
		expect(s.deadLetters).toEqual({ orders: 4 });
	});

	it("charts calls per action with their errors, from every node's $node.traffic", async () => {
		for (let i = 0; i < 20; i++) await broker.call("orders.create");
		for (let i = 0; i < 5; i++) await broker.call("orders.fail").catch(() => undefined);
		const s = await eventually(async () => {
			const v = await snapshot();
			const c = v.traffic.actions["orders.create"];
			const f = v.traffic.actions["orders.fail"];
			return c &&
				f &&
				c.rps.some((r: number) => r > 0) &&
				f.errorsPerSec.some((r: number) => r > 0)
				? v
				: null;
		});
		const sum = (xs: (number | null)[]) => xs.reduce<number>((a, x) => a + (x ?? 0), 0);
		expect(s.traffic.times.length).toBe(s.traffic.actions["orders.create"].rps.length);
		expect(sum(s.traffic.actions["orders.create"].rps)).toBeGreaterThan(0);
		expect(s.traffic.actions["orders.create"].p99.some((p: number | null) => p !== null)).toBe(
			true
		);
		expect(
			Object.keys(s.traffic.actions).some(a => a.startsWith("$") || a.startsWith("ops."))
		).toBe(false);
	});

	it("logs a circuit breaker that opens, and a dead letter, with their times", async () => {
		for (let i = 0; i < 6; i++) await broker.call("orders.fail").catch(() => undefined);
		await broker.broadcast("events.dead-lettered", {
			service: "notifications",
			event: "order.confirmed",
			error: "smtp down",
			attempts: 5
		});
		const s = await eventually(async () => {
			const v = await snapshot();
			const kinds = v.faults.map((f: { kind: string }) => f.kind);
			return kinds.includes("breaker-opened") && kinds.includes("dead-letter") ? v : null;
		});
		const opened = s.faults.find((f: { kind: string }) => f.kind === "breaker-opened");
		expect(opened.text).toContain("orders.fail");
		expect(Date.parse(opened.at)).toBeGreaterThan(Date.now() - 60_000);
		expect(s.faults.find((f: { kind: string }) => f.kind === "dead-letter").text).toBe(
			"order.confirmed dead-lettered in notifications: smtp down"
		);
		expect(s.breakers).toContainEqual({
			caller: broker.nodeID,
			action: "orders.fail",
			nodeID: broker.nodeID,
			state: "open"
		});
	});
});

describe("ops polling while nobody watches", () => {
	let broker: ServiceBroker;
	const asked = { opsStats: 0, eventStats: 0 };

	beforeAll(async () => {
		broker = new ServiceBroker({
			logger: false,
			middlewares: [TrafficMiddleware()],
			internalServices: { $node: TRAFFIC_NODE_SERVICE } as never
		});
		broker.createService({
			...OpsService,
			settings: { intervalMs: 50, historySize: 50, watchedMs: 400 }
		} as never);
		broker.createService({
			name: "orders",
			actions: {
				create: () => ({ ok: true }),
				opsStats: () => ({ byStatus: { pending: ++asked.opsStats } }),
				eventStats: () => ({ consumers: [], deadLetters: ++asked.eventStats })
			}
		});
		await broker.start();
	});
	afterAll(() => broker.stop());

	const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms));

	it("asks the services for their figures only while a console asks for snapshots", async () => {
		await sleep(300); // six intervals, nobody watching
		expect(asked).toEqual({ opsStats: 0, eventStats: 0 });

		// The first snapshot polls fully before it answers, and keeps the polls full a while.
		const first = await broker.call<any>("ops.snapshot");
		expect(first.business.orders).toEqual({ byStatus: { pending: 1 } });
		expect(first.deadLetters).toEqual({ orders: 1 });
		await sleep(200);
		expect(asked.opsStats).toBeGreaterThan(1);

		// Unwatched again (400 ms after the last snapshot): the figures are no longer asked for.
		await sleep(600);
		const after = { ...asked };
		await sleep(300);
		expect(asked).toEqual(after);
	});

	it("keeps the traffic history meanwhile, so a console opened later charts the calls before it", async () => {
		await sleep(600); // unwatched
		for (let i = 0; i < 10; i++) await broker.call("orders.create");
		await sleep(300);
		const before = asked.opsStats;
		const s = await broker.call<any>("ops.snapshot");
		expect(asked.opsStats).toBe(before + 1);
		// Charted by the light polls before this snapshot's own.
		const rps: (number | null)[] = s.traffic.actions["orders.create"].rps;
		expect(rps.slice(0, -1).some(r => (r ?? 0) > 0)).toBe(true);
	});
});
