/**
 * Payments' write-ahead operation protocol: a capture, void or refund is written on the payment as
 * its pending operation first (a lease), then asked of the processor under an idempotency key,
 * then recorded with its event in one update. A crash or a processor failure in between leaves the
 * operation; the next call for the payment, or the recovery sweep, takes it over once its lease
 * has run out and finishes it under the same key. Methods of the payments service.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { Errors } from "moleculer";
import { nowIso } from "../../platform/runtime/clock";
import { ErrorTypes } from "../../contracts/errors";
import {
	operationOutcome,
	paymentEvent,
	type PaymentDoc,
	type PendingOperation,
	type RefundEntry
} from "./payment-state";
import type { PaymentsThis } from "./payments.service";

export const OperationMethods = {
	/**
	 * The payment once no change is being made to it: waits for one in progress (up to
	 * pendingWaitMs), finishes one whose caller died or whose processor call failed.
	 */
	async settledPayment(this: PaymentsThis, orderId: string) {
		const deadline = Date.now() + this.settings.pendingWaitMs;
		for (;;) {
			const doc = await this.findByOrder(orderId);
			const op = doc?.operation;
			if (!doc || !op) return doc;
			if (op.lockedUntil <= Date.now()) await this.resumeOperation(doc);
			else if (Date.now() >= deadline)
				throw new Errors.MoleculerRetryableError(
					"The payment of this order is being changed; try again shortly",
					503,
					ErrorTypes.SERVICE_UNAVAILABLE,
					{ orderId }
				);
			else await sleep(25);
		}
	},

	/**
	 * Write the operation on the payment as read (same status and refunded total, no other
	 * operation), then make it: the payment it led to, or null when the payment changed
	 * first.
	 */
	operate(this: PaymentsThis, doc: PaymentDoc, operation: Omit<PendingOperation, "lockedUntil">) {
		return this.claimOperation(
			{
				orderId: doc.orderId,
				status: doc.status,
				refundedCents: doc.refundedCents,
				operation: { $exists: false }
			},
			operation
		);
	},

	/** Take over an operation whose lease ran out, and finish it; false if another call did. */
	async resumeOperation(this: PaymentsThis, doc: PaymentDoc) {
		const left = doc.operation!;
		const query = {
			orderId: doc.orderId,
			"operation.key": left.key,
			"operation.lockedUntil": left.lockedUntil
		};
		if (!(await this.claimOperation(query, left))) return false;
		this.logger.info(`Order ${doc.orderId}: finished a ${left.kind} that a caller left`);
		return true;
	},

	/**
	 * Write the operation with a fresh lease on the payment that matches `query`, then make
	 * it: the payment it led to, or null when no payment matched.
	 */
	async claimOperation(
		this: PaymentsThis,
		query: Record<string, unknown>,
		operation: Omit<PendingOperation, "lockedUntil">
	) {
		const op: PendingOperation = {
			...operation,
			lockedUntil: Date.now() + this.settings.pendingLeaseMs
		};
		const claimed = await this.updateOne(this.adapter, query, { $set: { operation: op } });
		if (!claimed) return null;
		return this.completeOperation(this.toJSON<PaymentDoc>(this.adapter, claimed), op);
	},

	/**
	 * Ask the processor (under the operation's idempotency key), then record the outcome, its
	 * history entry and its event in one update. When the processor fails, whether it made
	 * the change is unknown: the operation stays, released at once, and the next call for
	 * this payment (or the recovery sweep) asks again under the same key.
	 */
	async completeOperation(this: PaymentsThis, doc: PaymentDoc, op: PendingOperation) {
		const { orderId } = doc;
		try {
			const authorizationId = doc.authorizationId!;
			if (op.kind === "capture")
				await this.processor.capture(authorizationId, doc.amountCents, op.key);
			else if (op.kind === "void") await this.processor.void(authorizationId, op.key);
			else await this.processor.refund(authorizationId, op.refund!.amountCents, op.key);
		} catch (err) {
			await this.updateOne(
				this.adapter,
				{ orderId, "operation.key": op.key },
				{ $set: { "operation.lockedUntil": 0 } }
			).catch(() => null);
			throw this.processorFailed(op.kind, orderId, err);
		}

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
				: this.outboxEntry(
						`payment.${outcome.status as "captured" | "voided"}`,
						paymentEvent(after),
						`payment:${doc._id}:${outcome.status}`
					);
		const push: Record<string, unknown> = { history: { status: outcome.status, at } };
		if (op.refund) push.refunds = { ...op.refund, at } satisfies RefundEntry;
		const settled = await this.updateWithEvent(
			"adapter",
			{ orderId, "operation.key": op.key },
			{ $set: { ...outcome, updatedAt: at }, $unset: { operation: true }, $push: push },
			event
		);
		if (!settled) return this.settledPayment(orderId); // recorded by another call
		return this.toJSON<PaymentDoc>(this.adapter, settled);
	},

	/** Recovery sweep: finish the operations that callers left (crash, processor failure). */
	async recoverOperations(this: PaymentsThis) {
		const left = await this.adapter.find({
			query: { "operation.lockedUntil": { $lte: Date.now() } },
			limit: 100
		});
		let finished = 0;
		for (const raw of left) {
			try {
				if (await this.resumeOperation(this.toJSON<PaymentDoc>(this.adapter, raw)))
					finished++;
			} catch (err) {
				this.logger.warn(
					`Order ${raw.orderId}: an unfinished payment change is still failing (${(err as Error).message})`
				);
			}
		}
		return finished;
	},

	/** A processor failure: logged by kind only (its details may echo the request). */
	processorFailed(this: PaymentsThis, operation: string, orderId: string, err: unknown) {
		this.logger.warn(
			`Order ${orderId}: the payment processor failed to ${operation} (${(err as Error)?.name})`
		);
		return new Errors.MoleculerRetryableError(
			"The payment processor is not available. Try again shortly.",
			503,
			ErrorTypes.SERVICE_UNAVAILABLE,
			{ orderId }
		);
	}
};
