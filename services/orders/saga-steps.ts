/**
 * The placement saga's steps (order-saga.ts runs them) as calls to inventory and payments, each
 * idempotent per orderId on the other side, and the compensations an order still owes. Methods
 * of the orders service.
 */
import { Errors, type Context } from "moleculer";
import { ErrorTypes } from "../../contracts/errors";
import type { MethodsOf, PaymentInput } from "./orders.service";
import { compensate, type SagaSteps } from "./order-saga";
import type { OrderDoc, PendingAction } from "./order-state";

export interface SagaStepCalls {
	/** The saga's steps for one order; without a card (after a restart) authorizing fails. */
	sagaSteps(order: OrderDoc, card: PaymentInput | null, ctx?: Context): SagaSteps;
	/** Run owed compensations; returns the ones still owed. */
	compensateOwed(order: OrderDoc, actions: PendingAction[]): Promise<PendingAction[]>;
}

export const SagaStepMethods = {
	sagaSteps(order, card, ctx) {
		const orderId = String(order._id);
		// Through the request's context when there is one, so tracing and request ids follow.
		const call = (action: string, params: Record<string, unknown>) =>
			ctx ? ctx.call(action, params) : this.broker.call(action, params);
		return {
			reserve: () =>
				call("inventory.reserve", {
					orderId,
					items: order.items.map(i => ({ productId: i.productId, quantity: i.quantity }))
				}),
			authorize: () => {
				if (!card)
					throw new Errors.MoleculerError(
						"Card details are gone after a restart",
						410,
						"SAGA_ABORTED"
					);
				return call("payments.authorize", {
					orderId,
					userId: order.userId,
					amountCents: order.totalCents,
					currency: order.currency,
					card: {
						number: card.cardNumber,
						expMonth: card.expMonth,
						expYear: card.expYear,
						cvc: card.cvc
					}
				});
			},
			capture: () => call("payments.capture", { orderId }),
			commit: () => call("inventory.commit", { orderId }),
			release: async () => {
				try {
					await call("inventory.release", { orderId });
				} catch (err) {
					// Committed meanwhile (a resumed saga got further): give the units back.
					if ((err as { type?: string }).type !== ErrorTypes.INVALID_TRANSITION)
						throw err;
					await call("inventory.restock", { orderId });
				}
			},
			cancelPayment: async () => {
				try {
					await call("payments.void", { orderId });
				} catch (err) {
					// Already captured: give the money back instead.
					if ((err as { type?: string }).type !== ErrorTypes.PAYMENT_STATE) throw err;
					await call("payments.refund", { orderId, refundId: "saga" });
				}
			},
			onStep: async step => {
				// Only the step where recovery changes its mind is written (see recoveryPlan()):
				// before capture it compensates, from capture on it resumes. The insert wrote
				// "reserve"; one write per order instead of four.
				if (step === "capture") await this.recordSagaStep(order, step);
			}
		};
	},

	async compensateOwed(order, actions) {
		const orderId = String(order._id);
		const steps = this.sagaSteps(order, null);
		const left: PendingAction[] = [];
		for (const action of actions) {
			try {
				if (action === "refund")
					await this.broker.call("payments.refund", { orderId, refundId: "cancel" });
				else if (action === "restock")
					await this.broker.call("inventory.restock", { orderId });
				else left.push(...(await compensate(steps, [action])));
			} catch (err) {
				this.logger.warn(
					`Order ${orderId}: '${action}' failed, will retry:`,
					(err as Error).message
				);
				left.push(action);
			}
		}
		return left;
	}
} satisfies MethodsOf<SagaStepCalls>;
