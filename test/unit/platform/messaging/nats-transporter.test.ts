/**
 * Writes coalesced per event-loop turn (platform/messaging/coalesce.ts) and the NATS transporter built on it:
 * what is sent during a turn is published from its check phase, in order, each send settling
 * with its own publish; and two brokers talk through it over a real nats-server.
 */
import { ServiceBroker, Transporters, type Context } from "moleculer";
import { coalesce } from "../../../../platform/messaging/coalesce";
import { nextTurn } from "../../../../platform/messaging/fair-scheduling";
import {
	COALESCING_NATS,
	CoalescingNatsTransporter,
	coalescingNats
} from "../../../../platform/messaging/nats-transporter";
import { Nats } from "../../../helpers/cluster";
import { nodeIsGone, nodeIsOut } from "../../../../platform/messaging/liveness";

describe("coalesce", () => {
	it("writes what was queued during a turn after it, in order, in one go", async () => {
		const written: number[] = [];
		const write = coalesce(
			(n: number) => written.push(n),
			() => undefined
		);
		write(1);
		write(2);
		await Promise.resolve();
		write(3);
		expect(written).toEqual([]);
		await nextTurn();
		expect(written).toEqual([1, 2, 3]);

		write(4);
		await nextTurn();
		expect(written).toEqual([1, 2, 3, 4]);
	});

	it("hands a failed write to onError and still writes the others", async () => {
		const written: string[] = [];
		const failed: [string, string][] = [];
		const write = coalesce(
			(s: string) => {
				if (s === "bad") throw new Error("cannot write");
				written.push(s);
			},
			(err, s) => failed.push([s, (err as Error).message])
		);
		write("a");
		write("bad");
		write("b");
		await nextTurn();
		expect(written).toEqual(["a", "b"]);
		expect(failed).toEqual([["bad", "cannot write"]]);
	});
});

describe("CoalescingNatsTransporter", () => {
	function withFakeClient(publish: (topic: string, data: Buffer) => void) {
		const transporter = new CoalescingNatsTransporter({ url: "nats://127.0.0.1:1" });
		Object.assign(transporter, { client: { publish }, broker: { Promise } });
		return transporter;
	}

	it("publishes what was sent during a turn from its check phase, in order", async () => {
		const published: string[] = [];
		const transporter = withFakeClient(topic => published.push(topic));
		const sent = ["a", "b", "c"].map(t => transporter.send(t, Buffer.from(t)));
		expect(published).toEqual([]);
		await Promise.all(sent);
		expect(published).toEqual(["a", "b", "c"]);
	});

	it("fails only the send whose publish failed", async () => {
		const published: string[] = [];
		const transporter = withFakeClient(topic => {
			if (topic === "closed") throw new Error("CONNECTION_CLOSED");
			published.push(topic);
		});
		const results = await Promise.allSettled(
			["a", "closed", "b"].map(t => transporter.send(t, Buffer.from(t)))
		);
		expect(results.map(r => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
		expect((results[1] as PromiseRejectedResult).reason.message).toBe("CONNECTION_CLOSED");
		expect(published).toEqual(["a", "b"]);
	});

	it("is the transporter type moleculer.config.ts asks for", () => {
		const resolved = Transporters.resolve({ type: COALESCING_NATS, options: {} });
		expect(resolved).toBeInstanceOf(CoalescingNatsTransporter);
	});

	describe("over a real nats-server", () => {
		let nats: Nats;
		const brokers: ServiceBroker[] = [];

		beforeAll(async () => {
			nats = await Nats.start();
			const namespace = `coalesce-${process.pid}`;
			const transporter = coalescingNats({ url: nats.url });
			const caller = new ServiceBroker({
				namespace,
				nodeID: "caller",
				transporter,
				logger: false
			});
			const callee = new ServiceBroker({
				namespace,
				nodeID: "callee",
				transporter,
				logger: false
			});
			callee.createService({
				name: "echo",
				actions: { say: (ctx: Context<{ n: number }>) => ({ n: ctx.params.n }) }
			});
			brokers.push(caller, callee);
			await Promise.all(brokers.map(b => b.start()));
			await caller.waitForServices("echo", 10_000);
		}, 30_000);

		afterAll(async () => {
			await Promise.all(brokers.map(b => b.stop()));
			await nats?.destroy();
		});

		it("carries many calls made in one turn, each answered with its own result", async () => {
			const answers = await Promise.all(
				Array.from({ length: 200 }, (_, n) => brokers[0].call("echo.say", { n }))
			);
			expect(answers).toEqual(Array.from({ length: 200 }, (_, n) => ({ n })));
		});

		it("tells a node that is gone from one that is alive, through nats-server", async () => {
			const [caller] = brokers;
			const tx = caller.transit!.tx as unknown as CoalescingNatsTransporter;
			expect(await tx.probeNode("callee")).toBe(false);
			const started = Date.now();
			expect(await tx.probeNode("nobody-here", 5000)).toBe(true);
			// Answered by the server at once, not by the timeout.
			expect(Date.now() - started).toBeLessThan(1000);
			expect(await nodeIsGone(caller, "callee")).toBe(false);
			expect(await nodeIsGone(caller, "nobody-here")).toBe(true);
			expect(await nodeIsGone(caller, caller.nodeID)).toBe(false);
			expect(await nodeIsOut(caller, "callee")).toBe(false);
			expect(await nodeIsOut(caller, caller.nodeID)).toBe(false);
		});

		it("tells a silent node (no PONG in time) from a gone one: out, but not gone", async () => {
			const [caller, callee] = brokers;
			// The callee's PONGs stop: it is subscribed, as a frozen process stays.
			const pong = callee.transit!.sendPong.bind(callee.transit);
			callee.transit!.sendPong = () => Promise.resolve();
			try {
				expect(await nodeIsGone(caller, "callee", 300)).toBe(false);
				expect(await nodeIsOut(caller, "callee", 300)).toBe(true);
			} finally {
				callee.transit!.sendPong = pong;
			}
			expect(await nodeIsOut(caller, "callee")).toBe(false);
		});
	});
});
