/**
 * Placing an order: price it from the catalog (never from the client), record it with its
 * order.created event, run the placement saga (order-saga.ts) and record the outcome. A repeated
 * Idempotency-Key is answered with the first request's outcome. Methods of the orders service.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { Errors, type Context } from "moleculer";
import { ErrorTypes, clientError, conflict } from "../../contracts/errors";
import { nodeIsGone } from "../../platform/messaging/liveness";
import { isDuplicateKeyError } from "../../platform/persistence/db.mixin";
import { settings } from "../../platform/runtime/settings";
import type { AuthMeta } from "../../types/moleculer";
import type { CreateParams, MethodsOf, PaymentInput } from "./orders.service";
import { runPlacementSaga, type SagaOutcome } from "./order-saga";
import {
	isKeyExpired,
	priceOrder,
	requestFingerprint,
	toOrder,
	type CatalogProduct,
	type OrderDoc,
	type OrderView
} from "./order-state";

export interface Placement {
	/** Price, record and run the saga; a rejection is the failing step's own error type. */
	placeOrder(ctx: Context<CreateParams, AuthMeta>): Promise<OrderView>;
	/**
	 * Answer a repeated Idempotency-Key with the first request's outcome. With the request's
	 * card, a saga whose node is gone is taken over and finished here instead of waited for.
	 */
	replay(
		existing: OrderDoc,
		fingerprint: string,
		request?: { card: PaymentInput; ctx: Context<CreateParams, AuthMeta> }
	): Promise<OrderView>;
	/** Record what the saga came to: confirmed (201), or rejected with the step's error. */
	settlePlacement(
		order: OrderDoc,
		outcome: SagaOutcome,
		fingerprint: string,
		ctx: Context<CreateParams, AuthMeta>
	): Promise<OrderView>;
	/** The saga of `order` runs on another node that is surely gone (not merely slow). */
	sagaOrphaned(order: OrderDoc): Promise<boolean>;
}

