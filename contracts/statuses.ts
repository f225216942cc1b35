/**
 * The statuses clients see and the gateway documents. Each owning service's state machine
 * (orders' order-state.ts, payments' payment-state.ts, inventory's stock-rules.ts) decides the
 * moves between them; here is only the vocabulary every side shares.
 */

export const ORDER_STATUSES = [
	"pending",
	"confirmed",
	"shipped",
	"delivered",
	"cancelled",
	"rejected"
] as const;
export type OrderStatus = (typeof ORDER_STATUSES)[number];

export const PAYMENT_STATUSES = [
	"pending",
	"authorized",
	"captured",
	"partially_refunded",
	"refunded",
	"voided",
	"declined"
] as const;
export type PaymentStatus = (typeof PAYMENT_STATUSES)[number];

export const SHIPMENT_STATUSES = ["preparing", "shipped", "delivered", "cancelled"] as const;
export type ShipmentStatus = (typeof SHIPMENT_STATUSES)[number];

export const CARRIERS = ["DHL", "UPS", "FedEx"] as const;
export type Carrier = (typeof CARRIERS)[number];
