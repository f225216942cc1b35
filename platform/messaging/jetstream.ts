/**
 * Durable domain events on NATS JetStream: a stream per domain (`order`, `payment`, `shipment`,
 * `inventory`, `user`), a durable pull consumer per consuming service and event, ack after the
 * handler succeeds, redelivery with exponential backoff, and a dead-letter stream for events that
 * keep failing.
 *
 * Subjects: `shopmesh.<namespace>.<event name>`, e.g. `shopmesh.default.order.confirmed`;
 * dead letters: `shopmesh.<namespace>.dlq.<service>.<event name>`.
 * Publishing sets the event id as the JetStream message id, so a relay that publishes the same
 * event twice (after a crash, or from two instances) stores it once within the dedup window.
 */
import {
	AckPolicy,
	DeliverPolicy,
	JSONCodec,
	RetentionPolicy,
	StorageType,
	connect,
	headers,
	nanos,
	type ConsumerMessages,
	type JetStreamClient,
	type JetStreamPublishOptions,
	type JetStreamManager,
	type JsMsg,
	type NatsConnection
} from "nats";
import { coalesce, type Outcome } from "./coalesce";
import { nextTurn } from "./fair-scheduling";

export interface DurableEventOptions {
	maxAttempts: number;
	backoffMs: number;
	ackWaitMs: number;
}

export interface DeadLetter {
	service: string;
	event: string;
	error: string;
	attempts: number;
}

export interface ConsumerStats {
	consumers: { event: string; pending: number | null; ackPending: number | null }[];
	deadLetters: number;
}

interface Logger {
	info(...args: unknown[]): void;
	warn(...args: unknown[]): void;
	error(...args: unknown[]): void;
}

const codec = JSONCodec<Record<string, unknown>>();
const DUPLICATE_WINDOW_MS = 2 * 60_000;
const MAX_AGE_MS = 7 * 24 * 3600_000;
/** Messages handled at once per consumer. */
const CONCURRENCY = 16;
/**
 * A pull lost with its consumer's leader (a NATS server of a cluster died) is only noticed by
 * missed idle heartbeats (two): 1 s heartbeats re-pull within ~2 s instead of nats.js's 30 s.
 */
const PULL = { expires: 5000, idle_heartbeat: 1000 };

/** Delay before the next attempt: base, 2x, 4x... capped at one minute. */
export function backoffDelay(attempt: number, baseMs: number): number {
	return Math.min(60_000, baseMs * 2 ** Math.max(0, attempt - 1));
}

/** `SHOPMESH_<NS>_<DOMAIN>`: stream names allow no dots. */
export function streamName(namespace: string, domain: string): string {
	return `SHOPMESH_${namespace}_${domain}`.toUpperCase().replace(/[^A-Z0-9_-]/g, "_");
}

export function subjectOf(namespace: string, event: string): string {
	return `shopmesh.${namespace}.${event}`;
}

export function deadLetterSubject(namespace: string, service: string, event: string): string {
	return `shopmesh.${namespace}.dlq.${service}.${event}`;
}

export function durableName(service: string, event: string): string {
	return `${service}__${event}`.replace(/[^A-Za-z0-9_-]/g, "_");
}

const domainOf = (event: string) => event.split(".")[0];
const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));

export class JetStreamEvents {
	private nc?: NatsConnection;
	private js?: JetStreamClient;
	private jsm?: JetStreamManager;
	private readonly streams = new Map<string, Promise<void>>();
	private readonly running = new Set<ConsumerMessages>();
	private readonly loops: Promise<void>[] = [];
	private closed = false;

	/**
	 * Publishes and acks leave from the check phase of the event-loop turn, all of one turn
	 * together (platform/messaging/coalesce.ts): the nats client flushes after the current promise jobs, so each
	 * would be a socket write of its own and a wake-up of nats-server. Each publish still settles
	 * with its own ack.
	 */
	private readonly publishLater = coalesce(
		(
			subject: string,
			data: Uint8Array,
			opts: Partial<JetStreamPublishOptions>,
			outcome: Outcome
		) =>
			void this.js!.publish(subject, data, opts).then(
				() => outcome.resolve(),
				outcome.reject
			),
		(err: unknown, _subject: string, _data: Uint8Array, _opts: unknown, outcome: Outcome) =>
			outcome.reject(err)
	);
	private readonly ackLater = coalesce(
		(m: JsMsg) => m.ack(),
		// Not acknowledged: JetStream delivers it again after ack_wait (handlers are idempotent).
		(err: unknown, m: JsMsg) =>
			this.logger.warn(`Acknowledging stream seq ${m.seq} failed: ${(err as Error).message}`)
	);

