/**
 * orders: create orders, run their lifecycle, track them. Public routes: services/api/routes.ts.
 *
 * Placing an order prices it from inventory (never from the client) and runs the placement saga
 * (order-saga.ts): reserve stock -> authorize -> capture -> commit. Any failing step compensates
 * the ones before it. The lifecycle lives in order-state.ts; beside this file are placing
 * (placement.ts), cancelling (cancellation.ts), the saga's calls (saga-steps.ts), the queries and
 * transitions (order-repository.ts) and the recovery sweep (orders.recovery.ts).
 */
import type { Context, Service, ServiceSchema } from "moleculer";
import type { DomainEvent } from "../../contracts/events";
import {
	CardExpiryAndCvcParams,
	IdParam,
	PageParams,
	secretParam,
	textParam
} from "../../contracts/params";
import { ORDER_STATUSES, type OrderStatus } from "../../contracts/statuses";
import {
	DurableEvents,
	INBOX_INDEXES,
	type DurableEventsMethods
} from "../../platform/messaging/durable-events.mixin";
import { DbMixin, type DbMethods, type Store } from "../../platform/persistence/db.mixin";
import { settings } from "../../platform/runtime/settings";
import { startSweep } from "../../platform/runtime/sweep";
import type { AuthMeta } from "../../types/moleculer";
import { CancellationMethods, type Cancellation } from "./cancellation";
import { OrderRepositoryMethods, type OrderRepository } from "./order-repository";
import { toOrder, type RequestedItem } from "./order-state";
import { RecoveryMethods, type Recovery } from "./orders.recovery";
import { PlacementMethods, type Placement } from "./placement";
import { SagaStepMethods, type SagaStepCalls } from "./saga-steps";

const OrderItemParams = {
	type: "object",
	strict: "remove",
	props: {
		productId: IdParam,
		quantity: { type: "number", integer: true, min: 1, max: 1000 }
	}
} as const;

const PaymentParams = {
	type: "object",
	strict: "remove",
	props: {
		// Format and Luhn are checked by payments (422 INVALID_CARD); never echo the value here.
		cardNumber: secretParam(
			"cardNumber",
			23,
			v => /^[0-9 -]{12,23}$/.test(v),
			"The '{field}' field must be a card number."
		),
		...CardExpiryAndCvcParams
	}
} as const;

export interface PaymentInput {
	cardNumber: string;
	expMonth: number;
	expYear: number;
	cvc: string;
}

export interface CreateParams {
	items: RequestedItem[];
	payment: PaymentInput;
}

interface OrdersSettings {
	stuckAfterMs: number;
	recoveryIntervalMs: number;
}

export type OrdersThis = Service<OrdersSettings> &
	DbMethods &
	DurableEventsMethods &
	OrderRepository &
	SagaStepCalls &
	Placement &
	Cancellation &
	Recovery & {
		adapter: Store;
		recoveryTimer?: NodeJS.Timeout;
		idempotencyTimer?: NodeJS.Timeout;
	};

/** Methods kept in a file beside the service: `this` is the service, checked against `I`. */
export type MethodsOf<I> = {
	[K in keyof I]: I[K] extends (...args: infer A) => infer R
		? (this: OrdersThis, ...args: A) => R
		: never;
};

