/**
 * What the OpenAPI document says about answers: the schemas of response bodies, and for each
 * published action its summary, success status and body, and the error `type`s its service can
 * throw (read from each service's code; the gateway's own errors are added by openapi.ts).
 *
 * Actions declare their input (`params`, `auth`, `roles`) themselves; what they return is kept
 * here, next to the gateway, so services need no documentation-only fields. The contract test
 * (test/contract) validates real responses against these schemas, so they cannot drift unnoticed.
 */
import {
	CARRIERS,
	ORDER_STATUSES,
	PAYMENT_STATUSES,
	SHIPMENT_STATUSES
} from "../../contracts/statuses";
import { NOTIFIED_EVENTS } from "../../contracts/events";
import { ErrorTypes, type ErrorType } from "../../contracts/errors";

import type { JsonSchema } from "./json-schema";

const ref = (name: string): JsonSchema => ({ $ref: `#/components/schemas/${name}` });

const str: JsonSchema = { type: "string" };
const id: JsonSchema = { type: "string", minLength: 1 };
const time: JsonSchema = { type: "string", format: "date-time" };
const cents: JsonSchema = { type: "integer", minimum: 0 };
const currency: JsonSchema = { type: "string", pattern: "^[A-Z]{3}$" };

/** A closed object: every listed property is required unless named in `optional`. */
function object(properties: Record<string, JsonSchema>, optional: string[] = []): JsonSchema {
	return {
		type: "object",
		properties,
		required: Object.keys(properties).filter(k => !optional.includes(k)),
		additionalProperties: false
	};
}

const arrayOf = (items: JsonSchema): JsonSchema => ({ type: "array", items });

/** A page of a listing: `{ rows, total, page, pageSize, totalPages }`. */
function page(item: string): JsonSchema {
	return object({
		rows: arrayOf(ref(item)),
		total: { type: "integer", minimum: 0 },
		page: { type: "integer", minimum: 1 },
		pageSize: { type: "integer", minimum: 1 },
		totalPages: { type: "integer", minimum: 0 }
	});
}

const shortage = object({
	productId: id,
	requested: { type: "integer" },
	available: { type: "integer" }
});

const fieldError = object({ type: str, field: str, message: str }, ["type", "field", "message"]);

/** `data` of an error, by its type (types without an entry carry none, or free-form data). */
export const ERROR_DATA: Partial<Record<ErrorType, JsonSchema>> = {
	VALIDATION_ERROR: arrayOf(ref("FieldError")),
	INVALID_CARD: object({ fields: arrayOf(ref("FieldError")), orderId: id }, ["orderId"]),
	OUT_OF_STOCK: object({ orderId: id, products: arrayOf(shortage) }, ["orderId"]),
	CARD_DECLINED: object({ orderId: id }),
	INSUFFICIENT_FUNDS: object({ orderId: id }),
	PRODUCT_NOT_FOUND: object({ products: arrayOf(id), orderId: id }, ["orderId"]),
	CURRENCY_MISMATCH: object({ currencies: arrayOf(currency), orderId: id }, ["orderId"]),
	IDEMPOTENCY_CONFLICT: object({ orderId: id }, ["orderId"]),
	INVALID_TRANSITION: object({ status: str, orderId: id }, ["status", "orderId"]),
	PAYMENT_STATE: object({ orderId: id, status: str }, ["status"]),
	REFUND_EXCEEDS_CAPTURE: object({
		orderId: id,
		capturedCents: cents,
		refundedCents: cents,
		refundableCents: cents
	}),
	PRODUCT_EXISTS: object({ sku: str }),
	RATE_LIMITED: object({ retryAfterSec: { type: "integer", minimum: 1 } })
};

const address = object(
	{
		line1: str,
		line2: str,
		city: str,
		postalCode: str,
		country: { type: "string", pattern: "^[A-Z]{2}$" }
	},
	["line2"]
);