	constructor(
		private readonly url: string,
		private readonly namespace: string,
		private readonly name: string,
		private readonly logger: Logger,
		/** Copies of each stream kept by a NATS cluster (3 in k8s: one server may be lost). */
		private readonly replicas = 1,
		/** Told of every event moved to the dead-letter stream (the operator console's log). */
		private readonly onDeadLetter?: (letter: DeadLetter) => void
	) {}

	async connect(): Promise<void> {
		this.nc = await connect({
			// A list of servers (a NATS cluster) is comma-separated, as in TRANSPORTER.
			servers: this.url.split(",").map(s => s.trim()),
			name: this.name,
			reconnect: true,
			maxReconnectAttempts: -1,
			reconnectTimeWait: 500,
			// No stack trace captured per request (a JetStream publish is one): its errors are
			// logged by message.
			noAsyncTraces: true
		});
		this.jsm = await this.nc.jetstreamManager();
		this.js = this.nc.jetstream();
	}

	/** Create the domain's stream once (idempotent across processes). */
	private ensureStream(domain: string): Promise<void> {
		const name = streamName(this.namespace, domain);
		let ready = this.streams.get(name);
		if (!ready) {
			ready = this.createStream(name, `shopmesh.${this.namespace}.${domain}.>`);
			ready.catch(() => this.streams.delete(name));
			this.streams.set(name, ready);
		}
		return ready;
	}

	private async createStream(name: string, subject: string): Promise<void> {
		try {
			await this.jsm!.streams.info(name);
			return;
		} catch {
			/* not there yet */
		}
		try {
			await this.jsm!.streams.add({
				name,
				subjects: [subject],
				storage: StorageType.File,
				num_replicas: this.replicas,
				retention: RetentionPolicy.Limits,
				duplicate_window: nanos(DUPLICATE_WINDOW_MS),
				max_age: nanos(MAX_AGE_MS)
			});
		} catch (err) {
			// Another process created it meanwhile.
			await this.jsm!.streams.info(name).catch(() => {
				throw err;
			});
		}
	}

	/** Store the event in its domain's stream; resolves once JetStream acknowledged it. */
	async publish(event: string, payload: Record<string, unknown>, eventId: string) {
		await this.ensureStream(domainOf(event));
		const data = codec.encode(payload);
		const opts = { msgID: eventId, timeout: 3000 };
		await new Promise<void>((resolve, reject) =>
			this.publishLater(subjectOf(this.namespace, event), data, opts, { resolve, reject })
		);
	}

	/**
	 * Consume `event` as `service`: the handler runs at least once per event; a failure is
	 * redelivered with backoff, and after `maxAttempts` the event goes to the dead-letter stream.
	 */
	subscribe(
		service: string,
		event: string,
		handler: (payload: Record<string, unknown>) => Promise<void>,
		opts: DurableEventOptions
	): void {
		this.loops.push(this.consumeLoop(service, event, handler, opts));
	}

	private async consumeLoop(
		service: string,
		event: string,
		handler: (payload: Record<string, unknown>) => Promise<void>,
		opts: DurableEventOptions
	) {
		const stream = streamName(this.namespace, domainOf(event));
		const durable = durableName(service, event);
		while (!this.closed) {
			let messages: ConsumerMessages | undefined;
			try {
				await this.ensureStream(domainOf(event));
				await this.ensureConsumer(stream, durable, event, opts);
				const consumer = await this.js!.consumers.get(stream, durable);
				// Held unhandled, a message waits out its ack wait if this instance dies: few are.
				messages = await consumer.consume({ max_messages: CONCURRENCY, ...PULL });
				this.running.add(messages);
				const inflight = new Set<Promise<void>>();
				for await (const m of messages) {
					const work = this.handle(m, service, event, handler, opts).finally(() =>
						inflight.delete(work)
					);
					inflight.add(work);
					if (inflight.size >= CONCURRENCY) await Promise.race(inflight);
				}
				await Promise.allSettled(inflight);
			} catch (err) {
				if (!this.closed)
					this.logger.warn(
						`Durable consumer ${durable} stopped (${(err as Error).message}); resubscribing`
					);
			} finally {
				if (messages) this.running.delete(messages);
			}
			if (!this.closed) await sleep(1000);
		}
	}

