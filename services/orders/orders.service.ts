/**
 * orders: create orders, run their lifecycle, track them. Public routes: services/api/routes.ts.
 *
 * Placing an order prices it from inventory (never from the client) and runs the placement saga
 * (order-saga.ts): reserve stock -> authorize -> capture -> commit. Any failing step compensates
 * the ones before it. The lifecycle lives in order-state.ts.
 */
import { ORDER_STATUSES, type OrderStatus } from "../../contracts/statuses";
import { setTimeout as sleep } from "node:timers/promises";
import { Errors, type Context, type Service, type ServiceSchema } from "moleculer";
import { DbMixin, isDuplicateKeyError, type DbMethods } from "../../platform/persistence/db.mixin";
import { nowIso } from "../../platform/runtime/clock";
import { ErrorTypes, clientError, conflict, notFound } from "../../contracts/errors";
import { IdParam, PageParams, secretParam, textParam } from "../../contracts/params";
import type { DomainEvent, DomainEventName } from "../../contracts/events";
import { settings } from "../../platform/runtime/settings";
import { startSweep } from "../../platform/runtime/sweep";
import {
	DurableEvents,
	INBOX_INDEXES,
	type DurableEventsMethods
} from "../../platform/messaging/durable-events.mixin";
import type { AuthMeta, AuthUser } from "../../types/moleculer";
import {
	canTransition,
	isKeyExpired,
	orderEvent,
	owing,
	priceOrder,
	requestFingerprint,
	toOrder,
	type CatalogProduct,
	type HistoryEntry,
	type OrderDoc,
	type PendingAction,
	type RequestedItem
} from "./order-state";
import {
	compensate,
	recoveryPlan,
	runPlacementSaga,
	type Compensation,
	type SagaSteps
} from "./order-saga";

const OrderItemParams = {
	type: "object",
	strict: "remove",
	props: {
		productId: IdParam,
		quantity: { type: "number", integer: true, min: 1, max: 1000 }
	}
} as const;

const PaymentParams = {
	type: "object",
	strict: "remove",
	props: {
		// Format and Luhn are checked by payments (422 INVALID_CARD); never echo the value here.
		cardNumber: secretParam(
			"cardNumber",
			23,
			v => /^[0-9 -]{12,23}$/.test(v),
			"The '{field}' field must be a card number."
		),
		expMonth: { type: "number", integer: true, min: 1, max: 12 },
		expYear: { type: "number", integer: true, min: 2000, max: 2100 },
		cvc: secretParam(
			"cvc",
			4,
			v => /^[0-9]{3,4}$/.test(v),
			"The '{field}' field must be 3 or 4 digits."
		)
	}
} as const;

interface PaymentInput {
	cardNumber: string;
	expMonth: number;
	expYear: number;
	cvc: string;
}

interface CreateParams {
	items: RequestedItem[];
	payment: PaymentInput;
}

interface OrdersSettings {
	stuckAfterMs: number;
	recoveryIntervalMs: number;
}

type OrdersThis = Service<OrdersSettings> & DbMethods & DurableEventsMethods & OrdersVars;
interface OrdersVars {
	adapter: any;
	recoveryTimer?: NodeJS.Timeout;
	placeOrder(ctx: Context<CreateParams, AuthMeta>): Promise<ReturnType<typeof toOrder>>;
	findOwned(id: string, user: AuthUser | undefined): Promise<OrderDoc>;
	findById(id: string): Promise<OrderDoc | null>;
	transition(
		order: OrderDoc,
		to: OrderStatus,
		extra?: Record<string, unknown>,
		event?: OrderEventSpec
	): Promise<OrderDoc | null>;
	sagaSteps(order: OrderDoc, card: PaymentInput | null, ctx?: Context): SagaSteps;
	compensateOwed(order: OrderDoc, actions: PendingAction[]): Promise<PendingAction[]>;
	idempotencyTimer?: NodeJS.Timeout;
	forgetIdempotencyKeys(): Promise<number>;
	recover(): Promise<void>;
	replay(existing: OrderDoc, fingerprint: string): Promise<ReturnType<typeof toOrder>>;
}

/** The event a transition records with it: its name and fields beyond the order's own. */
interface OrderEventSpec {
	name: DomainEventName;
	extra?: Record<string, unknown>;
}