export const PlacementMethods = {
	async placeOrder(ctx) {
		const user = ctx.meta.user!;
		const fingerprint = requestFingerprint(ctx.params.items);
		const idempotencyKey = ctx.meta.idempotencyKey
			? `${user.id}:${ctx.meta.idempotencyKey}`
			: undefined;
		const request = { card: ctx.params.payment, ctx };
		if (idempotencyKey) {
			const existing = await this.findByIdempotencyKey(idempotencyKey);
			if (existing) {
				// A key is remembered for IDEMPOTENCY_KEY_TTL_MS, to the millisecond: an older
				// one is let go here (the sweep lets go of the others) and the request is new.
				if (!isKeyExpired(existing, Date.now(), settings().idempotencyKeyTtlMs))
					return this.replay(existing, fingerprint, request);
				await this.forgetIdempotencyKey(existing, idempotencyKey);
			}
		}

		const ids = [...new Set(ctx.params.items.map(i => i.productId))];
		const catalog = await ctx.call<CatalogProduct[], { ids: string[] }>(
			"inventory.getProducts",
			{ ids }
		);
		const priced = priceOrder(ctx.params.items, catalog);
		if (!priced.ok) {
			if (priced.reason === "PRODUCT_NOT_FOUND")
				throw clientError(
					"Some products do not exist or are not for sale",
					422,
					ErrorTypes.PRODUCT_NOT_FOUND,
					{ products: priced.productIds }
				);
			throw clientError(
				"All products of one order must share a currency",
				422,
				ErrorTypes.CURRENCY_MISMATCH,
				{ currencies: priced.currencies }
			);
		}

		let order: OrderDoc;
		try {
			order = await this.insertOrder(
				{
					userId: user.id,
					status: "pending",
					items: priced.items,
					totalCents: priced.totalCents,
					currency: priced.currency
				},
				fingerprint,
				idempotencyKey
			);
		} catch (err) {
			// The same key arrived twice at once: answer like the first one.
			if (idempotencyKey && isDuplicateKeyError(err))
				return this.replay(
					(await this.findByIdempotencyKey(idempotencyKey))!,
					fingerprint,
					request
				);
			throw err;
		}

		const outcome = await runPlacementSaga(this.sagaSteps(order, ctx.params.payment, ctx));
		return this.settlePlacement(order, outcome, fingerprint, ctx);
	},

	async settlePlacement(order, outcome, fingerprint, ctx) {
		if (outcome.ok) {
			const card = outcome.payment as { brand?: string; last4?: string } | undefined;
			const confirmed = await this.confirm(order, card);
			// Settled meanwhile by the recovery sweep (the saga outlived ORDER_STUCK_AFTER_MS):
			// answer with what the sweep decided.
			if (!confirmed)
				return this.replay((await this.findById(String(order._id))) ?? order, fingerprint);
			ctx.meta.$statusCode = 201;
			ctx.meta.$location = `/api/orders/${String(order._id)}`;
			return toOrder(confirmed);
		}

		const { error } = outcome;
		const business = REJECTION_STATUS[error.type] !== undefined;
		await this.reject(
			order,
			business ? error.type : ErrorTypes.SERVICE_UNAVAILABLE,
			outcome.pendingCompensations
		);
		throw rejectionError(String(order._id), error);
	},

	async replay(existing, fingerprint, request) {
		if (existing.fingerprint !== fingerprint)
			throw conflict(
				"This Idempotency-Key was used for a different order",
				ErrorTypes.IDEMPOTENCY_CONFLICT
			);
		let order = existing;
		// The first request is still running: wait for its outcome (bounded), or finish it here
		// when its node is gone (every step is idempotent per order; the claim lets one in).
		for (let i = 0; i < 100 && order.status === "pending"; i++) {
			if (request && i % 10 === 0 && (await this.sagaOrphaned(order))) {
				const claimed = await this.claimSaga(order);
				if (claimed && claimed.saga.step !== "done") {
					this.logger.warn(
						`Order ${String(order._id)}: its node is gone, saga taken over`
					);
					const steps = this.sagaSteps(claimed, request.card, request.ctx);
					const outcome = await runPlacementSaga(steps, claimed.saga.step);
					return this.settlePlacement(claimed, outcome, fingerprint, request.ctx);
				}
			}
			await sleep(100);
			order = (await this.findById(String(existing._id))) ?? order;
		}
		if (order.status === "pending")
			throw conflict(
				"An order with this Idempotency-Key is still being placed",
				ErrorTypes.IDEMPOTENCY_CONFLICT,
				{ orderId: String(order._id) }
			);
		if (order.status === "rejected")
			throw rejectionError(String(order._id), {
				message: `Order was rejected: ${order.reason}`,
				code: REJECTION_STATUS[order.reason ?? ""] ?? 503,
				type: order.reason ?? ErrorTypes.SERVICE_UNAVAILABLE
			});
		return toOrder(order);
	},

	sagaOrphaned(order) {
		return nodeIsGone(this.broker, order.saga.node);
	}
} satisfies MethodsOf<Placement>;

/** The business refusals of the saga's steps, with the status the client gets for each. */
const REJECTION_STATUS: Record<string, number> = {
	OUT_OF_STOCK: 409,
	CARD_DECLINED: 402,
	INSUFFICIENT_FUNDS: 402,
	INVALID_CARD: 422
};

/** The client's view of a rejected order: the step's own error type and status, plus the order id. */
function rejectionError(
	orderId: string,
	error: { message: string; code: number; type: string; data?: unknown }
) {
	const status = REJECTION_STATUS[error.type];
	if (status === undefined)
		return new Errors.MoleculerError(
			"A service needed to place the order is not available",
			503,
			ErrorTypes.SERVICE_UNAVAILABLE,
			{ orderId }
		);
	const extra =
		error.type === "INVALID_CARD"
			? { fields: Array.isArray(error.data) ? error.data : [] }
			: error.data && typeof error.data === "object" && !Array.isArray(error.data)
				? error.data
				: {};
	return clientError(error.message, status, error.type as never, { ...extra, orderId });
}
