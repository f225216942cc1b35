/**
 * The payments database's query and update shapes. Every change is conditional on the state read
 * (a racing change yields null, never a double write), and a change that has an event writes it
 * in the same update (updateWithEvent). Methods of the payments service.
 */
import { PAYMENT_STATUSES, type PaymentStatus } from "../../contracts/statuses";
import type { OutboxEntry } from "../../platform/messaging/durable-events.mixin";
import { ownedBy, type Page } from "../../platform/persistence/db.mixin";
import { nowIso } from "../../platform/runtime/clock";
import type { AuthUser } from "../../types/moleculer";
import { paymentNotFound } from "./payment-errors";
import {
	operationOutcome,
	paymentEvent,
	toPayment,
	type Payment,
	type PaymentDoc,
	type PendingOperation,
	type RefundEntry
} from "./payment-state";
import type { PaymentsThis } from "./payments.service";

/** The statuses a change to which is recorded by transition() (the others by an operation). */
type TransitionStatus = "authorized" | "declined" | "voided";

/** A document as the adapter returned it (or nothing), as a PaymentDoc (or null). */
const stored = (svc: PaymentsThis, raw: unknown): PaymentDoc | null =>
	raw ? svc.toJSON<PaymentDoc>(svc.adapter, raw) : null;

export const PaymentRepository = {
	async findByOrder(this: PaymentsThis, orderId: string): Promise<PaymentDoc | null> {
		return stored(this, await this.adapter.findOne({ orderId }));
	},

	async findPaymentById(this: PaymentsThis, id: string): Promise<PaymentDoc | null> {
		return stored(this, await this.adapter.findById(id).catch(() => null));
	},

	/** The payment `id` if `user` owns it or is an admin; another's is not found, as a missing one. */
	ownPayment(this: PaymentsThis, id: string, user: AuthUser): Promise<PaymentDoc> {
		return this.findOwned<PaymentDoc>(this.adapter, id, user, paymentNotFound);
	},

	/** The caller's payments (an admin's: everyone's), newest first, optionally of one order. */
	paymentPage(
		this: PaymentsThis,
		user: AuthUser,
		{ page, pageSize, orderId }: { page: number; pageSize: number; orderId?: string }
	): Promise<Page<Payment>> {
		const query = ownedBy(user, orderId ? { orderId } : {});
		return this.findPage(
			this.adapter,
			query,
			{ page, pageSize, sort: ["-createdAt"] },
			toPayment
		);
	},

	/** Rejects with a duplicate-key error when the order has a payment already (unique orderId). */
	async insertPayment(this: PaymentsThis, doc: Omit<PaymentDoc, "_id">): Promise<PaymentDoc> {
		return this.toJSON<PaymentDoc>(this.adapter, await this.adapter.insert(doc));
	},

	/**
	 * Take over a pending payment whose lease (`lockedUntil`, as read) ran out or whose holder is
	 * gone; null if another call took it first.
	 */
	async takeOverPending(
		this: PaymentsThis,
		orderId: string,
		lockedUntil: number
	): Promise<PaymentDoc | null> {
		const taken = await this.updateOne(
			this.adapter,
			{ orderId, status: "pending", lockedUntil },
			{ $set: this.newLease() }
		);
		return stored(this, taken);
	},

	/** Release a pending payment's lease at once, so a retry may ask the processor again. */
	async releasePending(this: PaymentsThis, orderId: string): Promise<void> {
		await this.updateOne(
			this.adapter,
			{ orderId, status: "pending" },
			{ $set: { lockedUntil: 0 } }
		).catch(() => null);
	},

	/** The event of a change of `doc` to `status`, one per payment and status. */
	statusEvent(
		this: PaymentsThis,
		doc: PaymentDoc,
		status: TransitionStatus | "captured",
		reason?: string
	): OutboxEntry {
		return this.outboxEntry(
			`payment.${status}`,
			paymentEvent({ ...doc, status }, reason),
			`payment:${doc._id}:${status}`
		);
	},

	/**
	 * Conditional change of `doc` from the status read to `to`, with a history entry and its event
	 * in the same atomic update; the updated payment or null. The event is relayed right after,
	 * but an authorization's, which no service waits for, goes with the capture's or void's that
	 * follows it (or the relay's next round): one outbox emptying per payment instead of two.
	 */
	async transition(
		this: PaymentsThis,
		doc: PaymentDoc,
		to: TransitionStatus,
		set: Record<string, unknown> = {},
		reason?: string
	): Promise<PaymentDoc | null> {
		const at = nowIso();
		const updated = await this.updateWithEvent(
			"adapter",
			{ orderId: doc.orderId, status: doc.status },
			{
				$set: { ...set, status: to, updatedAt: at },
				$unset: { lockedUntil: true, lockedBy: true },
				$push: { history: { status: to, at } }
			},
			this.statusEvent(doc, to, reason),
			to === "authorized" ? "later" : "now"
		);
		return stored(this, updated);
	},

	/** Write `op` on the payment that matches `query`; the payment as written, or null. */
	async writeOperation(
		this: PaymentsThis,
		query: Record<string, unknown>,
		op: PendingOperation
	): Promise<PaymentDoc | null> {
		const claimed = await this.updateOne(this.adapter, query, { $set: { operation: op } });
		return stored(this, claimed);
	},

	/** Release an operation's lease at once: the next call or the sweep asks again. */
	async releaseOperation(this: PaymentsThis, orderId: string, key: string): Promise<void> {
		await this.updateOne(
			this.adapter,
			{ orderId, "operation.key": key },
			{ $set: { "operation.lockedUntil": 0 } }
		).catch(() => null);
	},

	/**
	 * Replace the operation by its outcome: status and amounts, history entry, refund entry and
	 * event in one update. Null when another call recorded it first.
	 */
	async recordOperation(
		this: PaymentsThis,
		doc: PaymentDoc,
		op: PendingOperation
	): Promise<PaymentDoc | null> {
		const at = nowIso();
		const outcome = operationOutcome(doc, op);
		const after: PaymentDoc = { ...doc, ...outcome };
		const event =
			op.kind === "refund"
				? this.outboxEntry(
						"payment.refunded",
						{ ...paymentEvent(after), refundedCents: op.refund!.amountCents },
						`payment:${doc._id}:refund:${op.refund!.refundId}`
					)
				: this.statusEvent(after, outcome.status as "captured" | "voided");
		const push: Record<string, unknown> = { history: { status: outcome.status, at } };
		if (op.refund) push.refunds = { ...op.refund, at } satisfies RefundEntry;
		const settled = await this.updateWithEvent(
			"adapter",
			{ orderId: doc.orderId, "operation.key": op.key },
			{ $set: { ...outcome, updatedAt: at }, $unset: { operation: true }, $push: push },
			event
		);
		return stored(this, settled);
	},

	/** Operations whose lease ran out (crash, processor failure), through the sparse index. */
	async operationsLeft(this: PaymentsThis, limit: number): Promise<PaymentDoc[]> {
		const left = await this.adapter.find({
			query: { "operation.lockedUntil": { $lte: Date.now() } },
			limit
		});
		return left.map(raw => this.toJSON<PaymentDoc>(this.adapter, raw));
	},

	/** Payments by status, and those with an operation under way. */
	async paymentStats(this: PaymentsThis) {
		const count = (query: Record<string, unknown>) => this.adapter.count({ query });
		const byStatus = {} as Record<PaymentStatus, number>;
		for (const status of PAYMENT_STATUSES) byStatus[status] = await count({ status });
		return {
			byStatus,
			pendingOperations: await count({ "operation.lockedUntil": { $gte: 0 } })
		};
	}
};