const REJECTION_STATUS: Record<string, number> = {
	OUT_OF_STOCK: 409,
	CARD_DECLINED: 402,
	INSUFFICIENT_FUNDS: 402,
	INVALID_CARD: 422
};

const OrdersService = {
	name: "orders",
	mixins: [
		DbMixin({
			indexes: [
				{ field: "userId" },
				// Conditional transitions name the id and the status: SQL alone decides them.
				{ field: "status" },
				{ field: "idempotencyKey", unique: true, sparse: true },
				// Each set only while an order needs a sweep, so the sweeps read those alone.
				{ field: "owedSince", sparse: true },
				{ field: "saga.updatedAt", sparse: true }
			],
			stores: { inbox: INBOX_INDEXES }
		}),
		// Order events leave through the order document's outbox.
		DurableEvents({ outbox: ["adapter"] })
	],

	settings: {
		/** A saga whose last step is older than this is resumed or compensated by the sweep. */
		stuckAfterMs: settings().orders.stuckAfterMs,
		recoveryIntervalMs: settings().orders.recoveryIntervalMs
	},

	actions: {
		/** For the operator console: orders by status, sagas running, compensations owed. */
		opsStats: {
			visibility: "public",
			params: {},
			async handler(this: OrdersThis) {
				const count = (query: Record<string, unknown>) => this.adapter.count({ query });
				const byStatus: Record<string, number> = {};
				for (const status of ORDER_STATUSES) byStatus[status] = await count({ status });
				return {
					byStatus,
					sagasInFlight: await count({ "saga.updatedAt": { $gt: "" } }),
					compensationsOwed: await count({ owedSince: { $gt: "" } })
				};
			}
		},

		/** Place an order: price it, reserve, authorize, capture, commit. */
		create: {
			auth: "required",
			params: {
				items: { type: "array", min: 1, max: 50, items: OrderItemParams },
				payment: PaymentParams
			},
			async handler(this: OrdersThis, ctx: Context<CreateParams, AuthMeta>) {
				return this.placeOrder(ctx);
			}
		},

		/** Own orders; admins see everyone's, filtered by status or user. */
		list: {
			auth: "required",
			params: {
				...PageParams,
				status: { type: "enum", values: [...ORDER_STATUSES], optional: true },
				userId: { ...IdParam, optional: true }
			},
			async handler(
				this: OrdersThis,
				ctx: Context<
					{ page: number; pageSize: number; status?: OrderStatus; userId?: string },
					AuthMeta
				>
			) {
				const { page, pageSize, status, userId } = ctx.params;
				const user = ctx.meta.user!;
				const query: Record<string, unknown> = {};
				if (user.role !== "admin") query.userId = user.id;
				else if (userId) query.userId = userId;
				if (status) query.status = status;
				return this.findPage(
					this.adapter,
					query,
					{ page, pageSize, sort: ["-createdAt"] },
					toOrder
				);
			}
		},

		/** One order: its owner's or any for an admin; someone else's is a 404. */
		get: {
			auth: "required",
			params: { id: IdParam },
			async handler(this: OrdersThis, ctx: Context<{ id: string }, AuthMeta>) {
				return toOrder(await this.findOwned(ctx.params.id, ctx.meta.user));
			}
		},

		/** Cancel before shipping: the payment is refunded and the stock returned. */
		cancel: {
			auth: "required",
			params: {
				id: IdParam,
				reason: { ...textParam({ max: 200 }), optional: true }
			},
			async handler(
				this: OrdersThis,
				ctx: Context<{ id: string; reason?: string }, AuthMeta>
			) {
				const order = await this.findOwned(ctx.params.id, ctx.meta.user);
				if (!canTransition(order.status, "cancelled"))
					throw conflict(
						`An order that is ${order.status} cannot be cancelled`,
						ErrorTypes.INVALID_TRANSITION,
						{
							status: order.status
						}
					);
				// The shipment first: once inventory holds it back no admin can send it, and when
				// it has left already the order is not cancelled (its shipment.shipped event may
				// still be on its way here). Without inventory the answer is 503: whether the
				// parcel left cannot be known.
				await ctx
					.call("inventory.cancelShipment", {
						orderId: String(order._id),
						userId: order.userId
					})
					.catch((err: { type?: string; data?: { status?: string } }) => {
						// (A shipment that kept changing under the call is inventory's own 409.)
						if (err.type !== ErrorTypes.INVALID_TRANSITION || !err.data?.status)
							throw err;
						throw conflict(
							"The order has shipped; it can no longer be cancelled",
							ErrorTypes.INVALID_TRANSITION,
							{ status: order.status, shipment: err.data?.status }
						);
					});
				const owed: PendingAction[] = ["refund", "restock"];
				const cancelled = await this.transition(
					order,
					"cancelled",
					{
						reason: ctx.params.reason ?? "Cancelled by request",
						...owing(owed, nowIso())
					},
					{ name: "order.cancelled" }
				);
				if (!cancelled)
					throw conflict(
						"The order changed meanwhile; it can no longer be cancelled",
						ErrorTypes.INVALID_TRANSITION
					);
				const left = await this.compensateOwed(cancelled, owed);
				const doc = await this.updateOne(
					this.adapter,
					{ _id: cancelled._id },
					{ $set: owing(left, nowIso()) }
				);
				return toOrder(this.toJSON(this.adapter, doc));
			}
		},

		/** Timeline of every status with its time, plus the shipment. */
		tracking: {
			auth: "required",
			params: { id: IdParam },
			async handler(this: OrdersThis, ctx: Context<{ id: string }, AuthMeta>) {
				const order = await this.findOwned(ctx.params.id, ctx.meta.user);
				let shipment = null;
				let shipmentUnavailable = false;
				try {
					shipment = await ctx.call("inventory.shipmentForOrder", {
						orderId: String(order._id)
					});
				} catch {
					shipmentUnavailable = true; // degrade: the timeline is still ours to tell
				}
				return {
					orderId: String(order._id),
					status: order.status,
					timeline: order.history,
					shipment,
					...(shipmentUnavailable ? { shipmentUnavailable } : {})
				};
			}
		},

		/** Internal: re-run the recovery sweep now (operators, tests). */
		recover: {
			visibility: "public",
			async handler(this: OrdersThis) {
				await this.recover();
				return { ok: true };
			}
		}
	},

	events: {
		"shipment.shipped": {
			params: { orderId: IdParam },
			async handler(this: OrdersThis, ctx: Context<DomainEvent<"shipment.shipped">>) {
				const order = await this.findById(ctx.params.orderId);
				if (!order || !canTransition(order.status, "shipped")) return;
				await this.transition(order, "shipped", undefined, {
					name: "order.shipped",
					extra: {
						carrier: ctx.params.carrier,
						trackingNumber: ctx.params.trackingNumber
					}
				});
			}
		},
		"shipment.delivered": {
			params: { orderId: IdParam },
			async handler(this: OrdersThis, ctx: Context<DomainEvent<"shipment.delivered">>) {
				const order = await this.findById(ctx.params.orderId);
				if (!order || !canTransition(order.status, "delivered")) return;
				await this.transition(order, "delivered", undefined, { name: "order.delivered" });
			}
		}
	},

	methods: {
		async placeOrder(this: OrdersThis, ctx: Context<CreateParams, AuthMeta>) {
			const user = ctx.meta.user!;
			const fingerprint = requestFingerprint(ctx.params.items);
			const idempotencyKey = ctx.meta.idempotencyKey
				? `${user.id}:${ctx.meta.idempotencyKey}`
				: undefined;
			if (idempotencyKey) {
				const existing = await this.adapter.findOne({ idempotencyKey });
				if (existing) {
					const order: OrderDoc = this.toJSON(this.adapter, existing);
					// A key is remembered for IDEMPOTENCY_KEY_TTL_MS, to the millisecond: an older
					// one is let go here (the sweep lets go of the others) and the request is new.
					if (!isKeyExpired(order, Date.now(), settings().idempotencyKeyTtlMs))
						return this.replay(order, fingerprint);
					await this.updateOne(
						this.adapter,
						{ _id: existing._id, idempotencyKey },
						{ $unset: { idempotencyKey: true } }
					);
				}
			}

			// Price from the catalog, never from the client.
			const ids = [...new Set(ctx.params.items.map(i => i.productId))];
			const catalog = await ctx.call<CatalogProduct[], { ids: string[] }>(
				"inventory.getProducts",
				{ ids }
			);
			const priced = priceOrder(ctx.params.items, catalog);
			if (!priced.ok) {
				if (priced.reason === "PRODUCT_NOT_FOUND")
					throw clientError(
						"Some products do not exist or are not for sale",
						422,
						ErrorTypes.PRODUCT_NOT_FOUND,
						{
							products: priced.productIds
						}
					);
				throw clientError(
					"All products of one order must share a currency",
					422,
					ErrorTypes.CURRENCY_MISMATCH,
					{
						currencies: priced.currencies
					}
				);
			}

			const createdAt = nowIso();
			const draft = {
				userId: user.id,
				status: "pending" as const,
				items: priced.items,
				totalCents: priced.totalCents,
				currency: priced.currency
			};
			let order: OrderDoc;
			try {
				order = this.toJSON(
					this.adapter,
					// order.created is written with the order itself, and relayed together with
					// the saga's outcome (one outbox write for both; no service waits for it).
					await this.insertWithEvents(
						"adapter",
						_id => ({
							doc: {
								...draft,
								fingerprint,
								...(idempotencyKey ? { idempotencyKey } : {}),
								saga: { step: "reserve", updatedAt: createdAt },
								pendingActions: [],
								history: [{ status: "pending", at: createdAt }],
								createdAt,
								updatedAt: createdAt
							},
							events: [
								this.outboxEntry(
									"order.created",
									orderEvent({ ...draft, _id } as OrderDoc)
								)
							]
						}),
						"later"
					)
				);
			} catch (err) {
				// The same key arrived twice at once: answer like the first one.
				if (idempotencyKey && isDuplicateKeyError(err))
					return this.replay(
						this.toJSON(this.adapter, await this.adapter.findOne({ idempotencyKey })),
						fingerprint
					);
				throw err;
			}

			const outcome = await runPlacementSaga(this.sagaSteps(order, ctx.params.payment, ctx));

			if (outcome.ok) {
				const card = outcome.payment as { brand?: string; last4?: string } | undefined;
				const confirmed = await this.transition(
					order,
					"confirmed",
					{
						payment: { brand: card?.brand, last4: card?.last4 },
						saga: { step: "done" }
					},
					{ name: "order.confirmed" }
				);
				// Settled meanwhile by the recovery sweep (the saga outlived ORDER_STUCK_AFTER_MS):
				// answer with what the sweep decided.
				if (!confirmed)
					return this.replay(
						(await this.findById(String(order._id))) ?? order,
						fingerprint
					);
				ctx.meta.$statusCode = 201;
				ctx.meta.$location = `/api/orders/${String(order._id)}`;
				return toOrder(confirmed);
			}

			const { error } = outcome;
			const business = REJECTION_STATUS[error.type] !== undefined;
			const reason = business ? error.type : ErrorTypes.SERVICE_UNAVAILABLE;
			await this.transition(
				order,
				"rejected",
				{
					reason,
					saga: { step: "done" },
					...owing(outcome.pendingCompensations, nowIso())
				},
				{ name: "order.rejected" }
			);
			throw rejectionError(String(order._id), error);
		},

		/** Answer a repeated Idempotency-Key with the first request's outcome. */
		async replay(this: OrdersThis, existing: OrderDoc, fingerprint: string) {
			if (existing.fingerprint !== fingerprint)
				throw conflict(
					"This Idempotency-Key was used for a different order",
					ErrorTypes.IDEMPOTENCY_CONFLICT
				);
			let order = existing;
			// The first request is still running: wait for its outcome (bounded).
			for (let i = 0; i < 100 && order.status === "pending"; i++) {
				await sleep(100);
				order = (await this.findById(String(existing._id))) ?? order;
			}
			if (order.status === "pending")
				throw conflict(
					"An order with this Idempotency-Key is still being placed",
					ErrorTypes.IDEMPOTENCY_CONFLICT,
					{
						orderId: String(order._id)
					}
				);
			if (order.status === "rejected")
				throw rejectionError(String(order._id), {
					message: `Order was rejected: ${order.reason}`,
					code: REJECTION_STATUS[order.reason ?? ""] ?? 503,
					type: order.reason ?? ErrorTypes.SERVICE_UNAVAILABLE
				});
			return toOrder(order);
		},

		/** The saga's steps for one order, each idempotent per orderId on the other side. */
		sagaSteps(
			this: OrdersThis,
			order: OrderDoc,
			card: PaymentInput | null,
			ctx?: Context
		): SagaSteps {
			const orderId = String(order._id);
			// Through the request's context when there is one, so tracing and request ids follow.
			const call = (action: string, params: Record<string, unknown>) =>
				ctx ? ctx.call(action, params) : this.broker.call(action, params);
			return {
				reserve: () =>
					call("inventory.reserve", {
						orderId,
						items: order.items.map(i => ({
							productId: i.productId,
							quantity: i.quantity
						}))
					}),
				authorize: () => {
					if (!card)
						throw new Errors.MoleculerError(
							"Card details are gone after a restart",
							410,
							"SAGA_ABORTED"
						);
					return call("payments.authorize", {
						orderId,
						userId: order.userId,
						amountCents: order.totalCents,
						currency: order.currency,
						card: {
							number: card.cardNumber,
							expMonth: card.expMonth,
							expYear: card.expYear,
							cvc: card.cvc
						}
					});
				},
				capture: () => call("payments.capture", { orderId }),
				commit: () => call("inventory.commit", { orderId }),
				release: async () => {
					try {
						await call("inventory.release", { orderId });
					} catch (err) {
						// Committed meanwhile (a resumed saga got further): give the units back.
						if ((err as { type?: string }).type !== ErrorTypes.INVALID_TRANSITION)
							throw err;
						await call("inventory.restock", { orderId });
					}
				},
				cancelPayment: async () => {
					try {
						await call("payments.void", { orderId });
					} catch (err) {
						// Already captured: give the money back instead.
						if ((err as { type?: string }).type !== ErrorTypes.PAYMENT_STATE) throw err;
						await call("payments.refund", { orderId, refundId: "saga" });
					}
				},
				onStep: async step => {
					// Only the step where recovery changes its mind is written (see recover()):
					// before capture it compensates, from capture on it resumes. The insert wrote
					// "reserve"; one write per order instead of four.
					if (step === "capture")
						await this.adapter.updateMany(
							{ _id: order._id },
							{ $set: { saga: { step, updatedAt: nowIso() }, updatedAt: nowIso() } }
						);
				}
			};
		},

		/** Run owed compensations; returns the ones still owed. */
		async compensateOwed(this: OrdersThis, order: OrderDoc, actions: PendingAction[]) {
			const orderId = String(order._id);
			const steps = this.sagaSteps(order, null);
			const left: PendingAction[] = [];
			for (const action of actions) {
				try {
					if (action === "refund")
						await this.broker.call("payments.refund", { orderId, refundId: "cancel" });
					else if (action === "restock")
						await this.broker.call("inventory.restock", { orderId });
					else left.push(...(await compensate(steps, [action])));
				} catch (err) {
					this.logger.warn(
						`Order ${orderId}: '${action}' failed, will retry:`,
						(err as Error).message
					);
					left.push(action);
				}
			}
			return left;
		},

		/**
		 * Recovery sweep: retry owed compensations, and finish sagas whose process died mid-way.
		 * An order stuck before capture is compensated and rejected (the card is not kept); one
		 * stuck at capture or commit is resumed, since the customer's payment is authorized.
		 */
		async recover(this: OrdersThis) {
			const owingOrders = await this.adapter.find({
				query: { owedSince: { $gt: "" } },
				limit: 100
			});
			for (const raw of owingOrders) {
				const order: OrderDoc = this.toJSON(this.adapter, raw);
				if (!order.pendingActions?.length) continue;
				const left = await this.compensateOwed(order, order.pendingActions);
				await this.adapter.updateMany({ _id: order._id }, { $set: owing(left, nowIso()) });
			}

			const cutoff = new Date(Date.now() - this.settings.stuckAfterMs).toISOString();
			const stuck = await this.adapter.find({
				query: { "saga.updatedAt": { $lt: cutoff }, status: "pending" },
				limit: 100
			});
			for (const raw of stuck) {
				const order: OrderDoc = this.toJSON(this.adapter, raw);
				const steps = this.sagaSteps(order, null);
				const plan = recoveryPlan(order.saga.step);
				let left: Compensation[];
				if ("resumeFrom" in plan) {
					const outcome = await runPlacementSaga(steps, plan.resumeFrom);
					if (outcome.ok) {
						const payment = await this.broker.call<any, { orderId: string }>(
							"payments.forOrder",
							{ orderId: String(order._id) }
						);
						await this.transition(
							order,
							"confirmed",
							{
								payment: { brand: payment?.brand, last4: payment?.last4 },
								saga: { step: "done" }
							},
							{ name: "order.confirmed" }
						);
						continue;
					}
					this.logger.warn(
						`Order ${String(order._id)}: resuming failed at ${outcome.failedStep}, compensated:`,
						outcome.error.message
					);
					left = outcome.pendingCompensations;
				} else left = await compensate(steps, plan.compensate);
				await this.transition(
					order,
					"rejected",
					{
						reason: "SAGA_ABORTED",
						saga: { step: "done" },
						...owing(left, nowIso())
					},
					{ name: "order.rejected" }
				);
			}
		},

		/**
		 * Let go of the Idempotency-Keys older than IDEMPOTENCY_KEY_TTL_MS (the unique index holds
		 * only the keys of the window). Reads through the sparse index on the key, so only orders
		 * that still have one.
		 */
		async forgetIdempotencyKeys(this: OrdersThis) {
			const cutoff = new Date(Date.now() - settings().idempotencyKeyTtlMs).toISOString();
			return this.adapter.updateMany(
				{ idempotencyKey: { $gt: "" }, createdAt: { $lt: cutoff } },
				{ $unset: { idempotencyKey: true } }
			);
		},

		async findById(this: OrdersThis, id: string) {
			const doc = await this.adapter.findById(id).catch(() => null);
			return doc ? this.toJSON(this.adapter, doc) : null;
		},

		async findOwned(this: OrdersThis, id: string, user: AuthUser | undefined) {
			const order = await this.findById(id);
			if (!order || !user || (user.role !== "admin" && order.userId !== user.id))
				throw notFound("Order not found", ErrorTypes.ORDER_NOT_FOUND);
			return order;
		},

		/** Atomic, checked transition: null when the order is no longer in the expected state. */
		async transition(
			this: OrdersThis,
			order: OrderDoc,
			to: OrderStatus,
			extra: Record<string, unknown> = {},
			event?: OrderEventSpec
		) {
			if (!canTransition(order.status, to))
				throw conflict(
					`Cannot go from ${order.status} to ${to}`,
					ErrorTypes.INVALID_TRANSITION
				);
			const at = nowIso();
			const entry: HistoryEntry = {
				status: to,
				at,
				...(extra.reason ? { reason: String(extra.reason) } : {})
			};
			// The event is written in the same atomic update as the change: they cannot part ways.
			const outboxEntry =
				event &&
				this.outboxEntry(
					event.name,
					orderEvent({ ...order, ...extra, status: to } as OrderDoc, event.extra)
				);
			const doc = await this.updateWithEvent(
				"adapter",
				{ _id: order._id, status: order.status },
				{ $set: { ...extra, status: to, updatedAt: at }, $push: { history: entry } },
				outboxEntry
			);
			return doc ? this.toJSON<OrderDoc>(this.adapter, doc) : null;
		}
	},

	started(this: OrdersThis) {
		const ttl = settings().idempotencyKeyTtlMs;
		this.idempotencyTimer = startSweep(
			this.logger,
			"Idempotency key sweep",
			Math.max(1000, Math.min(Math.floor(ttl / 4), 3_600_000)),
			() => this.forgetIdempotencyKeys()
		);
		this.recoveryTimer = startSweep(
			this.logger,
			"Recovery sweep",
			this.settings.recoveryIntervalMs,
			() => this.recover()
		);
	},

	stopped(this: OrdersThis) {
		clearInterval(this.recoveryTimer);
		clearInterval(this.idempotencyTimer);
	}
} satisfies ServiceSchema<any, any, any, OrdersThis>;

/** The client's view of a rejected order: the step's own error type and status, plus the order id. */
function rejectionError(
	orderId: string,
	error: { message: string; code: number; type: string; data?: unknown }
) {
	const status = REJECTION_STATUS[error.type];
	if (status === undefined)
		return new Errors.MoleculerError(
			"A service needed to place the order is not available",
			503,
			ErrorTypes.SERVICE_UNAVAILABLE,
			{
				orderId
			}
		);
	const extra =
		error.type === "INVALID_CARD"
			? { fields: Array.isArray(error.data) ? error.data : [] }
			: error.data && typeof error.data === "object" && !Array.isArray(error.data)
				? error.data
				: {};
	return clientError(error.message, status, error.type as never, { ...extra, orderId });
}

export default OrdersService;
