/**
 * Payments' write-ahead operation protocol: a capture, void or refund is written on the payment as
 * its pending operation first (a lease), then asked of the processor under an idempotency key,
 * then recorded with its event in one update. A crash or a processor failure in between leaves the
 * operation; the next call for the payment, or the recovery sweep (payments.recovery.ts), takes it
 * over once its lease has run out and finishes it under the same key. Methods of the payments
 * service.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { nodeIsOut } from "../../platform/messaging/liveness";
import { busy, processorUnavailable } from "./payment-errors";
import type { Lease, PaymentDoc, PendingOperation } from "./payment-state";
import type { PaymentsThis } from "./payments.service";

export const OperationMethods = {
	/** A lease for a change this call is about to make. */
	newLease(this: PaymentsThis): Lease {
		return {
			lockedUntil: Date.now() + this.settings.pendingLeaseMs,
			lockedBy: this.broker.nodeID
		};
	},

	/**
	 * Whether a waiting call may take a change over: its lease ran out, or (at every tenth look,
	 * asked of nats-server) the node holding it is gone or answers no ping within 1 s (frozen:
	 * its callers' requests come here meanwhile). Taking over from a node that was merely slow is
	 * safe: the processor answers a repeated idempotency key as before, and records are conditional.
	 */
	async leaseOver(
		this: PaymentsThis,
		lease: { lockedUntil: number; lockedBy?: string },
		look: number
	): Promise<boolean> {
		return (
			lease.lockedUntil <= Date.now() ||
			(look % 10 === 0 && (await nodeIsOut(this.broker, lease.lockedBy)))
		);
	},

	/**
	 * The payment once no change is being made to it: waits for one in progress (up to
	 * pendingWaitMs), finishes one whose caller died or froze (its lease ran out, or its node is
	 * gone or silent) or whose processor call failed.
	 */
	async settledPayment(this: PaymentsThis, orderId: string): Promise<PaymentDoc | null> {
		const deadline = Date.now() + this.settings.pendingWaitMs;
		for (let i = 0; ; i++) {
			const doc = await this.findByOrder(orderId);
			const op = doc?.operation;
			if (!doc || !op) return doc;
			if (await this.leaseOver(op, i)) await this.resumeOperation(doc);
			else if (Date.now() >= deadline)
				throw busy(
					"The payment of this order is being changed; try again shortly",
					orderId
				);
			else await sleep(25);
		}
	},

	/**
	 * Write the operation on the payment as read (same status and refunded total, no other
	 * operation), then make it: the payment it led to, or null when the payment changed
	 * first.
	 */
	operate(
		this: PaymentsThis,
		doc: PaymentDoc,
		operation: Omit<PendingOperation, "lockedUntil">
	): Promise<PaymentDoc | null> {
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
	async resumeOperation(this: PaymentsThis, doc: PaymentDoc): Promise<boolean> {
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
	): Promise<PaymentDoc | null> {
		const op: PendingOperation = { ...operation, ...this.newLease() };
		const claimed = await this.writeOperation(query, op);
		return claimed ? this.completeOperation(claimed, op) : null;
	},

	/**
	 * Ask the processor (under the operation's idempotency key), then record the outcome, its
	 * history entry and its event in one update. When the processor fails, whether it made
	 * the change is unknown: the operation stays, released at once, and the next call for
	 * this payment (or the recovery sweep) asks again under the same key.
	 */
	async completeOperation(
		this: PaymentsThis,
		doc: PaymentDoc,
		op: PendingOperation
	): Promise<PaymentDoc | null> {
		try {
			const authorizationId = doc.authorizationId!;
			if (op.kind === "capture")
				await this.processor.capture(authorizationId, doc.amountCents, op.key);
			else if (op.kind === "void") await this.processor.void(authorizationId, op.key);
			else await this.processor.refund(authorizationId, op.refund!.amountCents, op.key);
		} catch (err) {
			await this.releaseOperation(doc.orderId, op.key);
			throw this.processorFailed(op.kind, doc.orderId, err);
		}
		const settled = await this.recordOperation(doc, op);
		return settled ?? this.settledPayment(doc.orderId); // null: recorded by another call
	},

	/** A processor failure: logged by kind only (its details may echo the request). */
	processorFailed(this: PaymentsThis, operation: string, orderId: string, err: unknown): Error {
		this.logger.warn(
			`Order ${orderId}: the payment processor failed to ${operation} (${(err as Error)?.name})`
		);
		return processorUnavailable(orderId);
	}
};
