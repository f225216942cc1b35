/**
 * The orders' query and update shapes. A transition is conditional on the status it read and
 * writes its event into the order's outbox in the same update, so a change and its event never
 * part ways. Methods of the orders service.
 */
import type { DomainEventName } from "../../contracts/events";
import { ErrorTypes, conflict, notFound } from "../../contracts/errors";
import { ORDER_STATUSES, type OrderStatus } from "../../contracts/statuses";
import { ownedBy, type Page } from "../../platform/persistence/db.mixin";
import { nowIso } from "../../platform/runtime/clock";
import type { AuthUser } from "../../types/moleculer";
import type { MethodsOf } from "./orders.service";
import type { SagaStep } from "./order-saga";
import {
	canTransition,
	orderEvent,
	owing,
	toOrder,
	type HistoryEntry,
	type OrderDoc,
	type OrderView,
	type PendingAction
} from "./order-state";

/** The event a transition records with it: its name and fields beyond the order's own. */
export interface OrderEventSpec {
	name: DomainEventName;
	extra?: Record<string, unknown>;
}

/** An order as placed, before the saga: what order.created announces. */
type OrderDraft = Pick<OrderDoc, "userId" | "status" | "items" | "totalCents" | "currency">;

export interface OrderRepository {
	/** The order `id`, or null (an id of the wrong shape included). */
	findById(id: string): Promise<OrderDoc | null>;
	/** The caller's order, or any for an admin; another's is a 404 like a missing one. */
	findOrder(id: string, user: AuthUser | undefined): Promise<OrderDoc>;
	/** The caller's orders; an admin's listing is everyone's, filtered by status or user. */
	listOrders(
		user: AuthUser,
		filter: { page: number; pageSize: number; status?: OrderStatus; userId?: string }
	): Promise<Page<OrderView>>;
	/** For the operator console: orders by status, sagas running, compensations owed. */
	orderStats(): Promise<{
		byStatus: Record<string, number>;
		sagasInFlight: number;
		compensationsOwed: number;
	}>;
	/** The order placed under `key` (the caller's id and their Idempotency-Key), or null. */
	findByIdempotencyKey(key: string): Promise<OrderDoc | null>;
	/** Let go of the key of one order, while it still holds that key. */
	forgetIdempotencyKey(order: OrderDoc, key: string): Promise<unknown>;
	/** Let go of every key older than `ttlMs`, through the sparse index on the key. */
	forgetIdempotencyKeys(ttlMs: number): Promise<number>;
	/** Record a new order at the saga's first step, with its order.created event. */
	insertOrder(draft: OrderDraft, fingerprint: string, idempotencyKey?: string): Promise<OrderDoc>;
	/** Record the step a running saga has reached. */
	recordSagaStep(order: OrderDoc, step: SagaStep): Promise<unknown>;
	/**
	 * Make this node the one running the saga of `order`, while it is still pending at the step
	 * and on the node it was read with: the order as claimed, or null when another got there.
	 */
	claimSaga(order: OrderDoc): Promise<OrderDoc | null>;
	/** Record the compensations still owed (none: the order owes nothing any more). */
	recordOwed(order: OrderDoc, owed: PendingAction[]): Promise<OrderDoc>;
	/** Orders owing compensations, through the sparse index on `owedSince`. */
	owingOrders(): Promise<OrderDoc[]>;
	/** Orders whose saga last wrote before `cutoff`, through the sparse index on its time. */
	stuckOrders(cutoff: string): Promise<OrderDoc[]>;
	/** Atomic, checked transition: null when the order is no longer in the expected state. */
	transition(
		order: OrderDoc,
		to: OrderStatus,
		extra?: Record<string, unknown>,
		event?: OrderEventSpec
	): Promise<OrderDoc | null>;
	/** Move the order `orderId` on to `to` if it may go there; a no-op otherwise. */
	advance(orderId: string, to: OrderStatus, event: OrderEventSpec): Promise<void>;
	/** The saga succeeded: confirmed with the card it was paid with (order.confirmed). */
	confirm(
		order: OrderDoc,
		card: { brand?: string; last4?: string } | null | undefined
	): Promise<OrderDoc | null>;
	/** The saga failed: rejected for `reason`, owing what it could not undo (order.rejected). */
	reject(order: OrderDoc, reason: string, owed: PendingAction[]): Promise<OrderDoc | null>;
}

/** Sweeps read at most this many orders a round; the next round takes the rest. */
const SWEEP_BATCH = 100;

/** A running saga as recorded: the step it reached, when, and the node running it. */
const sagaAt = (step: SagaStep | "done", node: string, at: string) => ({
	step,
	updatedAt: at,
	node
});

