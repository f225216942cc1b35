/**
 * Cancelling an order before it ships: inventory holds the shipment back first, then the order is
 * cancelled owing a refund and a restock, which run at once and, where they fail, from the
 * recovery sweep. Methods of the orders service.
 */
import type { Context } from "moleculer";
import { ErrorTypes, conflict } from "../../contracts/errors";
import { nowIso } from "../../platform/runtime/clock";
import type { AuthMeta } from "../../types/moleculer";
import type { MethodsOf } from "./orders.service";
import { canTransition, owing, toOrder, type OrderView, type PendingAction } from "./order-state";

export interface Cancellation {
	/** Cancel the caller's order (any for an admin): a 409 once it has shipped. */
	cancelOrder(ctx: Context<{ id: string; reason?: string }, AuthMeta>): Promise<OrderView>;
}

export const CancellationMethods = {
	async cancelOrder(ctx) {
		const order = await this.findOrder(ctx.params.id, ctx.meta.user);
		if (!canTransition(order.status, "cancelled"))
			throw conflict(
				`An order that is ${order.status} cannot be cancelled`,
				ErrorTypes.INVALID_TRANSITION,
				{ status: order.status }
			);
		// The shipment first: once inventory holds it back no admin can send it, and when it has
		// left already the order is not cancelled (its shipment.shipped event may still be on its
		// way here). Without inventory the answer is 503: whether the parcel left cannot be known.
		await ctx
			.call("inventory.cancelShipment", { orderId: String(order._id), userId: order.userId })
			.catch((err: { type?: string; data?: { status?: string } }) => {
				// (A shipment that kept changing under the call is inventory's own 409.)
				if (err.type !== ErrorTypes.INVALID_TRANSITION || !err.data?.status) throw err;
				throw conflict(
					"The order has shipped; it can no longer be cancelled",
					ErrorTypes.INVALID_TRANSITION,
					{ status: order.status, shipment: err.data?.status }
				);
			});
		const owed: PendingAction[] = ["refund", "restock"];
		const cancelled = await this.transition(
			order,
			"cancelled",
			{ reason: ctx.params.reason ?? "Cancelled by request", ...owing(owed, nowIso()) },
			{ name: "order.cancelled" }
		);
		if (!cancelled)
			throw conflict(
				"The order changed meanwhile; it can no longer be cancelled",
				ErrorTypes.INVALID_TRANSITION
			);
		return toOrder(
			await this.recordOwed(cancelled, await this.compensateOwed(cancelled, owed))
		);
	}
} satisfies MethodsOf<Cancellation>;