const OrdersService = {
	name: "orders",
	mixins: [
		DbMixin({
			indexes: [
				{ field: "userId" },
				// Conditional transitions name the id and the status: SQL alone decides them.
				{ field: "status" },
				{ field: "idempotencyKey", unique: true, sparse: true },
				// Each set only while an order needs a sweep, so the sweeps read those alone.
				{ field: "owedSince", sparse: true },
				{ field: "saga.updatedAt", sparse: true }
			],
			stores: { inbox: INBOX_INDEXES }
		}),
		// Order events leave through the order document's outbox.
		DurableEvents({ outbox: ["adapter"] })
	],

	settings: {
		/** A saga whose last step is older than this is resumed or compensated by the sweep. */
		stuckAfterMs: settings().orders.stuckAfterMs,
		recoveryIntervalMs: settings().orders.recoveryIntervalMs
	},

	actions: {
		/** For the operator console: orders by status, sagas running, compensations owed. */
		opsStats: {
			visibility: "public",
			params: {},
			async handler(this: OrdersThis) {
				return this.orderStats();
			}
		},

		/** Place an order: price it, reserve, authorize, capture, commit. */
		create: {
			auth: "required",
			params: {
				items: { type: "array", min: 1, max: 50, items: OrderItemParams },
				payment: PaymentParams
			},
			async handler(this: OrdersThis, ctx: Context<CreateParams, AuthMeta>) {
				return this.placeOrder(ctx);
			}
		},

		/** Own orders; admins see everyone's, filtered by status or user. */
		list: {
			auth: "required",
			params: {
				...PageParams,
				status: { type: "enum", values: [...ORDER_STATUSES], optional: true },
				userId: { ...IdParam, optional: true }
			},
			async handler(
				this: OrdersThis,
				ctx: Context<
					{ page: number; pageSize: number; status?: OrderStatus; userId?: string },
					AuthMeta
				>
			) {
				return this.listOrders(ctx.meta.user!, ctx.params);
			}
		},

		/** One order: its owner's or any for an admin; someone else's is a 404. */
		get: {
			auth: "required",
			params: { id: IdParam },
			async handler(this: OrdersThis, ctx: Context<{ id: string }, AuthMeta>) {
				return toOrder(await this.findOrder(ctx.params.id, ctx.meta.user));
			}
		},

		/** Cancel before shipping: the payment is refunded and the stock returned. */
		cancel: {
			auth: "required",
			params: {
				id: IdParam,
				reason: { ...textParam({ max: 200 }), optional: true }
			},
			async handler(
				this: OrdersThis,
				ctx: Context<{ id: string; reason?: string }, AuthMeta>
			) {
				return this.cancelOrder(ctx);
			}
		},

		/** Timeline of every status with its time, plus the shipment. */
		tracking: {
			auth: "required",
			params: { id: IdParam },
			async handler(this: OrdersThis, ctx: Context<{ id: string }, AuthMeta>) {
				const order = await this.findOrder(ctx.params.id, ctx.meta.user);
				let shipment = null;
				let shipmentUnavailable = false;
				try {
					shipment = await ctx.call("inventory.shipmentForOrder", {
						orderId: String(order._id)
					});
				} catch {
					shipmentUnavailable = true; // degrade: the timeline is still ours to tell
				}
				return {
					orderId: String(order._id),
					status: order.status,
					timeline: order.history,
					shipment,
					...(shipmentUnavailable ? { shipmentUnavailable } : {})
				};
			}
		},

		/** Internal: re-run the recovery sweep now (operators, tests). */
		recover: {
			visibility: "public",
			async handler(this: OrdersThis) {
				await this.recover();
				return { ok: true };
			}
		}
	},

	events: {
		// A repeated or late shipment event finds the order moved on already: nothing to do.
		"shipment.shipped": {
			params: { orderId: IdParam },
			async handler(this: OrdersThis, ctx: Context<DomainEvent<"shipment.shipped">>) {
				const { orderId, carrier, trackingNumber } = ctx.params;
				await this.advance(orderId, "shipped", {
					name: "order.shipped",
					extra: { carrier, trackingNumber }
				});
			}
		},
		"shipment.delivered": {
			params: { orderId: IdParam },
			async handler(this: OrdersThis, ctx: Context<DomainEvent<"shipment.delivered">>) {
				await this.advance(ctx.params.orderId, "delivered", { name: "order.delivered" });
			}
		}
	},

	methods: {
		...OrderRepositoryMethods,
		...SagaStepMethods,
		...PlacementMethods,
		...CancellationMethods,
		...RecoveryMethods
	},

	started(this: OrdersThis) {
		const ttl = settings().idempotencyKeyTtlMs;
		this.idempotencyTimer = startSweep(
			this.logger,
			"Idempotency key sweep",
			Math.max(1000, Math.min(Math.floor(ttl / 4), 3_600_000)),
			// The unique index holds only the keys of the window.
			() => this.forgetIdempotencyKeys(settings().idempotencyKeyTtlMs)
		);
		this.recoveryTimer = startSweep(
			this.logger,
			"Recovery sweep",
			this.settings.recoveryIntervalMs,
			() => this.recover()
		);
	},

	stopped(this: OrdersThis) {
		clearInterval(this.recoveryTimer);
		clearInterval(this.idempotencyTimer);
	}
} satisfies ServiceSchema<any, any, any, OrdersThis>;

export default OrdersService;
