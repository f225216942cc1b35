/**
 * Inventory's recovery sweep, run every sweepIntervalMs: returns the stock of reservations whose
 * saga never came back before their expiry, and settles those a crash left between a status
 * change and its stock change. Both reads are bounded by `sweepAt`, set exactly while a
 * reservation may need the sweep (reservationSweepAt in stock-rules.ts). Methods of the inventory
 * service.
 */
import { nowIso } from "../../platform/runtime/clock";
import type { InventoryThis } from "./inventory.types";
import type { ReservationDoc } from "./stock-rules";

export const RecoveryMethods = {
	/** Return the units of reservations past their time, and apply those not yet applied. */
	async expireReservations(this: InventoryThis) {
		const store = this.stores.reservations;
		const due = await store.find({
			query: {
				sweepAt: { $lte: nowIso() },
				status: { $in: ["pending", "reserved"] },
				expiresAt: { $lte: nowIso() }
			},
			limit: 500
		});
		let expired = 0;
		for (const raw of due) {
			const res = this.toJSON<ReservationDoc>(store, raw);
			const moved = await this.transitionReservation(res, "expired");
			if (!moved) continue; // committed or released meanwhile
			await this.applyReservation(moved);
			expired++;
			this.logger.info(`Reservation of order ${res.orderId} expired; stock returned.`);
		}
		// Repair what a crash left between a status change and its stock change.
		const unsettled = await store.find({
			query: {
				sweepAt: { $lte: nowIso() },
				settled: false,
				status: { $in: ["committed", "released", "expired", "restocked"] }
			},
			limit: 500
		});
		for (const raw of unsettled) await this.applyReservation(this.toJSON(store, raw));
		return expired;
	}
};
