/**
 * Instant failover over a real nats-server: a caller and two twins of a service. A twin "dies"
 * by losing its NATS connection without a word (what kill -9 looks like to nats-server);
 * heartbeats are slowed down so only the no-responders mechanism can be what reacts.
 */
import { Errors, ServiceBroker, type Context } from "moleculer";
import {
	ACTION_POLICIES,
	BUDGET_MS,
	budgetOf,
	isIdempotent
} from "../../../../platform/messaging/budgets";
import { FailoverMiddleware, mayResend } from "../../../../platform/messaging/failover";
import { coalescingNats, NoRespondersError } from "../../../../platform/messaging/nats-transporter";
import { endpointFailed, retryable } from "../../../../platform/messaging/retry";
import { Nats } from "../../../helpers/cluster";

describe("what may be sent again", () => {
	const rejected = new Errors.RequestRejectedError({ action: "x", nodeID: "n" });
	const noMeta = { meta: {} };

	it("re-sends a call that never reached a node, whatever the action", () => {
		const err = new NoRespondersError("orders.cancel", "orders-2");
		expect(mayResend(err, "orders.cancel", noMeta)).toBe(true);
		expect(mayResend(err, "not.listed", noMeta)).toBe(true);
	});

	it("re-sends a call that may have run only when the action is idempotent", () => {
		expect(mayResend(rejected, "inventory.listProducts", noMeta)).toBe(true);
		expect(mayResend(rejected, "payments.capture", noMeta)).toBe(true);
		expect(mayResend(rejected, "inventory.createProduct", noMeta)).toBe(false);
		expect(mayResend(rejected, "not.listed", noMeta)).toBe(false);
		expect(mayResend(rejected, "orders.create", noMeta)).toBe(false);
		expect(mayResend(rejected, "orders.create", { meta: { idempotencyKey: "k1" } })).toBe(true);
	});

	it("never re-sends a timed-out call, and leaves both kinds out of the delayed retry", () => {
		const timeout = new Errors.RequestTimeoutError({ action: "x", nodeID: "n" });
		expect(mayResend(timeout, "inventory.listProducts", noMeta)).toBe(false);
		expect(retryable(timeout)).toBe(false);
		expect(retryable(rejected)).toBe(false);
		expect(retryable(new NoRespondersError("x", "n"))).toBe(false);
		expect(retryable(new Errors.ServiceNotFoundError({ action: "x" }))).toBe(true);
	});

	it("counts against an endpoint its failures, not its deliberate refusal of a dependency's outage", () => {
		expect(endpointFailed(new Errors.RequestTimeoutError({ action: "x", nodeID: "n" }))).toBe(
			true
		);
		expect(endpointFailed(new NoRespondersError("x", "n"))).toBe(true);
		expect(endpointFailed(new Errors.MoleculerServerError("boom", 500, "BOOM"))).toBe(true);
		expect(
			endpointFailed(
				new Errors.MoleculerError("payments is gone", 503, "SERVICE_UNAVAILABLE")
			)
		).toBe(false);
		expect(endpointFailed(new Errors.MoleculerClientError("bad", 422, "BAD"))).toBe(false);
	});

	it("gives every listed action a budget well under the old 10 s, except whole flows", () => {
		expect(budgetOf("inventory.listProducts")).toBe(BUDGET_MS.read);
		expect(budgetOf("users.login")).toBe(BUDGET_MS.hashing);
		expect(budgetOf("payments.authorize")).toBe(BUDGET_MS.payment);
		expect(budgetOf("orders.create")).toBe(BUDGET_MS.flow);
		expect(budgetOf("not.listed")).toBeUndefined();
		for (const [name, p] of Object.entries(ACTION_POLICIES))
			if (p.budget === "read")
				expect([name, isIdempotent(name, noMeta)]).toEqual([name, true]);
	});
});

