/**
 * Payments' domain rules: the payment state machine and the public shape of a payment.
 * Plain functions, no broker, no I/O.
 */
import type { PaymentEvent } from "../../contracts/events";
import { randomUUID } from "node:crypto";
import type { PaymentStatus } from "../../contracts/statuses";
import { cardBrand, last4, type CardBrand } from "./card-rules";

/**
 *   pending ──> authorized ──> captured ──> partially_refunded ──> refunded
 *      │            │              │             ^        │            ^
 *      │            v              │             └────────┘            │
 *      ├──────> voided             └───────────────────────────────────┘
 *      v
 *   declined
 *
 * `pending` is the payment's record while the processor is asked: it makes authorize idempotent
 * per order. A void that arrives then wins, and the late authorization is voided at the processor.
 */
const TRANSITIONS: Record<PaymentStatus, readonly PaymentStatus[]> = {
	pending: ["authorized", "declined", "voided"],
	authorized: ["captured", "voided"],
	captured: ["partially_refunded", "refunded"],
	partially_refunded: ["partially_refunded", "refunded"],
	refunded: [],
	voided: [],
	declined: []
};

export function canTransition(from: PaymentStatus, to: PaymentStatus): boolean {
	return TRANSITIONS[from]?.includes(to) ?? false;
}

export function isTerminal(status: PaymentStatus): boolean {
	return TRANSITIONS[status].length === 0;
}

/** Statuses in which money was captured (and may be refunded). */
export function wasCaptured(status: PaymentStatus): boolean {
	return status === "captured" || status === "partially_refunded" || status === "refunded";
}

/** The status after refunds totalling `refundedCents` of a capture of `capturedCents`. */
export function statusAfterRefund(
	capturedCents: number,
	refundedCents: number
): "partially_refunded" | "refunded" {
	return refundedCents >= capturedCents ? "refunded" : "partially_refunded";
}

export type DeclineCode = "CARD_DECLINED" | "INSUFFICIENT_FUNDS";

export interface RefundEntry {
	refundId: string;
	amountCents: number;
	/** Asked as "all that is left" (no amount): a repeat without an amount is the same refund. */
	full?: boolean;
	at: string;
}

/**
 * Refund ids live in two namespaces that cannot meet. The system's own (the order flows' `saga`,
 * `cancel`, and `full`) are plain words; an id a client gives (an admin through the API) is
 * stored as `client:<id>`. An admin's partial refund named `cancel` once took the cancel flow's
 * id: the customer's later cancel found "its" refund made and refunded nothing.
 */
export const CLIENT_REFUND_PREFIX = "client:";
export const clientRefundId = (id: string) => `${CLIENT_REFUND_PREFIX}${id}`;

/** The id as its caller named it (a client's without the prefix). */
export const shownRefundId = (id: string) =>
	id.startsWith(CLIENT_REFUND_PREFIX) ? id.slice(CLIENT_REFUND_PREFIX.length) : id;

/** A refund's id when its caller gives none: "full" for all that is left (a repeat changes nothing). */
export const defaultRefundId = (refundId: string | undefined, amountCents: number | undefined) =>
	refundId ?? (amountCents == null ? "full" : randomUUID());

/** Whether a recorded refund is the one asked again (same amount, or both "all that is left"). */
export function sameRefund(
	recorded: Pick<RefundEntry, "amountCents" | "full">,
	amountCents: number | undefined
): boolean {
	if (amountCents == null) return recorded.full === true;
	return recorded.full !== true && recorded.amountCents === amountCents;
}

export interface HistoryEntry {
	status: PaymentStatus;
	at: string;
}

/**
 * A change asked of the processor and not yet recorded. It is written before the processor is
 * asked and replaced by its outcome (status, amounts and event in one update) once it answers,
 * so a crash in between leaves it behind: whoever comes next asks the processor again under the
 * same idempotency key, which the processor answers as it did the first time, and records it.
 * While one is there, nothing else changes the payment.
 */
export interface PendingOperation {
	kind: "capture" | "void" | "refund";
	/** The processor's idempotency key: one per payment and change (per refund for refunds). */
	key: string;
	/** Until when the call that wrote it owns it (epoch ms); after that, any call may finish it. */
	lockedUntil: number;
	/** The node of that call: once it is gone, a call on another node may finish it at once. */
	lockedBy?: string;
	/** Refunds: the refund being made. */
	refund?: { refundId: string; amountCents: number; full?: boolean };
}

