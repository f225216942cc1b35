/**
 * Inventory's domain rules: reservations, shipments, the catalog and the public shapes. Plain functions, no
 * broker and no I/O, so unit tests hit them directly.
 *
 * How stock stays right without read-then-write: a product document carries the units held for
 * each order (`holds.<orderId>`). Taking units is one conditional update "stock >= quantity and
 * no hold of this order yet -> stock -= quantity, hold = quantity", so concurrent orders can never
 * oversell and a repeated take for the same order is a no-op. Giving the units back is the
 * mirror update, conditional on the hold being there. The reservation document records the
 * order's overall state; `settled` tells whether the product documents already reflect it.
 */
import { randomInt } from "node:crypto";
import { byProductId, mergeItems, type ItemQuantity } from "../../contracts/items";
import { CARRIERS, type Carrier, type ShipmentStatus } from "../../contracts/statuses";

export const RESERVATION_STATUSES = [
	"pending",
	"reserved",
	"committed",
	"released",
	"expired",
	"restocked"
] as const;
export type ReservationStatus = (typeof RESERVATION_STATUSES)[number];

/** Allowed reservation changes. `pending` is a reservation being taken. */
const RESERVATION_TRANSITIONS: Record<ReservationStatus, readonly ReservationStatus[]> = {
	pending: ["reserved", "released"],
	reserved: ["committed", "released", "expired"],
	committed: ["restocked"],
	released: [],
	expired: [],
	restocked: []
};

export function canReservationTransition(from: ReservationStatus, to: ReservationStatus) {
	return RESERVATION_TRANSITIONS[from].includes(to);
}

/**
 * When a reservation next needs the sweep: at its expiry while it holds stock, at once while a
 * final status is not yet reflected in the products (a crash in between), never once settled. The
 * sweep reads through the sparse index on this field alone.
 */
export function reservationSweepAt(
	status: ReservationStatus,
	settled: boolean,
	expiresAt: string,
	now: string
): string | null {
	if (status === "pending" || status === "reserved") return expiresAt;
	return settled ? null : now;
}

/** What a settled reservation means for the products' holds and stock. */
export function holdOutcome(status: ReservationStatus): "keep" | "consume" | "return" {
	if (status === "committed") return "consume"; // the units left with the order
	if (status === "released" || status === "expired") return "return";
	return "keep";
}

export type ReservationItem = ItemQuantity;

/** One line per product, quantities summed, in a stable order (so updates lock in one order). */
export function reservationLines(items: readonly ReservationItem[]): ReservationItem[] {
	return mergeItems(items).sort(byProductId);
}

export function isExpired(expiresAt: string, now: number): boolean {
	return Date.parse(expiresAt) <= now;
}

/** Field path of an order's hold on a product document. Order ids are validated `[A-Za-z0-9_-]`. */
export function holdPath(orderId: string): string {
	if (!/^[A-Za-z0-9_-]+$/.test(orderId)) throw new Error(`Invalid order id '${orderId}'`);
	return `holds.${orderId}`;
}

/** Field path of the marker that an order's committed units were returned (restock once). */
export function returnPath(orderId: string): string {
	return `returned.${holdPath(orderId).slice("holds.".length)}`;
}

/** True when a change of stock crosses the low-stock threshold downwards. */
export function crossedLowStock(before: number, after: number, threshold: number): boolean {
	return after < before && after <= threshold && before > threshold;
}

/**
 * The stocks from which taking `quantity` units (> 0) leaves the stock non-negative and cannot
 * cross the threshold: far above it, or already at or below it. Only the others, from
 * threshold + 1 to threshold + quantity, cross it and must record the low-stock event.
 */
export function stockThatCannotCross(quantity: number, threshold: number) {
	return {
		$or: [
			{ stock: { $gte: Math.max(quantity, threshold + quantity + 1) } },
			{ stock: { $gte: quantity, $lte: threshold } }
		]
	};
}

// ---- shipments ----

const SHIPMENT_TRANSITIONS: Record<ShipmentStatus, readonly ShipmentStatus[]> = {
	preparing: ["shipped", "cancelled"],
	shipped: ["delivered"],
	delivered: [],
	cancelled: []
};

