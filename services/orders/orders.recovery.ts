/**
 * The recovery sweep: retry owed compensations, and finish the sagas whose process died mid-way,
 * through the same saga code placing runs (runPlacementSaga from the step the order recorded).
 * Methods of the orders service.
 */
import type { MethodsOf } from "./orders.service";
import { compensate, recoveryPlan, runPlacementSaga, type Compensation } from "./order-saga";
import type { OrderDoc } from "./order-state";

export interface Recovery {
	/** One round of the sweep: owed compensations first, then the stuck sagas. */
	recover(): Promise<void>;
	/**
	 * Finish a saga found stuck: one stuck before capture is compensated and rejected (the card
	 * is not kept); one stuck at capture or commit is resumed, since the payment is authorized.
	 */
	finishSaga(order: OrderDoc): Promise<void>;
}

export const RecoveryMethods = {
	async recover() {
		for (const order of await this.owingOrders()) {
			if (!order.pendingActions?.length) continue;
			await this.recordOwed(order, await this.compensateOwed(order, order.pendingActions));
		}
		const cutoff = new Date(Date.now() - this.settings.stuckAfterMs).toISOString();
		for (const order of await this.stuckOrders(cutoff)) await this.finishSaga(order);
	},

	async finishSaga(order) {
		const steps = this.sagaSteps(order, null);
		const plan = recoveryPlan(order.saga.step);
		let left: Compensation[];
		if ("resumeFrom" in plan) {
			const outcome = await runPlacementSaga(steps, plan.resumeFrom);
			if (outcome.ok) {
				const payment = await this.broker.call<
					{ brand?: string; last4?: string } | null,
					{ orderId: string }
				>("payments.forOrder", { orderId: String(order._id) });
				await this.confirm(order, payment);
				return;
			}
			this.logger.warn(
				`Order ${String(order._id)}: resuming failed at ${outcome.failedStep}, compensated:`,
				outcome.error.message
			);
			left = outcome.pendingCompensations;
		} else left = await compensate(steps, plan.compensate);
		await this.reject(order, "SAGA_ABORTED", left);
	}
} satisfies MethodsOf<Recovery>;