/** `components.schemas`: every body the API answers with. */
export const SCHEMAS: Record<string, JsonSchema> = {
	Error: {
		description:
			"Every error: the HTTP status in `code`, a stable `type` to switch on, `data` for client errors that have details. A 5xx never carries data.",
		...object(
			{
				name: str,
				message: str,
				code: { type: "integer", minimum: 400, maximum: 599 },
				type: { type: "string", pattern: "^[A-Z][A-Z0-9_]*$" },
				data: {}
			},
			["data"]
		)
	},
	FieldError: fieldError,
	Address: address,
	User: object(
		{
			id,
			email: { type: "string", format: "email" },
			name: str,
			role: { enum: ["customer", "admin"] },
			phone: str,
			address: ref("Address"),
			createdAt: time,
			updatedAt: time
		},
		["phone", "address"]
	),
	Login: object({
		token: str,
		expiresIn: { type: "integer", minimum: 1, description: "seconds" },
		tokenType: { const: "Bearer" },
		user: ref("User")
	}),
	Token: object({ token: str, expiresIn: { type: "integer", minimum: 1 } }),
	Product: object({
		id,
		sku: str,
		name: str,
		description: str,
		priceCents: cents,
		currency,
		stock: { type: "integer", minimum: 0 },
		active: { type: "boolean" },
		createdAt: time,
		updatedAt: time
	}),
	Shipment: object({
		id,
		orderId: id,
		userId: id,
		carrier: { enum: [...CARRIERS] },
		trackingNumber: str,
		status: { enum: [...SHIPMENT_STATUSES] },
		history: arrayOf(object({ status: { enum: [...SHIPMENT_STATUSES] }, at: time })),
		createdAt: time,
		updatedAt: time
	}),
	OrderLine: object({
		productId: id,
		sku: str,
		name: str,
		quantity: { type: "integer", minimum: 1 },
		unitPriceCents: cents,
		lineTotalCents: cents
	}),
	Order: object(
		{
			id,
			userId: id,
			status: { enum: [...ORDER_STATUSES] },
			items: arrayOf(ref("OrderLine")),
			totalCents: cents,
			currency,
			payment: object({ brand: str, last4: { type: "string", pattern: "^[0-9]{4}$" } }, [
				"brand",
				"last4"
			]),
			reason: { type: "string", description: "why it was rejected or cancelled" },
			history: arrayOf(ref("OrderHistoryEntry")),
			createdAt: time,
			updatedAt: time
		},
		["payment", "reason"]
	),
	OrderHistoryEntry: object({ status: { enum: [...ORDER_STATUSES] }, at: time, reason: str }, [
		"reason"
	]),
	Tracking: object(
		{
			orderId: id,
			status: { enum: [...ORDER_STATUSES] },
			timeline: arrayOf(ref("OrderHistoryEntry")),
			shipment: { oneOf: [ref("Shipment"), { type: "null" }] },
			shipmentUnavailable: {
				const: true,
				description: "inventory did not answer: the shipment is unknown for now"
			}
		},
		["shipmentUnavailable"]
	),
	Payment: object(
		{
			id,
			orderId: id,
			userId: id,
			status: { enum: [...PAYMENT_STATUSES] },
			amountCents: cents,
			currency,
			capturedCents: cents,
			refundedCents: cents,
			brand: { enum: ["visa", "mastercard", "amex", "discover", "unknown"] },
			last4: { type: "string", pattern: "^[0-9]{4}$" },
			declineCode: { enum: [ErrorTypes.CARD_DECLINED, ErrorTypes.INSUFFICIENT_FUNDS] },
			refunds: arrayOf(object({ refundId: str, amountCents: cents, at: time })),
			history: arrayOf(object({ status: { enum: [...PAYMENT_STATUSES] }, at: time })),
			createdAt: time,
			updatedAt: time
		},
		["declineCode"]
	),
	Notification: object(
		{
			id,
			userId: id,
			kind: { enum: [...NOTIFIED_EVENTS] },
			title: str,
			body: str,
			orderId: id,
			eventId: str,
			read: { type: "boolean" },
			readAt: time,
			channels: object({
				email: { enum: ["pending", "sent", "failed", "skipped"] },
				inbox: { const: "stored" }
			}),
			deliveredVia: { enum: ["email", "inbox", null] },
			createdAt: time
		},
		["orderId", "readAt"]
	),
	UserPage: page("User"),
	ProductPage: page("Product"),
	ShipmentPage: page("Shipment"),
	OrderPage: page("Order"),
	PaymentPage: page("Payment"),
	NotificationPage: page("Notification"),
	Health: object({ status: { const: "ok" } }),
	Readiness: object({
		ready: { type: "boolean" },
		services: { type: "object", additionalProperties: { type: "boolean" } },
		missing: arrayOf(str)
	})
};

