/**
 * The durable events mixin in the embedded default (no NATS): outbox relay, retries with backoff,
 * dead letters and idempotent consumers, on one broker.
 */
import { ServiceBroker, type ServiceSchema } from "moleculer";
import { DbMixin } from "../../../../platform/persistence/db.mixin";
import { DurableEvents, INBOX_INDEXES } from "../../../../platform/messaging/durable-events.mixin";
import {
	backoffDelay,
	deadLetterSubject,
	durableName,
	streamName
} from "../../../../platform/messaging/jetstream";
import { resetSettings } from "../../../../platform/runtime/settings";

const saved = { ...process.env };
/** A document's outbox as the mixin writes it, for documents a test writes by hand. */
const outboxOf = (outbox: unknown[]) => ({ outbox, outboxAt: new Date().toISOString() });
let broker: ServiceBroker;
let producer: any;
let consumer: any;
let selfGuarded: any;
let selfHandled: string[] = [];
const errors: string[] = [];
let failuresLeft = 0;
let handled: string[] = [];

beforeAll(async () => {
	process.env.EVENTS_MAX_ATTEMPTS = "3";
	process.env.EVENTS_BACKOFF_MS = "10";
	// Relay rounds every 50 ms; the full scan of the outboxes only when a test asks for it.
	process.env.EVENTS_RELAY_INTERVAL_MS = "50";
	process.env.EVENTS_SWEEP_INTERVAL_MS = "3600000";
	delete process.env.EVENTS_NATS_URL;
	delete process.env.TRANSPORTER;
	resetSettings();
	broker = new ServiceBroker({ logger: false });
	producer = broker.createService({
		name: "producer",
		mixins: [DbMixin(), DurableEvents({ outbox: ["adapter"] })],
		actions: {
			change: {
				async handler(this: any, ctx: any) {
					const entry = this.outboxEntry(
						"order.confirmed",
						ctx.params.event,
						ctx.params.eventId
					);
					const doc = await this.adapter.insert({ n: 1, ...outboxOf([entry]) });
					if (ctx.params.relayLater) this.relayLater("adapter", doc._id);
					else if (ctx.params.written) await this.relayWritten("adapter", doc);
					else if (!ctx.params.skipRelay) await this.relayOutbox("adapter", doc._id);
					return doc._id;
				}
			}
		}
	} as ServiceSchema);
	consumer = broker.createService({
		name: "consumer",
		mixins: [DbMixin({ stores: { inbox: INBOX_INDEXES } }), DurableEvents()],
		events: {
			"order.confirmed"(ctx: any) {
				if (ctx.params.poison) throw new Error("always fails");
				if (failuresLeft > 0) {
					failuresLeft--;
					throw new Error("fails for now");
				}
				handled.push(ctx.params.orderId);
			}
		}
	} as ServiceSchema);
	// A consumer whose handler is idempotent by itself: its inbox is left alone.
	selfGuarded = broker.createService({
		name: "self-guarded",
		mixins: [DbMixin({ stores: { inbox: INBOX_INDEXES } }), DurableEvents()],
		events: {
			"order.confirmed": {
				idempotent: true,
				handler(ctx: any) {
					selfHandled.push(ctx.params.orderId);
				}
			}
		}
	} as ServiceSchema);
	// What the consumer reports as dead letters (its warnings about retries are expected).
	consumer.logger.error = (...args: unknown[]) => errors.push(args.map(String).join(" "));
	consumer.logger.warn = () => undefined;
	await broker.start();
});

afterAll(async () => {
	await broker.stop();
	process.env = saved;
	resetSettings();
});

beforeEach(() => {
	handled = [];
	failuresLeft = 0;
	errors.length = 0;
});

const settled = async () => {
	for (let i = 0; i < 200 && consumer.durableInflight.size > 0; i++)
		await new Promise(r => setTimeout(r, 10));
};
const event = (orderId: string, extra: Record<string, unknown> = {}) => ({
	orderId,
	userId: "u1",
	status: "confirmed",
	totalCents: 1,
	currency: "EUR",
	items: [],
	...extra
});

