/**
 * Domain events: names and payloads shared by producers and consumers.
 *
 * Every payload carries a stable `eventId` (consumers use it to handle an event once) and
 * `occurredAt`. Publishers write them into their outbox with outboxEntry()
 * (platform/messaging/durable-events.mixin.ts), which sets both.
 */
import type { OrderLine } from "./items";

export interface EventMeta {
	eventId: string;
	occurredAt: string;
}

export interface OrderEvent {
	orderId: string;
	userId: string;
	status: string;
	totalCents: number;
	currency: string;
	items: OrderLine[];
	reason?: string;
}

export interface PaymentEvent {
	paymentId: string;
	orderId: string;
	userId: string;
	amountCents: number;
	currency: string;
	status: string;
	reason?: string;
}

export interface ShipmentEvent {
	shipmentId: string;
	orderId: string;
	userId: string;
	carrier: string;
	trackingNumber: string;
	status: string;
}

export interface LowStockEvent {
	productId: string;
	sku: string;
	stock: number;
	threshold: number;
}

export interface DomainEvents {
	"user.registered": { userId: string };
	"order.created": OrderEvent;
	"order.confirmed": OrderEvent;
	"order.rejected": OrderEvent;
	"order.cancelled": OrderEvent;
	"order.shipped": OrderEvent & { trackingNumber?: string; carrier?: string };
	"order.delivered": OrderEvent;
	"payment.authorized": PaymentEvent;
	"payment.captured": PaymentEvent;
	"payment.declined": PaymentEvent;
	"payment.voided": PaymentEvent;
	"payment.refunded": PaymentEvent & { refundedCents: number };
	"shipment.created": ShipmentEvent;
	"shipment.shipped": ShipmentEvent;
	"shipment.delivered": ShipmentEvent;
	"shipment.cancelled": ShipmentEvent;
	"inventory.low-stock": LowStockEvent;
}

export type DomainEventName = keyof DomainEvents;

/**
 * The durable domain events, declared: the compiler fails when one is added to DomainEvents and
 * not here. Every one of them goes through the outbox and JetStream (platform/messaging/durable-events.mixin.ts).
 */
const DOMAIN_EVENT_NAMES: Record<DomainEventName, true> = {
	"user.registered": true,
	"order.created": true,
	"order.confirmed": true,
	"order.rejected": true,
	"order.cancelled": true,
	"order.shipped": true,
	"order.delivered": true,
	"payment.authorized": true,
	"payment.captured": true,
	"payment.declined": true,
	"payment.voided": true,
	"payment.refunded": true,
	"shipment.created": true,
	"shipment.shipped": true,
	"shipment.delivered": true,
	"shipment.cancelled": true,
	"inventory.low-stock": true
};

export function isDomainEvent(name: string): name is DomainEventName {
	return Object.hasOwn(DOMAIN_EVENT_NAMES, name);
}
export type DomainEvent<N extends DomainEventName> = DomainEvents[N] & EventMeta;

/** The events notifications tells customers about: the kinds of a notification. */
export const NOTIFIED_EVENTS = [
	"order.confirmed",
	"order.rejected",
	"order.cancelled",
	"order.shipped",
	"order.delivered",
	"payment.refunded"
] as const;
