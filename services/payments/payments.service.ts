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
 * same key (operations.ts; PendingOperation in payment-state.ts).
 */
import { PAYMENT_STATUSES, type PaymentStatus } from "../../contracts/statuses";
import { setTimeout as sleep } from "node:timers/promises";
import { randomUUID } from "node:crypto";
import { Errors, type Context, type Service, type ServiceSchema } from "moleculer";
import { DbMixin, isDuplicateKeyError, type DbMethods } from "../../platform/persistence/db.mixin";
import { nowIso } from "../../platform/runtime/clock";
import {
	ErrorTypes,
	clientError,
	conflict,
	forbidden,
	notFound,
	unauthorized
} from "../../contracts/errors";
import {
	DurableEvents,
	type DurableEventsMethods,
	type OutboxEntry
} from "../../platform/messaging/durable-events.mixin";
import type { AuthMeta, AuthUser } from "../../types/moleculer";
import {
	cardBrand,
	cardProblem,
	last4,
	normalizeCardNumber,
	refundFits,
	refundable
} from "./card-rules";
import {
	clientRefundId,
	operationKey,
	paymentEvent,
	sameRefund,
	shownRefundId,
	toPayment,
	wasCaptured,
	type DeclineCode,
	type Payment,
	type PaymentDoc,
	type PendingOperation
} from "./payment-state";
import { CurrencyParam, IdParam, PageParams, secretParam } from "../../contracts/params";
import { settings } from "../../platform/runtime/settings";
import { startSweep } from "../../platform/runtime/sweep";
import { OperationMethods } from "./operations";
import { createProcessor, type CardDetails, type CardProcessor } from "./processor";

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
		expMonth: { type: "number", integer: true, min: 1, max: 12 },
		expYear: { type: "number", integer: true, min: 2000, max: 2100 },
		cvc: secretParam(
			"cvc",
			4,
			v => /^[0-9]{3,4}$/.test(v),
			"The '{field}' field must be 3 or 4 digits."
		)
	}
} as const;

/** Conditional updates that lose a race are decided again this many times. */
const MAX_ATTEMPTS = 10;

interface AuthorizeParams {
	orderId: string;
	userId: string;
	amountCents: number;
	currency: string;
	card: CardDetails;
}

interface RefundInput {
	orderId: string;
	amountCents?: number;
	refundId?: string;
}

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

export type PaymentsThis = Service<PaymentsSettings> &
	DbMethods &
	DurableEventsMethods &
	PaymentsVars;
interface PaymentsVars {
	adapter: any;
	processor: CardProcessor;
	recoveryTimer?: NodeJS.Timeout;
	findByOrder(orderId: string): Promise<PaymentDoc | null>;
	findPaymentById(id: string): Promise<PaymentDoc | null>;
	findOwned(id: string, user: AuthUser | undefined): Promise<PaymentDoc>;
	authorizePayment(ctx: Context<AuthorizeParams>): Promise<Payment>;
	resumeAuthorization(ctx: Context<AuthorizeParams>): Promise<Payment>;
	runAuthorization(doc: PaymentDoc, ctx: Context<AuthorizeParams>): Promise<Payment>;
	capturePayment(ctx: Context, orderId: string): Promise<Payment>;
	voidPayment(ctx: Context, orderId: string): Promise<{ orderId: string; status: string }>;
	refundOrder(ctx: Context, input: RefundInput): Promise<Payment>;
	settledPayment(orderId: string): Promise<PaymentDoc | null>;
	operate(
		doc: PaymentDoc,
		operation: Omit<PendingOperation, "lockedUntil">
	): Promise<PaymentDoc | null>;
	resumeOperation(doc: PaymentDoc): Promise<boolean>;
	claimOperation(
		query: Record<string, unknown>,
		operation: Omit<PendingOperation, "lockedUntil">
	): Promise<PaymentDoc | null>;
	completeOperation(doc: PaymentDoc, op: PendingOperation): Promise<PaymentDoc | null>;
	recoverOperations(): Promise<number>;
	processorFailed(operation: string, orderId: string, err: unknown): Error;
	transition(
		orderId: string,
		from: PaymentStatus,
		to: PaymentStatus,
		set?: Record<string, unknown>,
		event?: OutboxEntry
	): Promise<PaymentDoc | null>;
}