/** A document inserted with one event for order `orderId`, left to the relay's next round. */
const insertForLater = (n: number, orderId: string) =>
	producer.insertWithEvents(
		"adapter",
		() => ({ doc: { n }, events: [producer.outboxEntry("order.confirmed", event(orderId))] }),
		"later"
	);

describe("outbox relay", () => {
	it("publishes the event written with the change and empties the outbox", async () => {
		const id = await broker.call<string, any>("producer.change", { event: event("o1") });
		await settled();
		expect(handled).toEqual(["o1"]);
		expect((await producer.adapter.findOne({ _id: id })).outbox).toEqual([]);
	});

	it("relays a document as its write returned it, without reading it again", async () => {
		const findOne = jest.spyOn(producer.adapter, "findOne");
		try {
			const id = await broker.call<string, any>("producer.change", {
				event: event("o-written"),
				written: true
			});
			expect(findOne).not.toHaveBeenCalled();
			await settled();
			expect(handled).toEqual(["o-written"]);
			expect((await producer.adapter.findOne({ _id: id })).outbox).toEqual([]);
			expect(producer.relayPending.get("adapter").size).toBe(0);
		} finally {
			findOne.mockRestore();
		}
	});

	it("changes a document and records its event in one write, then relays it", async () => {
		const id = await broker.call<string, any>("producer.change", {
			event: event("first"),
			written: true
		});
		const entry = producer.outboxEntry("order.confirmed", event("changed"));
		const missed = await producer.updateWithEvent("adapter", { _id: "none" }, {}, entry);
		expect(missed).toBeNull();
		const doc = await producer.updateWithEvent(
			"adapter",
			{ _id: id },
			{ $set: { n: 2 } },
			entry
		);
		expect(doc.outbox.map((e: { eventId: string }) => e.eventId)).toContain(entry.eventId);
		await settled();
		expect(handled).toEqual(["first", "changed"]);
		expect(await producer.adapter.findOne({ _id: id })).toMatchObject({ n: 2, outbox: [] });
	});

	it("inserts a document with its events and relays them now, or with its next change", async () => {
		const now = await producer.insertWithEvents("adapter", (id: string) => ({
			doc: { n: 5 },
			events: [producer.outboxEntry("order.confirmed", event(`inserted-${id}`))]
		}));
		await settled();
		expect(handled).toEqual([`inserted-${now._id}`]);
		const later = await insertForLater(6, "later");
		await settled();
		expect(handled).toEqual([`inserted-${now._id}`]);
		expect(producer.relayPending.get("adapter").has(String(later._id))).toBe(true);
		await producer.flushOutbox();
		await settled();
		expect(handled).toEqual([`inserted-${now._id}`, "later"]);
	});

	it("keeps an entry pushed after the relay's copy was read, within the same millisecond too", async () => {
		const now = jest.spyOn(Date, "now").mockReturnValue(Date.parse("2026-12-03T10:00:00Z"));
		const relay = jest.spyOn(producer, "relayWritten");
		try {
			const copy = await insertForLater(7, "copy-a");
			const pushed = producer.outboxEntry("order.confirmed", event("copy-b"));
			relay.mockResolvedValueOnce(undefined); // its writer's relay comes after the stale one
			await producer.updateWithEvent(
				"adapter",
				{ _id: copy._id },
				{ $set: { n: 8 } },
				pushed
			);
			relay.mockRestore();
			await producer.relayWritten("adapter", copy);
			await settled();
			expect(handled).toEqual(["copy-a"]);
			const stored = await producer.adapter.findOne({ _id: copy._id });
			expect(stored.outbox.map((e: { eventId: string }) => e.eventId)).toEqual([
				pushed.eventId
			]);
			expect(stored.outboxAt).toEqual(expect.any(String));
			expect(producer.relayPending.get("adapter").has(String(copy._id))).toBe(true);
		} finally {
			now.mockRestore();
			relay.mockRestore();
		}
		await producer.flushOutbox();
		await settled();
		expect(handled).toEqual(["copy-a", "copy-b"]);
	});

	it("relays what was left in an outbox (a crash before the relay) on the next sweep", async () => {
		await broker.call("producer.change", { event: event("o2"), skipRelay: true });
		expect(handled).toEqual([]);
		await producer.flushOutbox();
		await settled();
		expect(handled).toEqual(["o2"]);
	});
});

