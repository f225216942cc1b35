/**
 * Capture, void and refund: each decides on the payment once no other change is in progress
 * (settledPayment), then makes its change through the operation protocol (operations.ts), which
 * is conditional on the state read. A change that loses the race is decided again on the new
 * state. Methods of the payments service.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { refundFits, refundable } from "./card-rules";
import {
	contention,
	paymentNotFound,
	refundExceedsCapture,
	refundIdReused,
	stateError
} from "./payment-errors";
import {
	defaultRefundId,
	operationKey,
	sameRefund,
	shownRefundId,
	toPayment,
	wasCaptured,
	type Payment
} from "./payment-state";
import type { PaymentsThis } from "./payments.service";

/** Conditional updates that lose a race are decided again this many times. */
const MAX_ATTEMPTS = 10;

export interface RefundInput {
	orderId: string;
	amountCents?: number;
	refundId?: string;
}

/** Decide and make a change until it is not lost to a racing one: `attempt` yields null then. */
async function decided<T>(orderId: string, attempt: (n: number) => Promise<T | null>): Promise<T> {
	for (let n = 0; n < MAX_ATTEMPTS; n++) {
		const result = await attempt(n);
		if (result != null) return result;
	}
	throw contention(orderId);
}

export const ChangeMethods = {
	/** Idempotent: a captured payment is answered as it is. */
	async capturePayment(this: PaymentsThis, orderId: string): Promise<Payment> {
		const key = operationKey("capture", orderId);
		// The usual capture finds the payment authorized with no change under way: claimed with
		// no read first. Any other state is read and decided below.
		const claimed = await this.claimOperation(
			{ orderId, status: "authorized", operation: { $exists: false } },
			{ kind: "capture", key }
		);
		if (claimed) return toPayment(claimed);
		return decided(orderId, async () => {
			const doc = await this.settledPayment(orderId);
			if (!doc) throw paymentNotFound();
			if (wasCaptured(doc.status)) return toPayment(doc);
			if (doc.status !== "authorized") throw stateError(doc, "captured");
			const captured = await this.operate(doc, { kind: "capture", key });
			return captured && toPayment(captured);
		});
	},

	/** Safe to call blindly (compensation): no payment, or one voided or declined, is an answer. */
	voidPayment(this: PaymentsThis, orderId: string): Promise<{ orderId: string; status: string }> {
		return decided(orderId, async () => {
			const doc = await this.settledPayment(orderId);
			if (!doc) return { orderId, status: "none" };
			if (doc.status === "voided" || doc.status === "declined")
				return { orderId, status: doc.status };
			if (doc.status !== "authorized" && doc.status !== "pending")
				throw stateError(doc, "voided");
			// A pending one holds nothing yet: it is voided here, and its authorization, when it
			// comes, is voided at the processor then (runAuthorization).
			const voided =
				doc.status === "pending"
					? await this.transition(doc, "voided")
					: await this.operate(doc, { kind: "void", key: operationKey("void", orderId) });
			return voided && { orderId, status: voided.status };
		});
	},

	/**
	 * The refund starts only on the refunded total read, and nothing else changes the payment
	 * while it is made (PendingOperation), so refunds can never add up to more than the
	 * capture.
	 */
	refundOrder(this: PaymentsThis, input: RefundInput): Promise<Payment> {
		const { orderId, amountCents } = input;
		const refundId = defaultRefundId(input.refundId, amountCents);
		return decided(orderId, async attempt => {
			const doc = await this.settledPayment(orderId);
			if (!doc) throw paymentNotFound();
			// The same id again: the same refund is answered as it was; different parameters
			// under one id are a conflict, never silently the first refund's.
			const known = doc.refunds.find(r => r.refundId === refundId);
			if (known) {
				if (sameRefund(known, amountCents)) return toPayment(doc);
				throw refundIdReused(orderId, shownRefundId(refundId));
			}
			if (!wasCaptured(doc.status)) throw stateError(doc, "refunded");

			const left = refundable(doc.capturedCents, doc.refundedCents);
			if (amountCents == null && left === 0) return toPayment(doc); // nothing left
			const amount = amountCents ?? left;
			if (!refundFits(doc.capturedCents, doc.refundedCents, amount))
				throw refundExceedsCapture(doc, left);
			const refunded = await this.operate(doc, {
				kind: "refund",
				key: operationKey("refund", orderId, refundId),
				refund: {
					refundId,
					amountCents: amount,
					...(amountCents == null ? { full: true } : {})
				}
			});
			if (refunded) return toPayment(refunded);
			// Another change came first: decide again on the new total.
			await sleep(Math.floor(Math.random() * 5 * (attempt + 1)));
			return null;
		});
	}
};