function declineError(code: DeclineCode, orderId: string) {
	const message =
		code === "INSUFFICIENT_FUNDS" ? "The card has insufficient funds" : "The card was declined";
	return clientError(message, 402, ErrorTypes[code], { orderId });
}

function stateError(doc: PaymentDoc, action: string) {
	return conflict(`A ${doc.status} payment cannot be ${action}`, ErrorTypes.PAYMENT_STATE, {
		orderId: doc.orderId,
		status: doc.status
	});
}

const paymentNotFound = () => notFound("Payment not found", ErrorTypes.PAYMENT_NOT_FOUND);

/** Lost the race MAX_ATTEMPTS times in a row: the caller may simply try again. */
const contention = (orderId: string) =>
	conflict(
		"The payment is being changed by another request; try again",
		ErrorTypes.PAYMENT_STATE,
		{
			orderId
		}
	);

/** A repeated authorize: the answer the first one gave. */
function authorizationOutcome(doc: PaymentDoc): Payment {
	if (doc.status === "declined")
		throw declineError(doc.declineCode ?? "CARD_DECLINED", doc.orderId);
	if (doc.status === "voided") throw stateError(doc, "authorized again");
	return toPayment(doc);
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
				// Only payments with an operation in progress have it: the sweep reads those alone
				// (a scan of 100 000 payments held the event loop for ~80 ms).
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
			async handler(this: PaymentsThis) {
				const count = (query: Record<string, unknown>) => this.adapter.count({ query });
				const byStatus: Record<string, number> = {};
				for (const status of PAYMENT_STATUSES) byStatus[status] = await count({ status });
				return {
					byStatus,
					pendingOperations: await count({ "operation.lockedUntil": { $gte: 0 } })
				};
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
				return this.capturePayment(ctx, ctx.params.orderId);
			}
		},

		/** Internal: release an authorization. Safe to call blindly (compensation). */
		void: {
			visibility: "public",
			params: { orderId: IdParam },
			async handler(this: PaymentsThis, ctx: Context<{ orderId: string }>) {
				return this.voidPayment(ctx, ctx.params.orderId);
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
				return this.refundOrder(ctx, { orderId, amountCents, refundId });
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
				const { page, pageSize, orderId } = ctx.params;
				const user = ctx.meta.user;
				if (!user) throw unauthorized();
				const query: Record<string, unknown> = {};
				if (user.role !== "admin") query.userId = user.id;
				if (orderId) query.orderId = orderId;
				return this.findPage(
					this.adapter,
					query,
					{ page, pageSize, sort: ["-createdAt"] },
					toPayment
				);
			}
		},

		/** One payment: its owner's or, for admins, anyone's. */
		get: {
			auth: "required",
			params: { id: IdParam },
			async handler(this: PaymentsThis, ctx: Context<{ id: string }, AuthMeta>) {
				return toPayment(await this.findOwned(ctx.params.id, ctx.meta.user));
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
				return this.refundOrder(ctx, {
					orderId: doc.orderId,
					amountCents,
					refundId: clientRefundId(
						refundId ?? (amountCents == null ? "full" : randomUUID())
					)
				});
			}
		}
	},

	methods: {
		async findByOrder(this: PaymentsThis, orderId: string) {
			const doc = await this.adapter.findOne({ orderId });
			return doc ? this.toJSON<PaymentDoc>(this.adapter, doc) : null;
		},

		/** The payment if `user` owns it or is an admin; not found otherwise. */
		async findOwned(this: PaymentsThis, id: string, user: AuthUser | undefined) {
			if (!user) throw unauthorized();
			const doc = await this.findPaymentById(id);
			if (!doc || (user.role !== "admin" && doc.userId !== user.id)) throw paymentNotFound();
			return doc;
		},

		async findPaymentById(this: PaymentsThis, id: string) {
			const doc = await this.adapter.findById(id).catch(() => null);
			return doc ? this.toJSON<PaymentDoc>(this.adapter, doc) : null;
		},

		/**
		 * Conditional status change with a history entry and, when given, its event in the same
		 * atomic update (relayed right after); the updated payment or null.
		 */
		async transition(
			this: PaymentsThis,
			orderId: string,
			from: PaymentStatus,
			to: PaymentStatus,
			set: Record<string, unknown> = {},
			event?: OutboxEntry
		) {
			const at = nowIso();
			const doc = await this.updateWithEvent(
				"adapter",
				{ orderId, status: from },
				{
					$set: { ...set, status: to, updatedAt: at },
					$unset: { lockedUntil: true },
					$push: { history: { status: to, at } }
				},
				event
			);
			return doc ? this.toJSON<PaymentDoc>(this.adapter, doc) : null;
		},

		/**
		 * Record the payment as pending first (the unique orderId makes a second call a retry),
		 * then ask the processor.
		 */
		async authorizePayment(this: PaymentsThis, ctx: Context<AuthorizeParams>) {
			const { orderId, userId, amountCents, currency, card } = ctx.params;
			const problem = cardProblem(card);
			if (problem)
				throw clientError(problem.message, 422, ErrorTypes.INVALID_CARD, [
					{ type: problem.type, field: problem.field, message: problem.message }
				]);
			const number = normalizeCardNumber(card.number)!;
			const at = nowIso();
			const doc = {
				orderId,
				userId,
				status: "pending",
				amountCents,
				currency,
				capturedCents: 0,
				refundedCents: 0,
				brand: cardBrand(number),
				last4: last4(number),
				refunds: [],
				history: [{ status: "pending", at }],
				lockedUntil: Date.now() + this.settings.pendingLeaseMs,
				createdAt: at,
				updatedAt: at
			};
			let pending: PaymentDoc;
			try {
				pending = this.toJSON(this.adapter, await this.adapter.insert(doc));
			} catch (err) {
				if (isDuplicateKeyError(err)) return this.resumeAuthorization(ctx);
				throw err;
			}
			return this.runAuthorization(pending, ctx);
		},

		/** A repeated authorize: wait for the first one, or take over a pending one it left. */
		async resumeAuthorization(this: PaymentsThis, ctx: Context<AuthorizeParams>) {
			const { orderId, userId, amountCents, currency } = ctx.params;
			const deadline = Date.now() + this.settings.pendingWaitMs;
			for (;;) {
				const doc = await this.findByOrder(orderId);
				if (doc) {
					if (
						doc.userId !== userId ||
						doc.amountCents !== amountCents ||
						doc.currency !== currency
					)
						throw conflict(
							"This order already has a payment with other details",
							ErrorTypes.IDEMPOTENCY_CONFLICT,
							{ orderId }
						);
					if (doc.status !== "pending") return authorizationOutcome(doc);
					const lockedUntil = doc.lockedUntil ?? 0;
					if (lockedUntil <= Date.now()) {
						// Its first caller died or failed: this call finishes the authorization. The
						// processor answers a repeated idempotency key as it did the first time.
						const taken = await this.updateOne(
							this.adapter,
							{ orderId, status: "pending", lockedUntil },
							{ $set: { lockedUntil: Date.now() + this.settings.pendingLeaseMs } }
						);
						if (taken)
							return this.runAuthorization(this.toJSON(this.adapter, taken), ctx);
						continue;
					}
				}
				if (Date.now() >= deadline)
					throw new Errors.MoleculerRetryableError(
						"The payment of this order is still being authorized",
						503,
						ErrorTypes.SERVICE_UNAVAILABLE,
						{ orderId }
					);
				await sleep(25);
			}
		},

		/** Ask the processor for a pending payment, and record its answer. */
		async runAuthorization(this: PaymentsThis, doc: PaymentDoc, ctx: Context<AuthorizeParams>) {
			const { orderId } = doc;
			const { number, expMonth, expYear, cvc } = ctx.params.card;
			let result;
			try {
				result = await this.processor.authorize({
					amountCents: doc.amountCents,
					currency: doc.currency,
					card: { number, expMonth, expYear, cvc },
					idempotencyKey: orderId
				});
			} catch (err) {
				// Release it at once: a retry asks the processor again with the same key.
				await this.updateOne(
					this.adapter,
					{ orderId, status: "pending" },
					{ $set: { lockedUntil: 0 } }
				).catch(() => null);
				throw this.processorFailed("authorize", orderId, err);
			}

			// The processor has answered: the outcome and its event are written together.
			const outcomeEvent = (status: "declined" | "authorized", reason?: string) =>
				this.outboxEntry(
					`payment.${status}`,
					paymentEvent({ ...doc, status }, reason),
					`payment:${doc._id}:${status}`
				);
			if (!result.ok) {
				await this.transition(
					orderId,
					"pending",
					"declined",
					{ declineCode: result.code },
					outcomeEvent("declined", result.code)
				);
				throw declineError(result.code, orderId);
			}

			const authorized = await this.transition(
				orderId,
				"pending",
				"authorized",
				{ authorizationId: result.authorizationId },
				outcomeEvent("authorized")
			);
			if (authorized) return toPayment(authorized);

			// Settled meanwhile: by another call of the same request (same answer), or by a void,
			// in which case this late authorization must not hold the customer's money.
			const current = (await this.findByOrder(orderId))!;
			if (current.status === "voided")
				await this.processor
					.void(result.authorizationId, operationKey("void", orderId))
					.catch(err => {
						this.logger.warn(
							`Order ${orderId}: voiding a late authorization failed (${(err as Error).name})`
						);
					});
			return authorizationOutcome(current);
		},

		async capturePayment(this: PaymentsThis, ctx: Context, orderId: string) {
			for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
				const doc = await this.settledPayment(orderId);
				if (!doc) throw paymentNotFound();
				if (wasCaptured(doc.status)) return toPayment(doc);
				if (doc.status !== "authorized") throw stateError(doc, "captured");
				const captured = await this.operate(doc, {
					kind: "capture",
					key: operationKey("capture", orderId)
				});
				if (captured) return toPayment(captured);
			}
			throw contention(orderId);
		},

		async voidPayment(this: PaymentsThis, ctx: Context, orderId: string) {
			for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
				const doc = await this.settledPayment(orderId);
				if (!doc) return { orderId, status: "none" };
				if (doc.status === "voided" || doc.status === "declined")
					return { orderId, status: doc.status };
				if (doc.status !== "authorized" && doc.status !== "pending")
					throw stateError(doc, "voided");

				// A pending one holds nothing yet: it is voided here, and its authorization, when
				// it comes, is voided at the processor then (runAuthorization).
				const voided =
					doc.status === "pending"
						? await this.transition(
								orderId,
								"pending",
								"voided",
								{},
								this.outboxEntry(
									"payment.voided",
									paymentEvent({ ...doc, status: "voided" }),
									`payment:${doc._id}:voided`
								)
							)
						: await this.operate(doc, {
								kind: "void",
								key: operationKey("void", orderId)
							});
				if (voided) return { orderId, status: voided.status };
			}
			throw contention(orderId);
		},

		/**
		 * The refund starts only on the refunded total read, and nothing else changes the payment
		 * while it is made (PendingOperation), so refunds can never add up to more than the
		 * capture.
		 */
		async refundOrder(this: PaymentsThis, ctx: Context, input: RefundInput) {
			const { orderId, amountCents } = input;
			// A full refund without an id is "full": repeating it changes nothing.
			const refundId = input.refundId ?? (amountCents == null ? "full" : randomUUID());
			for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
				const doc = await this.settledPayment(orderId);
				if (!doc) throw paymentNotFound();
				// The same id again: the same refund is answered as it was; different parameters
				// under one id are a conflict, never silently the first refund's.
				const known = doc.refunds.find(r => r.refundId === refundId);
				if (known) {
					if (sameRefund(known, amountCents)) return toPayment(doc);
					throw conflict(
						"This refund id was used for a different refund",
						ErrorTypes.IDEMPOTENCY_CONFLICT,
						{ orderId, refundId: shownRefundId(refundId) }
					);
				}
				if (!wasCaptured(doc.status)) throw stateError(doc, "refunded");

				const left = refundable(doc.capturedCents, doc.refundedCents);
				if (amountCents == null && left === 0) return toPayment(doc); // nothing left
				const amount = amountCents ?? left;
				if (!refundFits(doc.capturedCents, doc.refundedCents, amount))
					throw conflict(
						"The refund exceeds what is left of the capture",
						ErrorTypes.REFUND_EXCEEDS_CAPTURE,
						{
							orderId,
							capturedCents: doc.capturedCents,
							refundedCents: doc.refundedCents,
							refundableCents: left
						}
					);
				const refunded = await this.operate(doc, {
					kind: "refund",
					key: operationKey("refund", orderId, refundId),
					refund: {
						refundId,
						amountCents: amount,
						...(amountCents == null ? { full: true } : {})
					}
				});
				if (refunded) return toPayment(refunded);
				// Another change came first: decide again on the new total.
				await sleep(Math.floor(Math.random() * 5 * (attempt + 1)));
			}
			throw contention(orderId);
		},
		...OperationMethods
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