describe("relay rounds", () => {
	const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));
	const until = async (check: () => boolean) => {
		for (let i = 0; i < 100 && !check(); i++) await sleep(10);
	};

	it("relay an event left for later without scanning the outboxes", async () => {
		const id = await broker.call<string, any>("producer.change", {
			event: event("later"),
			relayLater: true
		});
		await until(() => handled.includes("later"));
		expect(handled).toEqual(["later"]);
		expect((await producer.adapter.findOne({ _id: id })).outbox).toEqual([]);
		expect(producer.relayPending.get("adapter").size).toBe(0);
	});

	it("leave a document nobody asked to relay to the full scan", async () => {
		await broker.call("producer.change", { event: event("crashed"), skipRelay: true });
		await sleep(200); // four rounds
		expect(handled).toEqual([]);
		await producer.flushOutbox();
		await settled();
		expect(handled).toEqual(["crashed"]);
	});

	it("scan finds the documents holding events, each once", async () => {
		await producer.adapter.insert({ n: 2, outbox: [] });
		await producer.adapter.insert({ n: 3 });
		await producer.adapter.insert({
			n: 4,
			...outboxOf([
				producer.outboxEntry("order.confirmed", event("two-a")),
				producer.outboxEntry("order.confirmed", event("two-b"))
			])
		});
		const publish = jest.spyOn(producer, "publishDurable");
		const relay = jest.spyOn(producer, "relayDocument");
		try {
			await producer.flushOutbox();
			await settled();
			expect(handled).toEqual(["two-a", "two-b"]);
			expect(publish).toHaveBeenCalledTimes(2);
			expect(relay).toHaveBeenCalledTimes(1);
			expect(await producer.adapter.count({ query: { "outbox.eventId": { $gt: "" } } })).toBe(
				0
			);
			// Emptied outboxes leave the scan's index.
			expect(await producer.adapter.count({ query: { outboxAt: { $gt: "" } } })).toBe(0);
		} finally {
			publish.mockRestore();
			relay.mockRestore();
		}
	});

	it("retry a document whose event could not be published", async () => {
		const publish = jest
			.spyOn(producer, "publishDurable")
			.mockImplementationOnce(() => Promise.reject(new Error("broker unreachable")));
		const warn = jest.spyOn(producer.logger, "warn").mockImplementation(() => undefined);
		try {
			const id = await broker.call<string, any>("producer.change", { event: event("retry") });
			expect(handled).toEqual([]);
			expect(producer.relayPending.get("adapter").has(String(id))).toBe(true);
			await until(() => handled.includes("retry"));
			expect(handled).toEqual(["retry"]);
			expect(publish.mock.calls.length).toBeGreaterThanOrEqual(2);
			expect(producer.relayPending.get("adapter").size).toBe(0);
		} finally {
			publish.mockRestore();
			warn.mockRestore();
		}
	});
});

describe("consumers", () => {
	it("retry a failing handler with backoff until it succeeds", async () => {
		failuresLeft = 2;
		await broker.call("producer.change", { event: event("o3") });
		await settled();
		expect(handled).toEqual(["o3"]);
		expect(errors).toEqual([]);
	});

	it("dead-letter an event after the configured attempts and keep handling the next", async () => {
		await broker.call("producer.change", { event: event("bad", { poison: true }) });
		await broker.call("producer.change", { event: event("o4") });
		await settled();
		expect(handled).toEqual(["o4"]);
		expect(errors.some(e => /DEAD LETTER: order\.confirmed .* failed 3 times/.test(e))).toBe(
			true
		);
	});

	it("refuse, at creation, a handler for an event that is not a declared domain event", () => {
		const typo = new ServiceBroker({ logger: false });
		expect(() =>
			typo.createService({
				name: "typo",
				mixins: [DurableEvents()],
				events: { "order.confirmd": () => undefined }
			})
		).toThrow(/'order.confirmd' is not a domain event of contracts\/events.ts/);
		// Moleculer's own events stay in-process and are allowed.
		expect(() =>
			typo.createService({
				name: "internal",
				mixins: [DurableEvents()],
				events: { "$node.connected": () => undefined }
			})
		).not.toThrow();
	});

	it("handle an event id once, however often it is delivered", async () => {
		await broker.call("producer.change", { event: event("o5"), eventId: "same-id" });
		await broker.call("producer.change", { event: event("o5"), eventId: "same-id" });
		await settled();
		expect(handled).toEqual(["o5"]);
	});

	it("leaves the inbox alone for a handler declared idempotent: it sees every delivery", async () => {
		selfHandled = [];
		await broker.call("producer.change", { event: event("o6"), eventId: "again-id" });
		await broker.call("producer.change", { event: event("o6"), eventId: "again-id" });
		for (let i = 0; i < 200 && selfGuarded.durableInflight.size > 0; i++)
			await new Promise(r => setTimeout(r, 10));
		await settled();
		expect(selfHandled).toEqual(["o6", "o6"]);
		expect(handled).toEqual(["o6"]); // the other consumer's inbox still skips the second
		expect(await selfGuarded.stores.inbox.count({})).toBe(0);
	});
});