	private async ensureConsumer(
		stream: string,
		durable: string,
		event: string,
		opts: DurableEventOptions
	) {
		const ackWait = nanos(opts.ackWaitMs);
		const existing = await this.jsm!.consumers.info(stream, durable).catch(() => undefined);
		if (existing) {
			// Made with another ack wait (an older release had 30 s): what a dead instance held
			// would wait that long before redelivery.
			if (existing.config.ack_wait !== ackWait)
				await this.jsm!.consumers.update(stream, durable, { ack_wait: ackWait });
			return;
		}
		try {
			await this.jsm!.consumers.add(stream, {
				durable_name: durable,
				ack_policy: AckPolicy.Explicit,
				// A consumer group that is new gets every stored event: nothing emitted before it
				// started is lost (handlers are idempotent).
				deliver_policy: DeliverPolicy.All,
				filter_subject: subjectOf(this.namespace, event),
				ack_wait: ackWait,
				max_ack_pending: 1000
			});
		} catch (err) {
			await this.jsm!.consumers.info(stream, durable).catch(() => {
				throw err;
			});
		}
	}

	private async handle(
		m: JsMsg,
		service: string,
		event: string,
		handler: (payload: Record<string, unknown>) => Promise<void>,
		opts: DurableEventOptions
	) {
		const attempt = m.info.redeliveryCount;
		let payload: Record<string, unknown>;
		try {
			payload = codec.decode(m.data);
		} catch {
			return this.deadLetter(m, service, event, "the payload is not JSON", attempt);
		}
		if (attempt > opts.maxAttempts)
			// Earlier attempts died with their process (no failure was recorded).
			return this.deadLetter(m, service, event, "too many deliveries", attempt);
		// A short ack wait redelivers soon what a dead instance held; one that works longer says
		// it is still at it, so it is not handed to another instance meanwhile.
		const working = setInterval(() => m.working(), opts.ackWaitMs / 2);
		try {
			await handler(payload);
			this.ackLater(m);
		} catch (err) {
			const message = (err as Error).message ?? String(err);
			// Awaited, so the in-progress beats go on until it is stored as a dead letter.
			if (attempt >= opts.maxAttempts)
				return await this.deadLetter(m, service, event, message, attempt);
			this.logger.warn(
				`Event ${event} ${String(payload.eventId)} failed in ${service} (attempt ${attempt}/${opts.maxAttempts}): ${message}`
			);
			m.nak(backoffDelay(attempt, opts.backoffMs));
		} finally {
			clearInterval(working);
		}
	}

	private async deadLetter(
		m: JsMsg,
		service: string,
		event: string,
		error: string,
		attempts: number
	) {
		try {
			await this.ensureStream("dlq");
			const h = headers();
			h.set("Shopmesh-Service", service);
			h.set("Shopmesh-Event", event);
			h.set("Shopmesh-Error", error.slice(0, 500));
			h.set("Shopmesh-Attempts", String(attempts));
			await this.js!.publish(deadLetterSubject(this.namespace, service, event), m.data, {
				headers: h,
				msgID: `${m.info.stream}:${m.seq}:${service}`,
				timeout: 3000
			});
			m.term();
			this.onDeadLetter?.({ service, event, error, attempts });
			this.logger.error(
				`Event ${event} (stream seq ${m.seq}) moved to the dead-letter stream of ${service} after ${attempts} attempts: ${error}`
			);
		} catch (err) {
			// Not stored as a dead letter: leave it to redelivery rather than lose it.
			this.logger.error(`Dead-lettering failed: ${(err as Error).message}`);
			m.nak(1000);
		}
	}

	/**
	 * What `service` still has to handle of each of `events` (JetStream's count of stored messages
	 * not yet delivered, and delivered but not acknowledged), and its dead letters so far.
	 */
	async consumerStats(service: string, events: string[]): Promise<ConsumerStats> {
		const consumers = await Promise.all(
			events.map(async event => {
				const info = await this.jsm!.consumers.info(
					streamName(this.namespace, domainOf(event)),
					durableName(service, event)
				).catch(() => null);
				return {
					event,
					pending: info?.num_pending ?? null,
					ackPending: info?.num_ack_pending ?? null
				};
			})
		);
		const dlq = await this.jsm!.streams.info(streamName(this.namespace, "dlq"), {
			subjects_filter: `shopmesh.${this.namespace}.dlq.${service}.>`
		}).catch(() => null);
		const deadLetters = Object.values(dlq?.state.subjects ?? {}).reduce((a, n) => a + n, 0);
		return { consumers, deadLetters };
	}

	async close(): Promise<void> {
		this.closed = true;
		for (const messages of this.running) messages.stop();
		await Promise.allSettled(this.loops);
		await nextTurn(); // the acks and publishes queued for this turn leave first
		await this.nc?.drain().catch(() => undefined);
	}
}