export function canShipmentTransition(from: ShipmentStatus, to: ShipmentStatus) {
	return SHIPMENT_TRANSITIONS[from].includes(to);
}

/** The same order always gets the same carrier (a stand-in for a rate-shopping rule). */
export function carrierFor(orderId: string): Carrier {
	let hash = 0;
	for (const ch of orderId) hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
	return CARRIERS[hash % CARRIERS.length];
}

/** A carrier-style tracking number: two letters of the carrier and 12 random digits. */
export function newTrackingNumber(carrier: string): string {
	const digits = Array.from({ length: 12 }, () => randomInt(10)).join("");
	return `${carrier.slice(0, 2).toUpperCase()}${digits}`;
}

// ---- public shapes ----

export interface ProductDoc {
	_id: string;
	sku: string;
	name: string;
	description?: string;
	priceCents: number;
	currency: string;
	stock: number;
	active: boolean;
	holds?: Record<string, number>;
	returned?: Record<string, number>;
	createdAt: string;
	updatedAt: string;
}

/** What callers see of a product: never the per-order holds. */
export function toProduct(doc: ProductDoc) {
	return {
		id: String(doc._id),
		sku: doc.sku,
		name: doc.name,
		description: doc.description ?? "",
		priceCents: doc.priceCents,
		currency: doc.currency,
		stock: doc.stock,
		active: doc.active,
		createdAt: doc.createdAt,
		updatedAt: doc.updatedAt
	};
}
export type Product = ReturnType<typeof toProduct>;

export interface ShipmentDoc {
	_id: string;
	orderId: string;
	userId: string;
	carrier: string;
	trackingNumber: string;
	status: ShipmentStatus;
	history: { status: ShipmentStatus; at: string }[];
	createdAt: string;
	updatedAt: string;
}

export function toShipment(doc: ShipmentDoc) {
	return {
		id: String(doc._id),
		orderId: doc.orderId,
		userId: doc.userId,
		carrier: doc.carrier,
		trackingNumber: doc.trackingNumber,
		status: doc.status,
		history: doc.history,
		createdAt: doc.createdAt,
		updatedAt: doc.updatedAt
	};
}

/** A regular expression matching `text` literally, case-insensitive (search box input). */
export function literalPattern(text: string): RegExp {
	return new RegExp(text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"), "i");
}

/** The catalog's listing query: active products only unless `withInactive`; `q` searches name, SKU and description. */
export function catalogQuery(q: string | undefined, withInactive: boolean) {
	const query: Record<string, unknown> = {};
	if (!withInactive) query.active = true;
	if (q) {
		const pattern = literalPattern(q);
		query.$or = [
			{ name: { $regex: pattern } },
			{ sku: { $regex: pattern } },
			{ description: { $regex: pattern } }
		];
	}
	return query;
}

export type NewProduct = Omit<ProductDoc, "_id" | "createdAt" | "updatedAt" | "holds" | "returned">;

/** A product document as first stored: no holds yet, the description never missing. */
export function newProductDoc(fields: NewProduct, at: string) {
	return {
		...fields,
		description: fields.description ?? "",
		holds: {},
		createdAt: at,
		updatedAt: at
	};
}

export interface ReservationDoc {
	_id: string;
	orderId: string;
	items: ReservationItem[];
	status: ReservationStatus;
	/** True once the product documents reflect `status` (holds taken, consumed or returned). */
	settled: boolean;
	expiresAt: string;
	/** See reservationSweepAt(). */
	sweepAt: string | null;
	createdAt: string;
	updatedAt: string;
}

/** A reservation as a status change needs it: its order and the status it is read in. */
export type ReservationRef = Pick<ReservationDoc, "orderId" | "status"> &
	Partial<Pick<ReservationDoc, "expiresAt">>;

export interface Shortage {
	productId: string;
	requested: number;
	available: number;
}

export function toReservation(doc: ReservationDoc) {
	return {
		orderId: doc.orderId,
		status: doc.status,
		items: doc.items,
		expiresAt: doc.expiresAt
	};
}