/** A request header an action reads (through the gateway's ctx.meta). */
export interface HeaderDoc {
	name: string;
	description: string;
	schema: JsonSchema;
}

/** What the document says about one published action beyond its params, auth and roles. */
export interface ActionDoc {
	summary: string;
	description?: string;
	/** Success status (default 200) and body. */
	status?: number;
	body: JsonSchema;
	/** Another success status with the same body, and when it happens. */
	alsoStatus?: { status: number; description: string };
	/** Error types the service itself throws, by HTTP status. */
	errors?: Partial<Record<number, ErrorType[]>>;
	headers?: HeaderDoc[];
}

const E = ErrorTypes;

/** Every action of the route table (services/api/routes.ts) must have an entry. */
export const ACTION_DOCS: Record<string, ActionDoc> = {
	"users.register": {
		summary: "Create a customer account",
		status: 201,
		body: ref("User"),
		errors: { 409: [E.USER_EXISTS] }
	},
	"users.login": {
		summary: "Exchange email and password for an access token",
		description:
			"Too many failed attempts for one account or from one client are refused for a while (429, `data.retryAfterSec`).",
		body: ref("Login"),
		errors: { 401: [E.INVALID_CREDENTIALS], 429: [E.RATE_LIMITED] }
	},
	"users.me": { summary: "The caller's own profile", body: ref("User") },
	"users.updateMe": {
		summary: "Change the caller's name, phone or address (other fields are ignored)",
		body: ref("User")
	},
	"users.changePassword": {
		summary: "Change the caller's password; every token issued before stops working",
		body: ref("Token"),
		errors: { 401: [E.INVALID_CREDENTIALS], 429: [E.RATE_LIMITED] }
	},
	"users.list": { summary: "List accounts", body: ref("UserPage") },

	"inventory.listProducts": {
		summary: "The catalog, paged, optionally searched by name, SKU and description",
		description:
			"`q` matches name, SKU and description (case-insensitive). Admins may pass `includeInactive` to see products that are not for sale.",
		body: ref("ProductPage")
	},
	"inventory.getProduct": {
		summary: "One product (an inactive one only for admins)",
		body: ref("Product"),
		errors: { 404: [E.PRODUCT_NOT_FOUND] }
	},
	"inventory.createProduct": {
		summary: "Add a product; the SKU is unique",
		status: 201,
		body: ref("Product"),
		errors: { 409: [E.PRODUCT_EXISTS] }
	},
	"inventory.updateProduct": {
		summary: "Change a product's SKU, name, description, price, currency or availability",
		body: ref("Product"),
		errors: { 404: [E.PRODUCT_NOT_FOUND], 409: [E.PRODUCT_EXISTS] }
	},
	"inventory.adjustStock": {
		summary: "Receive goods (positive delta) or write off stock (negative, never below 0)",
		body: ref("Product"),
		errors: { 404: [E.PRODUCT_NOT_FOUND], 409: [E.OUT_OF_STOCK] }
	},
	"inventory.listShipments": {
		summary: "The caller's shipments (admins: everyone's, filtered)",
		body: ref("ShipmentPage")
	},
	"inventory.getShipment": {
		summary: "One shipment of the caller's (admins: any)",
		body: ref("Shipment"),
		errors: { 404: [E.SHIPMENT_NOT_FOUND] }
	},
	"inventory.shipShipment": {
		summary: "The parcel left the warehouse: preparing -> shipped",
		body: ref("Shipment"),
		errors: { 404: [E.SHIPMENT_NOT_FOUND], 409: [E.INVALID_TRANSITION] }
	},
	"inventory.deliverShipment": {
		summary: "The carrier delivered it: shipped -> delivered",
		body: ref("Shipment"),
		errors: { 404: [E.SHIPMENT_NOT_FOUND], 409: [E.INVALID_TRANSITION] }
	},

	"payments.list": {
		summary: "The caller's payments (admins: everyone's), optionally of one order",
		body: ref("PaymentPage")
	},
	"payments.get": {
		summary: "One payment of the caller's (admins: any)",
		body: ref("Payment"),
		errors: { 404: [E.PAYMENT_NOT_FOUND] }
	},
	"payments.refundPayment": {
		summary: "Refund a payment, in full or in part",
		description:
			"Without `amountCents`, all that is left of the capture is refunded. Repeating a refund with the same `refundId` changes nothing.",
		body: ref("Payment"),
		errors: {
			404: [E.PAYMENT_NOT_FOUND],
			409: [E.REFUND_EXCEEDS_CAPTURE, E.PAYMENT_STATE]
		}
	},

	"orders.create": {
		summary: "Place an order: price it, reserve stock, charge the card, confirm",
		description:
			"Prices come from the catalog, never from the client. A failing step is compensated and the order ends `rejected`; the error's `data.orderId` names it.",
		status: 201,
		body: ref("Order"),
		alsoStatus: {
			status: 200,
			description: "The same `Idempotency-Key` again: the order the first request placed"
		},
		errors: {
			402: [E.CARD_DECLINED, E.INSUFFICIENT_FUNDS],
			409: [E.OUT_OF_STOCK, E.IDEMPOTENCY_CONFLICT],
			422: [E.INVALID_CARD, E.PRODUCT_NOT_FOUND, E.CURRENCY_MISMATCH]
		},
		headers: [
			{
				name: "Idempotency-Key",
				description:
					"Makes the request safe to repeat: the same key (per user) returns the first outcome; a different order under the same key is refused (409 IDEMPOTENCY_CONFLICT).",
				schema: { type: "string", minLength: 1, maxLength: 200 }
			}
		]
	},
	"orders.list": {
		summary: "The caller's orders, newest first (admins: everyone's, filtered)",
		description:
			"Admins see every user's orders and may filter by `userId`; `status` filters for everyone.",
		body: ref("OrderPage")
	},
	"orders.get": {
		summary: "One order of the caller's (admins: any)",
		body: ref("Order"),
		errors: { 404: [E.ORDER_NOT_FOUND] }
	},
	"orders.cancel": {
		summary: "Cancel before shipping: the payment is refunded and the stock returned",
		body: ref("Order"),
		errors: { 404: [E.ORDER_NOT_FOUND], 409: [E.INVALID_TRANSITION] }
	},
	"orders.tracking": {
		summary: "Timeline of every status with its time, plus the shipment",
		body: ref("Tracking"),
		errors: { 404: [E.ORDER_NOT_FOUND] }
	},

	"notifications.list": {
		summary: "The caller's notifications, newest first",
		description: "`unread=true` lists only unread ones, `unread=false` only read ones.",
		body: ref("NotificationPage")
	},
	"notifications.markRead": {
		summary: "Mark one of the caller's notifications read (idempotent)",
		body: ref("Notification"),
		errors: { 404: [E.NOT_FOUND] }
	}
};
