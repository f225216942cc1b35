/**
 * payments: authorizes cards, captures, voids and refunds. Public routes: services/api/routes.ts
 * (list, get, refundPayment); authorize, capture, void, refund and forOrder are internal, for
 * orders.
 *
 * Owns the `payments` database: one payment per order (unique orderId), which makes every
 * operation idempotent per order. Of a card only brand and last4 are kept: the number and the
 * CVC go to the processor and nowhere else (no document, log line, error, event or trace span).
 *
 * Every change is a conditional update on the state read (the status, and for refunds the
 * refunded total), so concurrent calls cannot both win. A capture, void or refund is written as
 * the payment's pending operation first, then asked of the processor under an idempotency key,
 * then recorded with its event in one update: a crash or a processor failure in between leaves
 * the operation, and the next call for the payment or the recovery sweep finishes it under the
 * same key.
 *
 * Beside this file: authorization.ts and payment-changes.ts (the flows), operations.ts (the
 * operation protocol), payments.recovery.ts (the sweep), payment-repository.ts (every query and
 * update), payment-state.ts and card-rules.ts (pure rules), payment-errors.ts, processor.ts.
 */
import type { Context, Service, ServiceSchema } from "moleculer";
import {
	CardExpiryAndCvcParams,
	CurrencyParam,
	IdParam,
	PageParams,
	secretParam
} from "../../contracts/params";
import { forbidden, unauthorized } from "../../contracts/errors";
import { DbMixin, type DbMethods, type Store } from "../../platform/persistence/db.mixin";
import {
	DurableEvents,
	type DurableEventsMethods
} from "../../platform/messaging/durable-events.mixin";
import { settings } from "../../platform/runtime/settings";
import { startSweep } from "../../platform/runtime/sweep";
import type { AuthMeta } from "../../types/moleculer";
import { AuthorizationMethods, type AuthorizeParams } from "./authorization";
import { OperationMethods } from "./operations";
import { paymentNotFound } from "./payment-errors";
import { ChangeMethods, type RefundInput } from "./payment-changes";
import { PaymentRepository } from "./payment-repository";
import { RecoveryMethods } from "./payments.recovery";
import { clientRefundId, defaultRefundId, toPayment, type Payment } from "./payment-state";
import { createProcessor, type CardProcessor } from "./processor";

const CentsParam = {
	type: "number",
	integer: true,
	positive: true,
	max: Number.MAX_SAFE_INTEGER
} as const;
/** A client's refund id (stored in its own namespace, payment-state.ts CLIENT_REFUND_PREFIX). */
const RefundIdParam = {
	type: "string",
	min: 1,
	max: 64,
	pattern: "^[A-Za-z0-9._-]+$",
	optional: true
} as const;
/** The system's own refund ids (the order flows'): plain words, never in the client namespace. */
const SystemRefundIdParam = {
	type: "string",
	min: 1,
	max: 32,
	pattern: "^[a-z][a-z0-9-]*$",
	optional: true
} as const;

const CardParams = {
	type: "object",
	strict: "remove",
	props: {
		// Format and checksum are checked by the handler, which answers 422 INVALID_CARD.
		number: secretParam(
			"cardNumber",
			64,
			v => v.length >= 1 && v.length <= 64,
			"The '{field}' field must be a card number."
		),
		...CardExpiryAndCvcParams
	}
} as const;

interface PaymentsSettings {
	/** How long a repeated authorize waits for the first one to finish. */
	pendingWaitMs: number;
	/**
	 * How long an authorizing call owns a pending payment, and a capture, void or refund its
	 * pending operation, before another call may take it over.
	 */
	pendingLeaseMs: number;
	/** How often the sweep finishes the operations that callers left. */
	recoveryIntervalMs: number;
}

type RepositoryMethods = typeof PaymentRepository;
type AuthorizeMethods = typeof AuthorizationMethods;
type ChangesMethods = typeof ChangeMethods;
type ProtocolMethods = typeof OperationMethods;
type SweepMethods = typeof RecoveryMethods;

/** The service as its methods see it: the mixins' methods and those of the files beside it. */
export interface PaymentsThis
	extends
		Service<PaymentsSettings>,
		DbMethods,
		DurableEventsMethods,
		RepositoryMethods,
		AuthorizeMethods,
		ChangesMethods,
		ProtocolMethods,
		SweepMethods {
	adapter: Store;
	processor: CardProcessor;
	recoveryTimer?: NodeJS.Timeout;
}

