/**
 * What the customer is told about each domain event: pure functions, no broker, no I/O.
 *
 * A template reads only the payload fields it names, so nothing else an event might carry can
 * end up in an email or the inbox. Payloads never hold card data; keep it that way.
 */
import type { DomainEvent, DomainEvents, NOTIFIED_EVENTS } from "../../contracts/events";

export type NotificationKind = (typeof NOTIFIED_EVENTS)[number];

export interface NotificationContent {
	kind: NotificationKind;
	title: string;
	body: string;
}

const MAX_REASON = 200;

/**
 * An amount in integer minor units (cents for EUR, yen for JPY) as text, e.g. 12345 EUR ->
 * "€123.45". Exact for any safe integer: the decimal is built from the integer, never by
 * dividing a float. An unknown currency code is written after the number.
 */
export function formatMoney(cents: number, currency: string): string {
	if (!Number.isSafeInteger(cents)) throw new RangeError(`Not an integer amount: ${cents}`);
	const format = currencyFormat(currency);
	if (!format) return `${decimal(cents, 2)} ${currency}`;
	return format.format(decimal(cents, format.digits) as Intl.StringNumericLiteral);
}

/** Building an Intl.NumberFormat is costly (it showed in the order path's profile): one per currency. */
const formats = new Map<string, { format: Intl.NumberFormat["format"]; digits: number } | null>();
function currencyFormat(currency: string) {
	if (!formats.has(currency)) {
		try {
			const nf = new Intl.NumberFormat("en-US", { style: "currency", currency });
			formats.set(currency, {
				format: nf.format.bind(nf),
				digits: nf.resolvedOptions().maximumFractionDigits ?? 2
			});
		} catch {
			formats.set(currency, null);
		}
	}
	return formats.get(currency);
}

/** 12345, 2 -> "123.45"; -5, 2 -> "-0.05"; 500, 0 -> "500". */
function decimal(minor: number, digits: number): string {
	const sign = minor < 0 ? "-" : "";
	const abs = String(Math.abs(minor)).padStart(digits + 1, "0");
	if (digits === 0) return sign + abs;
	return `${sign}${abs.slice(0, -digits)}.${abs.slice(-digits)}`;
}

/** The short form of an order id shown to customers: its last 8 characters. */
export function shortId(id: string): string {
	return id.length > 8 ? id.slice(-8) : id;
}

/** Rejection and cancellation reasons in words; anything else is shown as given. */
const REASONS: Record<string, string> = {
	CARD_DECLINED: "the card was declined",
	INSUFFICIENT_FUNDS: "the card has insufficient funds",
	INVALID_CARD: "the card details are not valid",
	OUT_OF_STOCK: "some items are out of stock",
	PRODUCT_NOT_FOUND: "some items are no longer for sale",
	CURRENCY_MISMATCH: "the items are priced in different currencies",
	SERVICE_UNAVAILABLE: "a service was temporarily unavailable",
	SAGA_ABORTED: "it could not be completed in time"
};

export function describeReason(reason: string | undefined): string | undefined {
	const r = reason?.trim();
	if (!r) return undefined;
	return REASONS[r] ?? (r.length > MAX_REASON ? `${r.slice(0, MAX_REASON - 3)}...` : r);
}

type OrderPayload = DomainEvents["order.confirmed"];

function itemLines(order: OrderPayload): string {
	return (order.items ?? [])
		.map(i => `  ${i.quantity} x ${i.name}: ${formatMoney(i.lineTotalCents, order.currency)}`)
		.join("\n");
}

type Templates = {
	[K in NotificationKind]: (event: DomainEvents[K]) => NotificationContent;
};

export const TEMPLATES: Templates = {
	"order.confirmed": e => {
		const id = shortId(e.orderId);
		const items = itemLines(e);
		return {
			kind: "order.confirmed",
			title: `Order ${id} confirmed`,
			body:
				`Thank you for your order ${id}. It is confirmed, and ` +
				`${formatMoney(e.totalCents, e.currency)} has been charged.` +
				(items ? `\n\n${items}` : "") +
				`\n\nWe will let you know when it ships.`
		};
	},

	"order.rejected": e => {
		const id = shortId(e.orderId);
		const reason = describeReason(e.reason);
		return {
			kind: "order.rejected",
			title: `Order ${id} could not be placed`,
			body:
				`Your order ${id} of ${formatMoney(e.totalCents, e.currency)} could not be placed` +
				(reason ? `: ${reason}.` : ".")
		};
	},

	"order.cancelled": e => {
		const id = shortId(e.orderId);
		const reason = describeReason(e.reason);
		return {
			kind: "order.cancelled",
			title: `Order ${id} cancelled`,
			body:
				`Your order ${id} of ${formatMoney(e.totalCents, e.currency)} has been cancelled.` +
				(reason ? ` Reason: ${reason}.` : "")
		};
	},

	"order.shipped": e => {
		const id = shortId(e.orderId);
		const carrier = e.carrier?.trim();
		const tracking = e.trackingNumber?.trim();
		return {
			kind: "order.shipped",
			title: `Order ${id} shipped`,
			body:
				`Your order ${id} is on its way` +
				(carrier ? ` with ${carrier}.` : ".") +
				(tracking ? ` Tracking number: ${tracking}.` : "")
		};
	},

	"order.delivered": e => {
		const id = shortId(e.orderId);
		return {
			kind: "order.delivered",
			title: `Order ${id} delivered`,
			body: `Your order ${id} has been delivered. We hope you enjoy it.`
		};
	},

	"payment.refunded": e => {
		const id = shortId(e.orderId);
		const amount = formatMoney(e.refundedCents, e.currency);
		return {
			kind: "payment.refunded",
			title: `Refund of ${amount} for order ${id}`,
			body:
				`We have refunded ${amount} for your order ${id}. ` +
				`It may take a few days to appear on your statement.`
		};
	}
};

/** The notification of one handled event. */
export function render<K extends NotificationKind>(
	kind: K,
	event: DomainEvents[K] | DomainEvent<K>
): NotificationContent {
	return (TEMPLATES[kind] as (e: DomainEvents[K]) => NotificationContent)(event);
}

/** The plain-text email: the notification, addressed to the customer by name. */
export function emailText(name: string, content: NotificationContent): string {
	const greeting = name.trim() ? `Hello ${name.trim()},` : "Hello,";
	return `${greeting}\n\n${content.body}\n\nshopmesh`;
}
