/**
 * Orders' domain rules: the order document and its views, the lifecycle state machine and the
 * money arithmetic of pricing. Plain functions, no broker, no I/O.
 */
import type { OrderEvent } from "../../contracts/events";
import { mergeItems, type ItemQuantity, type OrderLine } from "../../contracts/items";
import type { OrderStatus } from "../../contracts/statuses";
import type { Compensation, SagaStep } from "./order-saga";

/** Compensations the order still owes: retried by the recovery sweep until they succeed. */
export type PendingAction = Compensation | "refund" | "restock";

export interface OrderDoc {
	_id: string;
	userId: string;
	status: OrderStatus;
	items: OrderLine[];
	totalCents: number;
	currency: string;
	payment?: { brand?: string; last4?: string };
	reason?: string;
	idempotencyKey?: string;
	fingerprint: string;
	/**
	 * `updatedAt` only while the saga runs: the stuck-saga sweep reads through its index. `node`
	 * runs it, so a twin asked for the same order can tell an orphan from a saga in progress.
	 */
	saga: { step: SagaStep | "done"; updatedAt?: string; node?: string };
	pendingActions: PendingAction[];
	/** Set exactly while compensations are owed: the sweep reads through its sparse index. */
	owedSince?: string | null;
	history: HistoryEntry[];
	createdAt: string;
	updatedAt: string;
}

/** The payload of an order event, from the order as it is after the change. */
export function orderEvent(order: OrderDoc, extra: Record<string, unknown> = {}): OrderEvent {
	return {
		orderId: String(order._id),
		userId: order.userId,
		status: order.status,
		totalCents: order.totalCents,
		currency: order.currency,
		items: order.items,
		...(order.reason ? { reason: order.reason } : {}),
		...extra
	};
}

/** What callers see of an order. */
export function toOrder(doc: OrderDoc) {
	return {
		id: String(doc._id),
		userId: doc.userId,
		status: doc.status,
		items: doc.items,
		totalCents: doc.totalCents,
		currency: doc.currency,
		payment: doc.payment,
		reason: doc.reason,
		history: doc.history,
		createdAt: doc.createdAt,
		updatedAt: doc.updatedAt
	};
}

export type OrderView = ReturnType<typeof toOrder>;

// ---- Lifecycle ----------------------------------------------------------------------------

/**
 *   pending ──> confirmed ──> shipped ──> delivered
 *      │            │
 *      v            v
 *   rejected    cancelled   (only before shipping; refund and restock)
 */
const TRANSITIONS: Record<OrderStatus, readonly OrderStatus[]> = {
	pending: ["confirmed", "rejected"],
	confirmed: ["shipped", "cancelled"],
	shipped: ["delivered"],
	delivered: [],
	cancelled: [],
	rejected: []
};

export function canTransition(from: OrderStatus, to: OrderStatus): boolean {
	return TRANSITIONS[from]?.includes(to) ?? false;
}

export function isTerminal(status: OrderStatus): boolean {
	return TRANSITIONS[status].length === 0;
}

export interface HistoryEntry {
	status: OrderStatus;
	at: string;
	reason?: string;
}

// ---- Pricing ------------------------------------------------------------------------------

export type RequestedItem = ItemQuantity;

export interface CatalogProduct {
	id: string;
	sku: string;
	name: string;
	priceCents: number;
	currency: string;
	active: boolean;
}

export type PricingResult =
	| { ok: true; items: OrderLine[]; totalCents: number; currency: string }
	| { ok: false; reason: "PRODUCT_NOT_FOUND"; productIds: string[] }
	| { ok: false; reason: "CURRENCY_MISMATCH"; currencies: string[] };

/** Integer cents times a quantity; refuses anything that is not a safe integer. */
export function multiplyCents(unitCents: number, quantity: number): number {
	const total = unitCents * quantity;
	if (
		!Number.isSafeInteger(unitCents) ||
		!Number.isSafeInteger(quantity) ||
		!Number.isSafeInteger(total)
	)
		throw new RangeError(`Amount out of range: ${unitCents} x ${quantity}`);
	return total;
}

export function sumCents(amounts: number[]): number {
	const total = amounts.reduce((a, b) => a + b, 0);
	if (!Number.isSafeInteger(total)) throw new RangeError("Amount out of range");
	return total;
}

/**
 * Price an order from the catalog (never from the client). Every product must exist, be
 * active, and share one currency.
 */
export function priceOrder(requested: RequestedItem[], catalog: CatalogProduct[]): PricingResult {
	const items = mergeItems(requested);
	const byId = new Map(catalog.map(p => [p.id, p]));
	// A product priced under 1 (made before inventory refused such prices) is not for sale:
	// payments authorizes only positive amounts.
	const missing = items
		.filter(i => {
			const p = byId.get(i.productId);
			return !p?.active || !(p.priceCents >= 1);
		})
		.map(i => i.productId);
	if (missing.length > 0) return { ok: false, reason: "PRODUCT_NOT_FOUND", productIds: missing };

	const currencies = [...new Set(items.map(i => byId.get(i.productId)!.currency))];
	if (currencies.length > 1) return { ok: false, reason: "CURRENCY_MISMATCH", currencies };

	const lines = items.map(({ productId, quantity }) => {
		const p = byId.get(productId)!;
		return {
			productId,
			sku: p.sku,
			name: p.name,
			quantity,
			unitPriceCents: p.priceCents,
			lineTotalCents: multiplyCents(p.priceCents, quantity)
		};
	});
	return {
		ok: true,
		items: lines,
		totalCents: sumCents(lines.map(l => l.lineTotalCents)),
		currency: currencies[0]
	};
}

/** Whether an order's Idempotency-Key is older than the window (`ttlMs`) it is remembered for. */
export function isKeyExpired(order: Pick<OrderDoc, "createdAt">, now: number, ttlMs: number) {
	return Date.parse(order.createdAt) < now - ttlMs;
}

/** A stable fingerprint of what was ordered, to tell a replay from a different request under one key. */
export function requestFingerprint(items: RequestedItem[]): string {
	return mergeItems(items)
		.sort((a, b) => a.productId.localeCompare(b.productId))
		.map(i => `${i.productId}x${i.quantity}`)
		.join(",");
}

/**
 * The fields that record owed compensations: `owedSince` is set exactly while some are owed, so
 * the recovery sweep reads through its sparse index only the orders that owe something.
 */
export function owing<A extends string>(
	actions: A[],
	at: string
): { pendingActions: A[]; owedSince: string | null } {
	return { pendingActions: actions, owedSince: actions.length > 0 ? at : null };
}
