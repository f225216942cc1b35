/**
 * Durable domain events: nothing lost between a state change and its consumers.
 *
 * Publisher side (transactional outbox): a service puts the event into the very document whose
 * state changes, in the same atomic update (`$push: { outbox: entry }`, or `outbox: [entry]` on
 * insert), so the change and its event cannot part ways. A relay publishes each entry and then
 * pulls it from the document: right after the write, and by a periodic sweep that picks up what
 * a crash or an unreachable broker left behind. Publishing is therefore at-least-once.
 *
 * Consumer side: every handler in the service's `events` is a declared domain event
 * (contracts/events.ts; any other name but Moleculer's own `$` events stops the service at creation)
 * and becomes durable and idempotent:
 * - with NATS (`TRANSPORTER=nats://...` or `EVENTS_NATS_URL`), through JetStream (platform/messaging/jetstream.ts):
 *   a durable consumer per service and event, ack after success, backoff, dead letters;
 * - in the embedded default, through Moleculer's in-process events, with the same retries with
 *   backoff and a dead-letter log (in-process delivery does not survive a crash of the process;
 *   the outbox does, and is relayed again on restart).
 * Each event carries a stable `eventId`; a service that consumes events keeps an `inbox` store
 * (declare it in DbMixin's `stores`) of the ids it handled, so a redelivered event is skipped,
 * except by a handler declared `idempotent` (a unique key of its own decides).
 */
import type { Context, ServiceSchema } from "moleculer";
import { nowIso } from "../runtime/clock";
import { isDomainEvent, type DomainEventName, type DomainEvents } from "../../contracts/events";
import { newEventId } from "../persistence/ids";
import { JetStreamEvents, backoffDelay, type ConsumerStats, type DeadLetter } from "./jetstream";
import { nextTurn } from "./fair-scheduling";
import { countDomainEvent } from "../runtime/metrics";
import { settings } from "../runtime/settings";
import { ensureIndexes, isDuplicateKeyError, type Store } from "../persistence/db.mixin";
import { startSweep } from "../runtime/sweep";

/** Broadcast for every event given up on: the operator console's fault log hears it. */
export const DEAD_LETTERED_EVENT = "events.dead-lettered";

export interface OutboxEntry {
	eventId: string;
	name: DomainEventName;
	payload: Record<string, unknown>;
}

/** Indexes of the `inbox` store of a consuming service (`at`: the prune reads through it). */
export const INBOX_INDEXES = [{ field: "key", unique: true }, { field: "at" }];

/**
 * `outboxAt` is set exactly while a document's outbox holds events: the full scan reads through
 * its sparse index only those documents, on SQLite and MongoDB alike. Every push writes a new
 * one (the time and the entry's unique id), so "outboxAt is still what my copy read" means
 * nothing was pushed since: the relay's emptying is decided by that index, not by the array.
 */
const OUTBOX_INDEX = { field: "outboxAt", sparse: true };
const WITH_EVENTS = { outboxAt: { $gt: "" } };

type Update = Record<string, any>;

/** The `outboxAt` of a push of `entry`: unique to it, ordered by time. */
const pushedAt = (entry: OutboxEntry) => `${nowIso()} ${entry.eventId}`;

/** `update` that also appends `entry` to the document's outbox: one atomic write for both. */
function withEvent(update: Update, entry?: OutboxEntry): Update {
	if (!entry) return update;
	return {
		...update,
		$set: { ...update.$set, outboxAt: pushedAt(entry) },
		$push: { ...update.$push, outbox: entry }
	};
}

/** The outbox fields of a new document that records `entries` with itself. */
function outboxOf(entries: OutboxEntry[]): { outbox: OutboxEntry[]; outboxAt?: string } {
	return entries.length > 0
		? { outbox: entries, outboxAt: pushedAt(entries[entries.length - 1]!) }
		: { outbox: [] };
}

/**
 * Whether the document still holds exactly the outbox of `copy`: by its push marker, or (a marker
 * an earlier version wrote, a bare time two pushes could share) by the array itself.
 */
function sameOutbox(copy: { _id: unknown; outbox?: OutboxEntry[]; outboxAt?: unknown }) {
	const { _id, outboxAt } = copy;
	if (typeof outboxAt === "string" && outboxAt.includes(" ")) return { _id, outboxAt };
	const entries = copy.outbox ?? [];
	return {
		_id,
		outbox: { $size: entries.length },
		...(entries.length > 0 ? { "outbox.eventId": { $all: entries.map(e => e.eventId) } } : {})
	};
}

export interface DurableEventsOptions {
	/** Stores whose documents carry an `outbox` array: "adapter" is the primary collection. */
	outbox?: string[];
}

