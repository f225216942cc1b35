/**
 * The errors payments answers with, each with its stable `type` (contracts/errors.ts). Plain
 * constructors: no broker, no I/O.
 */
import { Errors } from "moleculer";
import { ErrorTypes, clientError, conflict, notFound } from "../../contracts/errors";
import type { CardProblem } from "./card-rules";
import type { DeclineCode, PaymentDoc } from "./payment-state";

export function declineError(code: DeclineCode, orderId: string) {
	const message =
		code === "INSUFFICIENT_FUNDS" ? "The card has insufficient funds" : "The card was declined";
	return clientError(message, 402, ErrorTypes[code], { orderId });
}

export function invalidCard(problem: CardProblem) {
	return clientError(problem.message, 422, ErrorTypes.INVALID_CARD, [
		{ type: problem.type, field: problem.field, message: problem.message }
	]);
}

export function stateError(doc: PaymentDoc, action: string) {
	return conflict(`A ${doc.status} payment cannot be ${action}`, ErrorTypes.PAYMENT_STATE, {
		orderId: doc.orderId,
		status: doc.status
	});
}

export const paymentNotFound = () => notFound("Payment not found", ErrorTypes.PAYMENT_NOT_FOUND);

/** A conditional change lost the race every time it was decided again: the caller may retry. */
export const contention = (orderId: string) =>
	conflict(
		"The payment is being changed by another request; try again",
		ErrorTypes.PAYMENT_STATE,
		{
			orderId
		}
	);

/** An authorize, or the other calls for the same order, under other amounts, owner or currency. */
export const otherDetails = (orderId: string) =>
	conflict(
		"This order already has a payment with other details",
		ErrorTypes.IDEMPOTENCY_CONFLICT,
		{
			orderId
		}
	);

/** A refund id given again for another amount: never silently the first refund's answer. */
export const refundIdReused = (orderId: string, refundId: string) =>
	conflict("This refund id was used for a different refund", ErrorTypes.IDEMPOTENCY_CONFLICT, {
		orderId,
		refundId
	});

export const refundExceedsCapture = (
	doc: Pick<PaymentDoc, "orderId" | "capturedCents" | "refundedCents">,
	refundableCents: number
) =>
	conflict("The refund exceeds what is left of the capture", ErrorTypes.REFUND_EXCEEDS_CAPTURE, {
		orderId: doc.orderId,
		capturedCents: doc.capturedCents,
		refundedCents: doc.refundedCents,
		refundableCents
	});

/** 503 while another call still holds the payment (its lease has not run out). */
export const busy = (message: string, orderId: string) =>
	new Errors.MoleculerRetryableError(message, 503, ErrorTypes.SERVICE_UNAVAILABLE, { orderId });

export const processorUnavailable = (orderId: string) =>
	busy("The payment processor is not available. Try again shortly.", orderId);
