/**
 * Authorizing a card: the payment is recorded as pending first (the unique orderId makes a second
 * call for the order a retry of the first), then the processor is asked under the order id as its
 * idempotency key, then the answer is recorded with its event. A repeated call waits for the first
 * one, or takes over a pending payment whose caller died or froze. Methods of the payments service.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { Context } from "moleculer";
import { isDuplicateKeyError } from "../../platform/persistence/db.mixin";
import { nowIso } from "../../platform/runtime/clock";
import { cardProblem, normalizeCardNumber } from "./card-rules";
import { busy, declineError, invalidCard, otherDetails, stateError } from "./payment-errors";
import {
	newPayment,
	operationKey,
	toPayment,
	type Payment,
	type PaymentDoc
} from "./payment-state";
import type { CardDetails } from "./processor";
import type { PaymentsThis } from "./payments.service";

export interface AuthorizeParams {
	orderId: string;
	userId: string;
	amountCents: number;
	currency: string;
	card: CardDetails;
}

/** A repeated authorize: the answer the first one gave. */
function authorizationOutcome(doc: PaymentDoc): Payment {
	if (doc.status === "declined")
		throw declineError(doc.declineCode ?? "CARD_DECLINED", doc.orderId);
	if (doc.status === "voided") throw stateError(doc, "authorized again");
	return toPayment(doc);
}

export const AuthorizationMethods = {
	async authorizePayment(this: PaymentsThis, ctx: Context<AuthorizeParams>): Promise<Payment> {
		const problem = cardProblem(ctx.params.card);
		if (problem) throw invalidCard(problem);
		const number = normalizeCardNumber(ctx.params.card.number)!;
		let pending: PaymentDoc;
		try {
			pending = await this.insertPayment(
				newPayment(ctx.params, number, this.newLease(), nowIso())
			);
		} catch (err) {
			if (isDuplicateKeyError(err)) return this.resumeAuthorization(ctx);
			throw err;
		}
		return this.runAuthorization(pending, ctx);
	},

	/** A repeated authorize: wait for the first one, or take over a pending one it left. */
	async resumeAuthorization(this: PaymentsThis, ctx: Context<AuthorizeParams>): Promise<Payment> {
		const { orderId, userId, amountCents, currency } = ctx.params;
		const deadline = Date.now() + this.settings.pendingWaitMs;
		for (let i = 0; ; i++) {
			const doc = await this.findByOrder(orderId);
			if (doc) {
				if (
					doc.userId !== userId ||
					doc.amountCents !== amountCents ||
					doc.currency !== currency
				)
					throw otherDetails(orderId);
				if (doc.status !== "pending") return authorizationOutcome(doc);
				const lockedUntil = doc.lockedUntil ?? 0;
				if (await this.leaseOver({ lockedUntil, lockedBy: doc.lockedBy }, i)) {
					// Its first caller died, froze or failed: this call finishes the authorization. The
					// processor answers a repeated idempotency key as it did the first time.
					const taken = await this.takeOverPending(orderId, lockedUntil);
					if (taken) return this.runAuthorization(taken, ctx);
					continue;
				}
			}
			if (Date.now() >= deadline)
				throw busy("The payment of this order is still being authorized", orderId);
			await sleep(25);
		}
	},

	/** Ask the processor for a pending payment, and record its answer. */
	async runAuthorization(
		this: PaymentsThis,
		doc: PaymentDoc,
		ctx: Context<AuthorizeParams>
	): Promise<Payment> {
		const { orderId } = doc;
		const { number, expMonth, expYear, cvc } = ctx.params.card;
		let result;
		try {
			result = await this.processor.authorize({
				amountCents: doc.amountCents,
				currency: doc.currency,
				card: { number, expMonth, expYear, cvc },
				idempotencyKey: orderId
			});
		} catch (err) {
			// Release it at once: a retry asks the processor again with the same key.
			await this.releasePending(orderId);
			throw this.processorFailed("authorize", orderId, err);
		}

		// The processor has answered: the outcome and its event are written together.
		if (!result.ok) {
			await this.transition(doc, "declined", { declineCode: result.code }, result.code);
			throw declineError(result.code, orderId);
		}
		const authorized = await this.transition(doc, "authorized", {
			authorizationId: result.authorizationId
		});
		if (authorized) return toPayment(authorized);

		// Settled meanwhile: by another call of the same request (same answer), or by a void,
		// in which case this late authorization must not hold the customer's money.
		const current = (await this.findByOrder(orderId))!;
		if (current.status === "voided")
			await this.processor
				.void(result.authorizationId, operationKey("void", orderId))
				.catch(err => {
					this.logger.warn(
						`Order ${orderId}: voiding a late authorization failed (${(err as Error).name})`
					);
				});
		return authorizationOutcome(current);
	}
};