describe("stopping", () => {
	it("does not wait out a retry's backoff: the event is dead-lettered and the node stops", async () => {
		const env = { ...process.env };
		process.env.EVENTS_BACKOFF_MS = "60000"; // the first retry would wait a minute
		resetSettings();
		const logged: string[] = [];
		const node = new ServiceBroker({ logger: false });
		let attempts = 0;
		node.createService({
			name: "emitter",
			mixins: [DbMixin(), DurableEvents({ outbox: ["adapter"] })],
			actions: {
				async change(this: any, ctx: any) {
					const entry = this.outboxEntry("order.confirmed", ctx.params.event);
					const doc = await this.adapter.insert(outboxOf([entry]));
					await this.relayOutbox("adapter", doc._id);
				}
			}
		} as ServiceSchema);
		const failing = node.createService({
			name: "failing",
			mixins: [DbMixin({ stores: { inbox: INBOX_INDEXES } }), DurableEvents()],
			events: {
				"order.confirmed"() {
					attempts++;
					throw new Error("down");
				}
			}
		} as ServiceSchema);
		failing.logger.error = (...args: unknown[]) => logged.push(args.map(String).join(" "));
		failing.logger.warn = () => undefined;
		try {
			await node.start();
			await node.call("emitter.change", { event: event("stuck") });
			for (let i = 0; i < 100 && attempts === 0; i++)
				await new Promise(r => setTimeout(r, 10));
			expect(attempts).toBe(1);
			const started = Date.now();
			await node.stop();
			expect(Date.now() - started).toBeLessThan(5000);
			expect(attempts).toBe(1);
			expect(logged.some(l => /DEAD LETTER: .*not retried: the node stopped/.test(l))).toBe(
				true
			);
		} finally {
			process.env = env;
			resetSettings();
		}
	});
});

describe("inbox", () => {
	it("forgets the ids of events handled longer ago than the retention (7 days)", async () => {
		const inbox = consumer.stores.inbox;
		const daysAgo = (d: number) => new Date(Date.now() - d * 24 * 3_600_000).toISOString();
		await inbox.insert({ key: "order.confirmed:old", at: daysAgo(8) });
		await inbox.insert({ key: "order.confirmed:recent", at: daysAgo(6) });
		expect(await consumer.pruneInbox()).toBe(1);
		expect(await inbox.findOne({ key: "order.confirmed:old" })).toBeNull();
		expect(await inbox.findOne({ key: "order.confirmed:recent" })).not.toBeNull();
	});
});

describe("JetStream naming", () => {
	it("names streams, subjects and consumers from the namespace and event", () => {
		expect(streamName("prod", "order")).toBe("SHOPMESH_PROD_ORDER");
		expect(durableName("notifications", "order.confirmed")).toBe(
			"notifications__order_confirmed"
		);
		expect(deadLetterSubject("prod", "inventory", "order.confirmed")).toBe(
			"shopmesh.prod.dlq.inventory.order.confirmed"
		);
	});

	it("backs off exponentially, capped at a minute", () => {
		expect([1, 2, 3].map(a => backoffDelay(a, 100))).toEqual([100, 200, 400]);
		expect(backoffDelay(30, 1000)).toBe(60_000);
	});
});