const PaymentsService = {
	name: "payments",
	mixins: [
		DbMixin({
			indexes: [
				{ field: "orderId", unique: true },
				{ field: "userId" },
				// Conditional changes name the order and the status or operation: SQL alone decides.
				{ field: "status" },
				{ field: "operation.key", sparse: true },
				// Only payments with an operation in progress have it: the sweep reads those alone,
				// never a scan of every payment.
				{ field: "operation.lockedUntil", sparse: true }
			]
		}),
		// Payment events leave through the payment document's outbox.
		DurableEvents({ outbox: ["adapter"] })
	],

	settings: {
		pendingWaitMs: 3_000,
		pendingLeaseMs: settings().payments.leaseMs,
		recoveryIntervalMs: settings().payments.recoveryIntervalMs
	},

	actions: {
		/** For the operator console: payments by status, and those with an operation under way. */
		opsStats: {
			visibility: "public",
			params: {},
			handler(this: PaymentsThis) {
				return this.paymentStats();
			}
		},

		/** Internal: authorize the order's amount on a card. Idempotent per order. */
		authorize: {
			visibility: "public",
			// Trace spans record these params only: never the card.
			tracing: { tags: { params: ["orderId", "userId", "amountCents", "currency"] } },
			params: {
				orderId: IdParam,
				userId: IdParam,
				amountCents: CentsParam,
				currency: CurrencyParam,
				card: CardParams
			},
			async handler(this: PaymentsThis, ctx: Context<AuthorizeParams>): Promise<Payment> {
				return this.authorizePayment(ctx);
			}
		},

		/** Internal: capture the authorized amount. Idempotent. */
		capture: {
			visibility: "public",
			params: { orderId: IdParam },
			async handler(this: PaymentsThis, ctx: Context<{ orderId: string }>) {
				return this.capturePayment(ctx.params.orderId);
			}
		},

		/** Internal: release an authorization. Safe to call blindly (compensation). */
		void: {
			visibility: "public",
			params: { orderId: IdParam },
			async handler(this: PaymentsThis, ctx: Context<{ orderId: string }>) {
				return this.voidPayment(ctx.params.orderId);
			}
		},

		/** Internal: refund all that is left (default) or a part. Idempotent per refundId. */
		refund: {
			visibility: "public",
			params: {
				orderId: IdParam,
				amountCents: { ...CentsParam, optional: true },
				refundId: SystemRefundIdParam
			},
			async handler(this: PaymentsThis, ctx: Context<RefundInput>) {
				const { orderId, amountCents, refundId } = ctx.params;
				return this.refundOrder({ orderId, amountCents, refundId });
			}
		},

		/** Internal: the order's payment, or null. */
		forOrder: {
			visibility: "public",
			params: { orderId: IdParam },
			async handler(this: PaymentsThis, ctx: Context<{ orderId: string }>) {
				const doc = await this.findByOrder(ctx.params.orderId);
				return doc ? toPayment(doc) : null;
			}
		},

		/** Internal: run the recovery sweep now (operators, tests); how many it finished. */
		recover: {
			visibility: "public",
			async handler(this: PaymentsThis) {
				return { finished: await this.recoverOperations() };
			}
		},

		/** The caller's payments (admins: everyone's), optionally of one order. */
		list: {
			auth: "required",
			params: { ...PageParams, orderId: { ...IdParam, optional: true } },
			async handler(
				this: PaymentsThis,
				ctx: Context<{ page: number; pageSize: number; orderId?: string }, AuthMeta>
			) {
				if (!ctx.meta.user) throw unauthorized();
				return this.paymentPage(ctx.meta.user, ctx.params);
			}
		},

		/** One payment: its owner's or, for admins, anyone's. */
		get: {
			auth: "required",
			params: { id: IdParam },
			async handler(this: PaymentsThis, ctx: Context<{ id: string }, AuthMeta>) {
				if (!ctx.meta.user) throw unauthorized();
				return toPayment(await this.ownPayment(ctx.params.id, ctx.meta.user));
			}
		},

		/** Admin: refund a payment, all that is left or a part. */
		refundPayment: {
			auth: "required",
			roles: ["admin"],
			params: {
				$$strict: "remove",
				id: IdParam,
				amountCents: { ...CentsParam, optional: true },
				refundId: RefundIdParam
			},
			async handler(
				this: PaymentsThis,
				ctx: Context<{ id: string; amountCents?: number; refundId?: string }, AuthMeta>
			) {
				// The gateway checks the role; so does this action, whoever calls it.
				if (ctx.meta.user?.role !== "admin") throw forbidden();
				const doc = await this.findPaymentById(ctx.params.id);
				if (!doc) throw paymentNotFound();
				// The client's id, or one made for it, in the client namespace: never the system's.
				const { amountCents, refundId } = ctx.params;
				return this.refundOrder({
					orderId: doc.orderId,
					amountCents,
					refundId: clientRefundId(defaultRefundId(refundId, amountCents))
				});
			}
		}
	},

	methods: {
		...PaymentRepository,
		...AuthorizationMethods,
		...ChangeMethods,
		...OperationMethods,
		...RecoveryMethods
	},

	created(this: PaymentsThis) {
		this.processor = createProcessor();
	},

	started(this: PaymentsThis) {
		this.recoveryTimer = startSweep(
			this.logger,
			"Recovery sweep",
			this.settings.recoveryIntervalMs,
			() => this.recoverOperations()
		);
	},

	stopped(this: PaymentsThis) {
		clearInterval(this.recoveryTimer);
	}
} satisfies ServiceSchema<PaymentsSettings, any, any, PaymentsThis>;

export default PaymentsService;
