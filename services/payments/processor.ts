/**
 * The card processor behind payments: one small interface, and a simulation of it.
 *
 * The service talks only to `CardProcessor`; createProcessor() is the one place that picks the
 * implementation, so a real processor (Stripe, Adyen...) replaces the simulation there.
 */
import { createHash } from "node:crypto";
import { luhnValid, normalizeCardNumber } from "./card-rules";
import type { DeclineCode } from "./payment-state";

export interface CardDetails {
	number: string;
	expMonth: number;
	expYear: number;
	cvc: string;
}

export interface AuthorizeRequest {
	amountCents: number;
	currency: string;
	card: CardDetails;
	/** The same key always yields the same answer (payments uses the order id). */
	idempotencyKey: string;
}

export type AuthorizeResult =
	{ ok: true; authorizationId: string } | { ok: false; code: DeclineCode; message: string };

/**
 * A card processor. A decline is an answer (`ok: false`); a thrown error means the processor
 * could not be reached or refused the operation, and the caller does not know more: it may have
 * been made. So every call carries an idempotency key, and a call repeated with the same key is
 * answered as the first one was, without moving money again (as real processors do).
 */
export interface CardProcessor {
	authorize(req: AuthorizeRequest): Promise<AuthorizeResult>;
	capture(authorizationId: string, amountCents: number, idempotencyKey: string): Promise<void>;
	void(authorizationId: string, idempotencyKey: string): Promise<void>;
	refund(authorizationId: string, amountCents: number, idempotencyKey: string): Promise<void>;
}

/** The well-known test cards of the simulation. */
export const TEST_CARDS = {
	success: "4242424242424242",
	declined: "4000000000000002",
	insufficientFunds: "4000000000009995"
} as const;

const DECLINES: Record<string, { code: DeclineCode; message: string }> = {
	[TEST_CARDS.declined]: { code: "CARD_DECLINED", message: "The card was declined" },
	[TEST_CARDS.insufficientFunds]: {
		code: "INSUFFICIENT_FUNDS",
		message: "The card has insufficient funds"
	}
};

const AUTHORIZATION_ID = /^sim_[0-9a-f]{24}$/;

/**
 * A processor without a network: the test cards decline, any other Luhn-valid number is
 * authorized. It keeps no state, so every node of a cluster (and a restarted node) accepts the
 * authorizations of the others; the authorization id is derived from the idempotency key, so a
 * repeated request gets the same authorization.
 */
export class SimulatedProcessor implements CardProcessor {
	async authorize(req: AuthorizeRequest): Promise<AuthorizeResult> {
		assertCents(req.amountCents);
		if (!/^[A-Z]{3}$/.test(req.currency)) throw new Error("Invalid currency");
		assertKey(req.idempotencyKey);
		const number = normalizeCardNumber(req.card.number);
		if (number == null || !luhnValid(number))
			return { ok: false, code: "CARD_DECLINED", message: "The card number is not valid" };
		const decline = DECLINES[number];
		if (decline) return { ok: false, ...decline };
		const digest = createHash("sha256").update(`authorize:${req.idempotencyKey}`).digest("hex");
		return { ok: true, authorizationId: `sim_${digest.slice(0, 24)}` };
	}

	async capture(authorizationId: string, amountCents: number, idempotencyKey: string) {
		assertAuthorization(authorizationId);
		assertCents(amountCents);
		assertKey(idempotencyKey);
	}

	async void(authorizationId: string, idempotencyKey: string) {
		assertAuthorization(authorizationId);
		assertKey(idempotencyKey);
	}

	async refund(authorizationId: string, amountCents: number, idempotencyKey: string) {
		assertAuthorization(authorizationId);
		assertCents(amountCents);
		assertKey(idempotencyKey);
	}
}

function assertKey(key: string): void {
	if (typeof key !== "string" || key === "") throw new Error("An idempotency key is required");
}

function assertAuthorization(id: string): void {
	if (!AUTHORIZATION_ID.test(id)) throw new Error("Unknown authorization");
}

function assertCents(amountCents: number): void {
	if (!Number.isSafeInteger(amountCents) || amountCents <= 0)
		throw new Error("Amount must be a positive whole number of cents");
}

/** The one place that chooses the processor. */
export function createProcessor(): CardProcessor {
	return new SimulatedProcessor();
}
