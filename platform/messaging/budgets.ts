/**
 * Every action's time budget and whether running it twice is safe, in one place.
 *
 * The budget is the call's timeout: a hung instance costs a caller that long, not the broker's
 * REQUEST_TIMEOUT, and the circuit breaker sees its failures as soon as that. An action is
 * idempotent when a second run with the same params (and meta) has no further effect: the
 * failover middleware (platform/messaging/failover.ts) may then send it again to a twin when its instance died
 * while it was in flight. Actions not listed get the broker's timeout and are never re-sent.
 */
import type { Context } from "moleculer";

export const BUDGET_MS = {
	/** A lookup or a listing. */
	read: 2_000,
	/** A change to one service's own data. */
	write: 3_000,
	/** A password hashed (scrypt runs on the thread pool). */
	hashing: 4_000,
	/** A payment processor round trip. */
	payment: 5_000,
	/** A whole order placed: every saga step, each within its own budget. */
	flow: 10_000,
	/** A recovery sweep over many documents. */
	sweep: 30_000
} as const;

export type Budget = keyof typeof BUDGET_MS;

interface ActionPolicy {
	budget: Budget;
	/** Safe to run again with the same call: always, never, or depending on the call. */
	idempotent: boolean | ((ctx: Pick<Context, "meta">) => boolean);
}

const read: ActionPolicy = { budget: "read", idempotent: true };
const write: ActionPolicy = { budget: "write", idempotent: false };
/** The saga's steps and compensations: idempotent per order on the other side. */
const step: ActionPolicy = { budget: "write", idempotent: true };
const payment: ActionPolicy = { budget: "payment", idempotent: true };
const sweep: ActionPolicy = { budget: "sweep", idempotent: true };

export const ACTION_POLICIES: Readonly<Record<string, ActionPolicy>> = {
	"users.register": { budget: "hashing", idempotent: false },
	// A second login issues a second token and counts the attempt again: nothing is lost.
	"users.login": { budget: "hashing", idempotent: true },
	"users.changePassword": { budget: "hashing", idempotent: false },
	"users.me": read,
	"users.updateMe": write,
	"users.list": read,
	"users.resolveSession": read,
	"users.contact": read,

	"inventory.listProducts": read,
	"inventory.getProduct": read,
	"inventory.getProducts": read,
	"inventory.createProduct": write,
	"inventory.updateProduct": write,
	"inventory.adjustStock": write,
	"inventory.reserve": step,
	"inventory.release": step,
	"inventory.commit": step,
	"inventory.restock": step,
	"inventory.cancelShipment": step,
	"inventory.expireReservations": sweep,
	"inventory.listShipments": read,
	"inventory.getShipment": read,
	"inventory.shipmentForOrder": read,
	"inventory.shipShipment": write,
	"inventory.deliverShipment": write,

	"payments.authorize": payment,
	"payments.capture": payment,
	"payments.void": payment,
	"payments.refund": payment,
	"payments.refundPayment": { budget: "payment", idempotent: false },
	"payments.forOrder": read,
	"payments.list": read,
	"payments.get": read,
	"payments.recover": sweep,

	// An order under an Idempotency-Key is found again by its key on any instance.
	"orders.create": {
		budget: "flow",
		idempotent: ctx => Boolean((ctx.meta as { idempotencyKey?: string }).idempotencyKey)
	},
	"orders.list": read,
	"orders.get": read,
	"orders.tracking": read,
	"orders.cancel": { budget: "flow", idempotent: false },
	"orders.recover": sweep,

	"notifications.list": read,
	"notifications.markRead": { budget: "write", idempotent: true }
};

/** The timeout of a call to `action`, or undefined for the broker's default. */
export function budgetOf(action: string): number | undefined {
	const policy = ACTION_POLICIES[action];
	return policy ? BUDGET_MS[policy.budget] : undefined;
}

/** Whether this call of `action` may run again without harm. */
export function isIdempotent(action: string, ctx: Pick<Context, "meta">): boolean {
	const policy = ACTION_POLICIES[action];
	if (!policy) return false;
	return typeof policy.idempotent === "function" ? policy.idempotent(ctx) : policy.idempotent;
}
