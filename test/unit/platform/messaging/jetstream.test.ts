/**
 * JetStreamEvents over a real nats-server: the publishes and acks of one event-loop turn leave
 * together (platform/messaging/coalesce.ts), each publish settling with its own JetStream ack.
 */
import net from "node:net";
import { connect, type NatsConnection } from "nats";
import { JetStreamEvents, streamName } from "../../../../platform/messaging/jetstream";
import { Nats } from "../../../helpers/cluster";

const logger = { info: () => undefined, warn: () => undefined, error: () => undefined };
let nats: Nats;
let events: JetStreamEvents;
let checker: NatsConnection;

beforeAll(async () => {
	nats = await Nats.start();
	events = new JetStreamEvents(nats.url, "jstest", "jetstream-test", logger);
	await events.connect();
	checker = await connect({ servers: nats.url });
});
afterAll(async () => {
	await checker?.close();
	await events?.close();
	await nats?.destroy();
});

const stored = async () =>
	(await (await checker.jetstreamManager()).streams.info(streamName("jstest", "order"))).state
		.messages;

/** Socket writes made while `run` is in progress. */
async function socketWrites(run: () => Promise<unknown>): Promise<number> {
	const write = jest.spyOn(net.Socket.prototype, "write");
	try {
		await run();
		return write.mock.calls.length;
	} finally {
		write.mockRestore();
	}
}

it("sends the publishes of one turn in one write, each settling with its own ack", async () => {
	await events.publish("order.confirmed", { n: 0 }, "warm-up"); // creates the stream
	const before = await stored();

	// 50 publishes, each from its own callback of the same turn (as from 50 requests read).
	const writes = await socketWrites(() =>
		Promise.all(
			Array.from(
				{ length: 50 },
				(_, i) =>
					new Promise<void>((resolve, reject) =>
						setImmediate(() =>
							events
								.publish("order.confirmed", { n: i }, `event-${i}`)
								.then(resolve, reject)
						)
					)
			)
		)
	);
	expect(await stored()).toBe(before + 50);
	expect(writes).toBeLessThanOrEqual(3);
});

it("stores an event published twice once (its id is the message id)", async () => {
	const before = await stored();
	await Promise.all([
		events.publish("order.confirmed", { n: 1 }, "same-id"),
		events.publish("order.confirmed", { n: 1 }, "same-id")
	]);
	expect(await stored()).toBe(before + 1);
});