export interface DurableEventsMethods {
	/**
	 * Change the first document of a store matching `query` and record `event` with it, in one
	 * atomic write, then relay the event: how a service changes a document that announces it.
	 * The updated document, or null when none matched (nothing written, nothing relayed). With
	 * `relay` "later" the event goes with the document's next relayed change, or the relay's next
	 * round, whichever comes first (one outbox emptying for both).
	 */
	updateWithEvent(
		storeName: string,
		query: Record<string, unknown>,
		update: Update,
		event: OutboxEntry | undefined,
		relay?: "now" | "later"
	): Promise<any>;
	/**
	 * Insert a new document with the events it records, written with it; `build` gets the new
	 * document's id (its own `_id`, if it returns one, wins). The events are relayed now, or
	 * with the document's next change ("later": the saga relays order.created with its outcome).
	 */
	insertWithEvents(
		storeName: string,
		build: (id: string) => { doc: object; events: OutboxEntry[] },
		relay?: "now" | "later"
	): Promise<any>;
	/** An outbox entry for `name`: record it with a change through updateWithEvent(). */
	outboxEntry<N extends DomainEventName>(
		name: N,
		payload: DomainEvents[N],
		eventId?: string
	): OutboxEntry;
	/** Relay the outbox of one document now; never rejects (what fails is retried). */
	relayOutbox(storeName: string, id: unknown): Promise<void>;
	/**
	 * relayOutbox() for a document as the write that changed it returned it (an update's result,
	 * an inserted document): no read first. Never rejects.
	 */
	relayWritten(storeName: string, doc: { _id: unknown; outbox?: unknown[] }): Promise<void>;
	/**
	 * Have a document's outbox relayed by the relay's next round, unless a relayOutbox() of the
	 * same document comes first (an event written now and relayed with a later change).
	 */
	relayLater(storeName: string, id: unknown): void;
	/** Scan every outbox store and relay all pending entries; resolves when done. */
	flushOutbox(): Promise<void>;
	/** Forget handled event ids older than EVENTS_INBOX_RETENTION_MS; the number removed. */
	pruneInbox(): Promise<number>;
}

type Handler = (this: any, ctx: Context<any>) => unknown;

interface DurableHandler {
	handler: Handler;
	params?: unknown;
	/** Idempotent by itself: the inbox is not consulted (see EventSchema.idempotent in types/moleculer.d.ts). */
	idempotent: boolean;
}