export type OperationKind = PendingOperation["kind"];

/** The idempotency key of a change: stable across retries, distinct across payments and refunds. */
export function operationKey(kind: OperationKind, orderId: string, refundId?: string): string {
	return kind === "refund" ? `refund:${orderId}:${refundId}` : `${kind}:${orderId}`;
}

/** What the payment becomes once the processor has made `op`. */
export function operationOutcome(
	doc: Pick<PaymentDoc, "status" | "amountCents" | "capturedCents" | "refundedCents">,
	op: PendingOperation
): { status: PaymentStatus; capturedCents: number; refundedCents: number } {
	const { capturedCents, refundedCents } = doc;
	switch (op.kind) {
		case "capture":
			return { status: "captured", capturedCents: doc.amountCents, refundedCents };
		case "void":
			return { status: "voided", capturedCents, refundedCents };
		case "refund": {
			const total = refundedCents + op.refund!.amountCents;
			return {
				status: statusAfterRefund(capturedCents, total),
				capturedCents,
				refundedCents: total
			};
		}
	}
}

/** The stored payment. Of the card, only brand and last4: never the number or the CVC. */
export interface PaymentDoc {
	_id: string;
	orderId: string;
	userId: string;
	status: PaymentStatus;
	amountCents: number;
	currency: string;
	capturedCents: number;
	refundedCents: number;
	brand: CardBrand;
	last4: string;
	authorizationId?: string;
	declineCode?: DeclineCode;
	refunds: RefundEntry[];
	history: HistoryEntry[];
	/** While pending: until when the authorizing call owns the payment (epoch ms). */
	lockedUntil?: number;
	/** While pending: the node of that call (gone, its lease is over at once). */
	lockedBy?: string;
	/** A capture, void or refund asked of the processor and not yet recorded. */
	operation?: PendingOperation;
	createdAt: string;
	updatedAt: string;
}

/** Who owns a change in progress: until when (epoch ms), and from which node. */
export interface Lease {
	lockedUntil: number;
	lockedBy: string;
}

/** A new payment, pending while the processor is asked; `number` is normalized and checked. */
export function newPayment(
	input: Pick<PaymentDoc, "orderId" | "userId" | "amountCents" | "currency">,
	number: string,
	lease: Lease,
	at: string
): Omit<PaymentDoc, "_id"> {
	const { orderId, userId, amountCents, currency } = input;
	return {
		orderId,
		userId,
		status: "pending",
		amountCents,
		currency,
		capturedCents: 0,
		refundedCents: 0,
		brand: cardBrand(number),
		last4: last4(number),
		refunds: [],
		history: [{ status: "pending", at }],
		...lease,
		createdAt: at,
		updatedAt: at
	};
}

/** What callers see of a payment: no processor reference, no internal lock or operation. */
export type Payment = Omit<
	PaymentDoc,
	"_id" | "authorizationId" | "lockedUntil" | "lockedBy" | "operation"
> & {
	id: string;
};

export function toPayment(doc: PaymentDoc): Payment {
	const payment: Payment = {
		id: String(doc._id),
		orderId: doc.orderId,
		userId: doc.userId,
		status: doc.status,
		amountCents: doc.amountCents,
		currency: doc.currency,
		capturedCents: doc.capturedCents,
		refundedCents: doc.refundedCents,
		brand: doc.brand,
		last4: doc.last4,
		refunds: (doc.refunds ?? []).map(r => ({
			refundId: shownRefundId(r.refundId),
			amountCents: r.amountCents,
			at: r.at
		})),
		history: (doc.history ?? []).map(h => ({ status: h.status, at: h.at })),
		createdAt: doc.createdAt,
		updatedAt: doc.updatedAt
	};
	if (doc.declineCode != null) payment.declineCode = doc.declineCode;
	return payment;
}

/** The common part of every payment event: never any card data beyond the payment's own. */
export function paymentEvent(doc: PaymentDoc, reason?: string): PaymentEvent {
	const event: PaymentEvent = {
		paymentId: String(doc._id),
		orderId: doc.orderId,
		userId: doc.userId,
		amountCents: doc.amountCents,
		currency: doc.currency,
		status: doc.status
	};
	if (reason != null) event.reason = reason;
	return event;
}