describe("two twins over a real nats-server", () => {
	let nats: Nats;
	let caller: ServiceBroker;
	let twins: Record<"a" | "b", ServiceBroker>;
	let release: () => void = () => undefined;
	const created: string[] = [];

	function twin(nodeID: string, namespace: string) {
		const broker = new ServiceBroker({
			namespace,
			nodeID,
			transporter: coalescingNats({ url: nats.url }),
			heartbeatInterval: 30,
			heartbeatTimeout: 120,
			logger: false
		});
		const hung = new Promise<void>(r => (release = r));
		broker.createService({
			name: "inventory",
			actions: {
				async listProducts(ctx: Context<{ hang?: boolean }>) {
					if (ctx.params.hang && nodeID === "b") await hung;
					return { from: nodeID };
				},
				async createProduct(ctx: Context<{ hang?: boolean }>) {
					created.push(nodeID);
					if (ctx.params.hang && nodeID === "b") await hung;
					return { from: nodeID };
				}
			}
		});
		return broker;
	}

	/**
	 * As nats-server sees a kill -9: the connection drops, no DISCONNECT packet is sent. (Then a
	 * moment for the server to read the closed socket; what is sent before that is the probe's.)
	 */
	async function dropConnection(broker: ServiceBroker) {
		await (
			broker.transit!.tx as unknown as { client: { close(): Promise<void> } }
		).client.close();
		await new Promise(r => setTimeout(r, 50));
	}

	beforeAll(async () => {
		nats = await Nats.start();
	});

	beforeEach(async () => {
		const namespace = `failover-${process.pid}-${Date.now().toString(36)}`;
		created.length = 0;
		caller = new ServiceBroker({
			namespace,
			nodeID: "caller",
			transporter: coalescingNats({ url: nats.url }),
			middlewares: [FailoverMiddleware()],
			registry: { strategy: "RoundRobin" },
			heartbeatInterval: 30,
			heartbeatTimeout: 120,
			requestTimeout: 10_000,
			logger: false
		});
		twins = { a: twin("a", namespace), b: twin("b", namespace) };
		await Promise.all([caller, twins.a, twins.b].map(b => b.start()));
		await caller.waitForServices("inventory", 10_000);
		for (
			let i = 0;
			i < 50 && caller.registry.getActionEndpoints("inventory.listProducts")?.count() !== 2;
			i++
		)
			await new Promise(r => setTimeout(r, 100));
	}, 30_000);

	afterEach(async () => {
		release();
		await Promise.all([caller, twins.a, twins.b].map(b => b.stop().catch(() => undefined)));
	});

	afterAll(() => nats?.destroy());

	it("sends every call to the survivor from the first one after the death, at once", async () => {
		const before = await Promise.all(
			Array.from({ length: 4 }, () => caller.call<{ from: string }>("inventory.listProducts"))
		);
		expect(new Set(before.map(r => r.from))).toEqual(new Set(["a", "b"]));

		await dropConnection(twins.b);
		const after: { from: string; ms: number }[] = [];
		for (let i = 0; i < 10; i++) {
			const started = Date.now();
			const res = await caller.call<{ from: string }>("inventory.listProducts");
			after.push({ from: res.from, ms: Date.now() - started });
		}
		expect(after.map(r => r.from)).toEqual(Array(10).fill("a"));
		expect(Math.max(...after.map(r => r.ms))).toBeLessThan(500);
		expect(caller.registry.nodes.get("b")?.available).toBe(false);
	});

	it("re-sends a not-idempotent call that never reached the dead twin", async () => {
		await dropConnection(twins.b);
		const answers = await Promise.all(
			Array.from({ length: 4 }, () =>
				caller.call<{ from: string }>("inventory.createProduct")
			)
		);
		expect(answers.map(r => r.from)).toEqual(Array(4).fill("a"));
		expect(created).toEqual(Array(4).fill("a"));
	});

	it("re-sends an idempotent call in flight on the twin that died; never a call that may have run", async () => {
		// Round robin: with two twins, two calls in a row reach each once.
		const reads = [0, 1].map(() =>
			caller.call<{ from: string }, { hang: boolean }>("inventory.listProducts", {
				hang: true
			})
		);
		const writes = Promise.allSettled(
			[0, 1].map(() =>
				caller.call<{ from: string }, { hang: boolean }>("inventory.createProduct", {
					hang: true
				})
			)
		);
		await new Promise(r => setTimeout(r, 100));
		const started = Date.now();
		await dropConnection(twins.b);

		// Nothing else is sent: the probe of the unanswered calls finds the twin gone.
		expect((await Promise.all(reads)).map(r => r.from)).toEqual(["a", "a"]);
		const outcome = await writes;
		expect(Date.now() - started).toBeLessThan(1500);
		const failed = outcome.filter(o => o.status === "rejected") as PromiseRejectedResult[];
		expect(failed.map(f => f.reason.type)).toEqual(["REQUEST_REJECTED"]);
		expect(created.sort()).toEqual(["a", "b"]);
	});

	it("gives a call to an endpoint chosen beforehand (as the gateway's) its action's budget", async () => {
		const hung = caller.findNextActionEndpoint("inventory.listProducts", { nodeID: "b" });
		const started = Date.now();
		await expect(caller.call(hung as unknown as string, { hang: true })).rejects.toMatchObject({
			type: "REQUEST_TIMEOUT"
		});
		expect(Date.now() - started).toBeGreaterThanOrEqual(BUDGET_MS.read - 50);
		expect(Date.now() - started).toBeLessThan(BUDGET_MS.read + 1000);
	});

	it("answers NO_RESPONDERS at once when no twin is left", async () => {
		await Promise.all([dropConnection(twins.a), dropConnection(twins.b)]);
		const started = Date.now();
		await expect(caller.call("inventory.listProducts")).rejects.toMatchObject({
			code: 503,
			type: "NO_RESPONDERS"
		});
		expect(Date.now() - started).toBeLessThan(500);
	});
});