export function DurableEvents(options: DurableEventsOptions = {}): Partial<ServiceSchema<any>> {
	const outboxStores = options.outbox ?? [];

	// `merged` is a lifecycle hook of Moleculer the typings do not list.
	return <Partial<ServiceSchema<any>>>{
		/** Take the domain events out of Moleculer's hands before the schema is parsed. */
		merged(this: any, schema: any) {
			const cfg = settings().events;
			const durable: Record<string, DurableHandler> = {};
			for (const [name, def] of Object.entries<any>(schema.events ?? {})) {
				if (name.startsWith("$")) continue; // Moleculer's own, in this process
				if (!isDomainEvent(name))
					throw new Error(
						`${schema.name}: '${name}' is not a domain event of contracts/events.ts; ` +
							"declare it there to have it delivered durably"
					);
				const handler: Handler = typeof def === "function" ? def : def.handler;
				durable[name] = {
					handler,
					params: def.params,
					idempotent: def.idempotent === true
				};
				if (cfg.natsUrl) delete schema.events[name];
				else
					schema.events[name] = {
						...(typeof def === "object" ? def : {}),
						handler(this: any, ctx: Context<any>) {
							this.receiveInProcess(name, ctx);
						}
					};
			}
			schema.$durableEvents = durable;
		},

		created(this: any) {
			this.relaying = new Set<string>();
			// Documents whose outbox still holds events: relayed again every relay round.
			this.relayPending = new Map<string, Map<string, unknown>>(
				outboxStores.map(name => [name, new Map()])
			);
			this.durableInflight = new Set<Promise<void>>();
			this.retryWakers = new Set<() => void>();
			// The embedded default's counterpart of JetStream's consumer figures (eventStats).
			this.inProcessPending = new Map<string, number>();
			this.inProcessDeadLetters = 0;
		},

		actions: {
			/** Events this service consumes still to handle, and its dead letters (ops console). */
			eventStats: {
				visibility: "public",
				params: {},
				handler(this: any): Promise<ConsumerStats> | ConsumerStats {
					const events = Object.keys(this.schema.$durableEvents ?? {});
					if (this.jetstreamReady) return this.jetstream.consumerStats(this.name, events);
					return {
						consumers: events.map(event => ({
							event,
							pending: this.inProcessPending.get(event) ?? 0,
							ackPending: 0
						})),
						deadLetters: this.inProcessDeadLetters
					};
				}
			}
		},

		started(this: any) {
			// Mixins' started hooks run one after the other in an order of Moleculer's choosing, so
			// the stores this mixin needs may connect only after this hook: start once they have.
			// (JetStream keeps what arrives meanwhile; the outbox keeps what is written meanwhile.)
			this.durableStart = this.startDurableEvents().catch((err: Error) =>
				this.logger.error("Durable events could not start:", err.message)
			);
		},

		async stopped(this: any) {
			this.durableStopping = true;
			for (const wake of [...this.retryWakers]) wake();
			await this.durableStart;
			clearInterval(this.relayTimer);
			clearInterval(this.inboxPruneTimer);
			await Promise.allSettled([...this.durableInflight]);
			await this.jetstream?.close();
		},

		methods: {
			/** Every node's operator console hears of a dead letter (`events.dead-lettered`). */
			announceDeadLetter(this: any, letter: DeadLetter) {
				void this.broker.broadcast(DEAD_LETTERED_EVENT, letter).catch(() => undefined);
			},

			async startDurableEvents(this: any) {
				const cfg = settings().events;
				await this.storesConnected([
					...outboxStores,
					...(this.stores?.inbox ? ["inbox"] : [])
				]);
				for (const name of outboxStores)
					await ensureIndexes(this.storeOf(name), [OUTBOX_INDEX]);
				if (this.durableStopping) return;
				const durable = this.schema.$durableEvents as Record<string, DurableHandler>;
				if (cfg.natsUrl) {
					this.jetstream = new JetStreamEvents(
						cfg.natsUrl,
						cfg.namespace,
						`${this.broker.nodeID}:${this.name}`,
						this.logger,
						cfg.streamReplicas,
						(letter: DeadLetter) => this.announceDeadLetter(letter)
					);
					await this.jetstream.connect();
					this.jetstreamReady = true;
					for (const [name, { params }] of Object.entries(durable)) {
						const check = params ? this.broker.validator.compile(params) : null;
						this.jetstream.subscribe(
							this.name,
							name,
							async (payload: Record<string, unknown>) => {
								if (check) {
									const valid = await check(payload);
									if (valid !== true)
										throw new Error(
											`invalid ${name} payload: ${JSON.stringify(valid)}`
										);
								}
								const ctx = this.broker.ContextFactory.create(
									this.broker,
									null,
									payload,
									{}
								);
								ctx.eventName = name;
								ctx.eventType = "emit";
								await this.handleOnce(name, ctx);
							},
							{
								maxAttempts: cfg.maxAttempts,
								backoffMs: cfg.backoffMs,
								ackWaitMs: cfg.ackWaitMs
							}
						);
					}
				}
				if (this.stores?.inbox) {
					// Ten times per retention period, at most hourly.
					const every = Math.max(1000, Math.min(cfg.inboxRetentionMs / 10, 3_600_000));
					this.inboxPruneTimer = startSweep(this.logger, "Pruning the inbox", every, () =>
						this.pruneInbox()
					);
				}
				if (outboxStores.length > 0) {
					// Each round retries the documents known to hold events; a full scan of every
					// outbox (what a crash, or another instance on a shared MongoDB, left behind)
					// runs at start and every EVENTS_SWEEP_INTERVAL_MS. Scanning every round was a
					// query over every document of every outbox store each second.
					let lastScan = Date.now();
					this.relayTimer = setInterval(() => {
						const scan = Date.now() - lastScan >= cfg.sweepIntervalMs;
						if (scan) lastScan = Date.now();
						(scan ? this.flushOutbox() : this.relayPendingOutboxes()).catch(
							(err: Error) => this.logger.warn("Outbox relay failed:", err.message)
						);
					}, cfg.relayIntervalMs);
					this.relayTimer.unref();
					await this.flushOutbox().catch((err: Error) =>
						this.logger.warn("Outbox relay failed:", err.message)
					);
				}
			},

			async updateWithEvent(
				this: any,
				storeName: string,
				query: Record<string, unknown>,
				update: Update,
				event: OutboxEntry | undefined,
				relay: "now" | "later" = "now"
			) {
				const doc = await this.updateOne(
					this.storeOf(storeName),
					query,
					withEvent(update, event)
				);
				if (doc && event) {
					if (relay === "later") this.relayLater(storeName, doc._id);
					else await this.relayWritten(storeName, doc);
				}
				return doc;
			},

			async insertWithEvents(
				this: any,
				storeName: string,
				build: (id: string) => { doc: object; events: OutboxEntry[] },
				relay: "now" | "later" = "now"
			) {
				const doc = await this.insertWithNewId(this.storeOf(storeName), (id: string) => {
					const made = build(id);
					return { ...made.doc, ...outboxOf(made.events) };
				});
				if (!doc.outbox?.length) return doc;
				if (relay === "later") this.relayLater(storeName, doc._id);
				else await this.relayWritten(storeName, doc);
				return doc;
			},

			outboxEntry(name: DomainEventName, payload: object, eventId: string = newEventId()) {
				return {
					eventId,
					name,
					payload: { ...payload, eventId, occurredAt: nowIso() }
				};
			},

			async storesConnected(this: any, names: string[]) {
				const connected = (name: string) => {
					const store = this.storeOf(name);
					return Boolean(store?.db || store?.collection);
				};
				for (let waited = 0; !names.every(connected); waited += 10) {
					if (waited > 30_000)
						throw new Error(`stores ${names.join(", ")} did not connect`);
					await new Promise(r => setTimeout(r, 10));
				}
			},

			storeOf(this: any, storeName: string): Store {
				return storeName === "adapter" ? this.adapter : this.stores[storeName];
			},

			relayOutbox(this: any, storeName: string, id: unknown) {
				this.relayLater(storeName, id); // until it is known to be empty
				return this.storeOf(storeName)
					.findOne({ _id: id })
					.then((doc: any) =>
						doc
							? this.relayWritten(storeName, doc)
							: this.relayPending.get(storeName)?.delete(String(id))
					)
					.then(() => undefined)
					.catch((err: Error) =>
						this.logger.warn("Outbox relay failed (retried):", err.message)
					);
			},

			// The document may be a moment old: an entry another relay took out meanwhile is
			// published again (at-least-once, as after a crash); one pushed since is relayed by
			// whoever pushed it. Saves the read of every relay made right after its write.
			relayWritten(this: any, storeName: string, doc: { _id: unknown }) {
				this.relayLater(storeName, doc._id); // until it is known to be empty
				return this.relayDocument(this.storeOf(storeName), doc, storeName)
					.then(() => undefined)
					.catch((err: Error) =>
						this.logger.warn("Outbox relay failed (retried):", err.message)
					);
			},

			relayLater(this: any, storeName: string, id: unknown) {
				this.relayPending.get(storeName)?.set(String(id), id);
			},

			/** One relay round over the documents known to hold events. */
			async relayPendingOutboxes(this: any) {
				for (const [storeName, pending] of this.relayPending as Map<
					string,
					Map<string, unknown>
				>)
					for (const id of [...pending.values()]) await this.relayOutbox(storeName, id);
			},

			async flushOutbox(this: any) {
				for (const storeName of outboxStores) {
					const store = this.storeOf(storeName);
					for (;;) {
						const docs = await store.find({ query: WITH_EVENTS, limit: 100 });
						let relayed = 0;
						for (const doc of docs)
							relayed += await this.relayDocument(store, doc, storeName);
						if (docs.length < 100 || relayed === 0) break;
					}
				}
			},

			/**
			 * Publish a document's pending events in order, then take every published one out of
			 * the outbox in one update (one write per relay, not one per event). Stops at the first
			 * that fails, to keep the order of the document's events; a crash before the update
			 * publishes them again (at-least-once: consumers skip what they handled). A document
			 * left with events stays on the list of the next relay round. When the outbox still
			 * holds exactly what was published, it is emptied and its `outboxAt` cleared at once.
			 */
			async relayDocument(
				this: any,
				store: Store,
				doc: any,
				storeName: string
			): Promise<number> {
				const claimed: string[] = [];
				const published: string[] = [];
				try {
					for (const entry of (doc.outbox ?? []) as OutboxEntry[]) {
						if (this.relaying.has(entry.eventId)) break; // another relay has it
						this.relaying.add(entry.eventId);
						claimed.push(entry.eventId);
						try {
							await this.publishDurable(entry);
							published.push(entry.eventId);
						} catch (err) {
							this.logger.warn(
								`Event ${entry.name} ${entry.eventId} not published yet: ${(err as Error).message}`
							);
							break;
						}
					}
					const all = (doc.outbox ?? []).length;
					const emptied =
						published.length === all &&
						(await store.updateMany(sameOutbox(doc), {
							$set: { outbox: [], outboxAt: null }
						})) > 0;
					if (!emptied && published.length > 0)
						await store.updateMany(
							{ _id: doc._id },
							{ $pull: { outbox: { eventId: { $in: published } } } }
						);
					// Off the list only when known empty: an entry pushed since this copy was read
					// may have had its own relay stop at one this relay held.
					const pending = this.relayPending.get(storeName);
					if (emptied || all === 0) pending?.delete(String(doc._id));
					else pending?.set(String(doc._id), doc._id);
					return published.length;
				} finally {
					for (const eventId of claimed) this.relaying.delete(eventId);
				}
			},

			publishDurable(this: any, entry: OutboxEntry) {
				if (settings().events.natsUrl) {
					// Not connected yet: the entry stays in the outbox for the relay's next round.
					if (!this.jetstreamReady) throw new Error("JetStream is not connected yet");
					return this.jetstream
						.publish(entry.name, entry.payload, entry.eventId)
						.then(() => countDomainEvent(this.broker, entry.name, entry.payload));
				}
				// In-process: Moleculer delivers to one instance of each consuming service.
				return this.broker.emit(entry.name, entry.payload);
			},

			/** Embedded default: run the handler detached, with retries and a dead-letter log. */
			receiveInProcess(this: any, name: string, ctx: Context<any>) {
				const cfg = settings().events;
				const run = async () => {
					for (let attempt = 1; ; attempt++) {
						try {
							await this.handleOnce(name, ctx);
							return;
						} catch (err) {
							const message = (err as Error).message;
							const deadLetter = (why: string) => {
								this.inProcessDeadLetters++;
								this.announceDeadLetter({
									service: this.name,
									event: name,
									error: message,
									attempts: attempt
								});
								this.logger.error(
									`DEAD LETTER: ${name} ${ctx.params?.eventId} ${why} in ${this.name}: ${message}`
								);
							};
							if (attempt >= cfg.maxAttempts)
								return deadLetter(`failed ${attempt} times`);
							this.logger.warn(
								`Event ${name} ${ctx.params?.eventId} failed in ${this.name} (attempt ${attempt}/${cfg.maxAttempts}): ${message}`
							);
							// A stopping node retries no more: its stop must not wait out a backoff
							// of up to a minute (SHUTDOWN_TIMEOUT would kill it first).
							await this.backoff(backoffDelay(attempt, cfg.backoffMs));
							if (this.durableStopping)
								return deadLetter(
									`failed ${attempt} times and was not retried: the node stopped`
								);
						}
					}
				};
				// From the event loop, like a delivery over NATS (see platform/messaging/fair-scheduling.ts).
				const work = nextTurn().then(run);
				this.durableInflight.add(work);
				this.inProcessPending.set(name, (this.inProcessPending.get(name) ?? 0) + 1);
				void work.finally(() => {
					this.durableInflight.delete(work);
					this.inProcessPending.set(name, this.inProcessPending.get(name) - 1);
				});
			},

			/** Wait before a retry; a stopping node wakes every waiting retry at once. */
			backoff(this: any, ms: number): Promise<void> {
				if (this.durableStopping) return Promise.resolve();
				return new Promise<void>(resolve => {
					const wake = () => {
						clearTimeout(timer);
						this.retryWakers.delete(wake);
						resolve();
					};
					const timer = setTimeout(wake, ms);
					timer.unref();
					this.retryWakers.add(wake);
				});
			},

			/**
			 * Forget the ids of events handled longer ago than EVENTS_INBOX_RETENTION_MS (7 days):
			 * far beyond any redelivery (JetStream's ack wait and attempts, an outbox relayed again
			 * after a crash), and every handler is idempotent by itself besides. Without it the
			 * inbox grew by an entry per event for ever. Resolves to the number removed.
			 */
			async pruneInbox(this: any): Promise<number> {
				const inbox: Store | undefined = this.stores?.inbox;
				if (!inbox) return 0;
				const cutoff = new Date(Date.now() - settings().events.inboxRetentionMs);
				return inbox.removeMany({ at: { $lt: cutoff.toISOString() } });
			},

			/**
			 * Handle an event unless this service handled its id before; then remember the id (not
			 * for a handler declared idempotent, whose own data decides).
			 */
			async handleOnce(this: any, name: string, ctx: Context<any>) {
				const { handler, idempotent }: DurableHandler = this.schema.$durableEvents[name];
				const eventId = ctx.params?.eventId;
				const inbox: Store | undefined = idempotent ? undefined : this.stores?.inbox;
				const key = `${name}:${eventId}`;
				if (inbox && eventId && (await inbox.findOne({ key }))) return;
				await handler.call(this, ctx);
				if (inbox && eventId)
					await inbox.insert({ key, at: nowIso() }).catch((err: unknown) => {
						if (!isDuplicateKeyError(err)) throw err;
					});
			}
		}
	};
}