export const OrderRepositoryMethods = {
	async findById(id) {
		const doc = await this.adapter.findById(id).catch(() => null);
		return doc ? this.toJSON<OrderDoc>(this.adapter, doc) : null;
	},

	findOrder(id, user) {
		return this.findOwned<OrderDoc>(this.adapter, id, user, () =>
			notFound("Order not found", ErrorTypes.ORDER_NOT_FOUND)
		);
	},

	async listOrders(user, { page, pageSize, status, userId }) {
		const query = ownedBy(user, {
			...(userId ? { userId } : {}),
			...(status ? { status } : {})
		});
		return this.findPage(
			this.adapter,
			query,
			{ page, pageSize, sort: ["-createdAt"] },
			toOrder
		);
	},

	async orderStats() {
		const count = (query: Record<string, unknown>) => this.adapter.count({ query });
		const byStatus: Record<string, number> = {};
		for (const status of ORDER_STATUSES) byStatus[status] = await count({ status });
		return {
			byStatus,
			sagasInFlight: await count({ "saga.updatedAt": { $gt: "" } }),
			compensationsOwed: await count({ owedSince: { $gt: "" } })
		};
	},

	async findByIdempotencyKey(key) {
		return this.toJSON<OrderDoc>(
			this.adapter,
			await this.adapter.findOne({ idempotencyKey: key })
		);
	},

	forgetIdempotencyKey(order, key) {
		return this.updateOne(
			this.adapter,
			{ _id: order._id, idempotencyKey: key },
			{ $unset: { idempotencyKey: true } }
		);
	},

	forgetIdempotencyKeys(ttlMs) {
		const cutoff = new Date(Date.now() - ttlMs).toISOString();
		return this.adapter.updateMany(
			{ idempotencyKey: { $gt: "" }, createdAt: { $lt: cutoff } },
			{ $unset: { idempotencyKey: true } }
		);
	},

	async insertOrder(draft, fingerprint, idempotencyKey) {
		const createdAt = nowIso();
		return this.toJSON<OrderDoc>(
			this.adapter,
			// order.created is written with the order itself, and relayed together with the
			// saga's outcome (one outbox write for both; no service waits for it).
			await this.insertWithEvents(
				"adapter",
				_id => ({
					doc: {
						...draft,
						fingerprint,
						...(idempotencyKey ? { idempotencyKey } : {}),
						saga: sagaAt("reserve", this.broker.nodeID, createdAt),
						pendingActions: [],
						history: [{ status: "pending", at: createdAt }],
						createdAt,
						updatedAt: createdAt
					},
					events: [
						this.outboxEntry("order.created", orderEvent({ ...draft, _id } as OrderDoc))
					]
				}),
				"later"
			)
		);
	},

	recordSagaStep(order, step) {
		const at = nowIso();
		const saga = sagaAt(step, this.broker.nodeID, at);
		return this.adapter.updateMany({ _id: order._id }, { $set: { saga, updatedAt: at } });
	},

	async claimSaga(order) {
		const at = nowIso();
		const saga = sagaAt(order.saga.step, this.broker.nodeID, at);
		const doc = await this.updateOne(
			this.adapter,
			{
				_id: order._id,
				status: "pending",
				"saga.step": order.saga.step,
				"saga.node": order.saga.node
			},
			{ $set: { saga, updatedAt: at } }
		);
		return doc ? this.toJSON<OrderDoc>(this.adapter, doc) : null;
	},

	async recordOwed(order, owed) {
		const doc = await this.updateOne(
			this.adapter,
			{ _id: order._id },
			{ $set: owing(owed, nowIso()) }
		);
		return this.toJSON<OrderDoc>(this.adapter, doc);
	},

	async owingOrders() {
		const docs = await this.adapter.find({
			query: { owedSince: { $gt: "" } },
			limit: SWEEP_BATCH
		});
		return docs.map(doc => this.toJSON<OrderDoc>(this.adapter, doc));
	},

	async stuckOrders(cutoff) {
		const docs = await this.adapter.find({
			query: { "saga.updatedAt": { $lt: cutoff }, status: "pending" },
			limit: SWEEP_BATCH
		});
		return docs.map(doc => this.toJSON<OrderDoc>(this.adapter, doc));
	},

	async transition(order, to, extra = {}, event) {
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
	},

	async advance(orderId, to, event) {
		const order = await this.findById(orderId);
		if (!order || !canTransition(order.status, to)) return;
		await this.transition(order, to, undefined, event);
	},

	confirm(order, card) {
		return this.transition(
			order,
			"confirmed",
			{ payment: { brand: card?.brand, last4: card?.last4 }, saga: { step: "done" } },
			{ name: "order.confirmed" }
		);
	},

	reject(order, reason, owed) {
		return this.transition(
			order,
			"rejected",
			{ reason, saga: { step: "done" }, ...owing(owed, nowIso()) },
			{ name: "order.rejected" }
		);
	}
} satisfies MethodsOf<OrderRepository>;
