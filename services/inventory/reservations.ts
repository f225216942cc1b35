/**
 * Inventory's reservations: an order's units are taken as holds on each product (all or nothing,
 * a hold per order and product, so a retried take never takes twice), settled by the saga's
 * outcome (committed, released, restocked), and expired by the sweep (inventory.recovery.ts) when
 * the saga never came back. Methods of the inventory service.
 */
import { nowIso } from "../../platform/runtime/clock";
import { ErrorTypes, conflict } from "../../contracts/errors";
import { isDuplicateKeyError } from "../../platform/persistence/db.mixin";
import type { InventoryThis } from "./inventory.types";
import {
	canReservationTransition,
	crossedLowStock,
	holdOutcome,
	holdPath,
	reservationSweepAt,
	returnPath,
	stockThatCannotCross,
	toReservation,
	type ProductDoc,
	type ReservationDoc,
	type ReservationRef,
	type ReservationItem,
	type ReservationStatus,
	type Shortage
} from "./stock-rules";

export const ReservationMethods = {
	async findReservation(this: InventoryThis, orderId: string) {
		const doc = await this.stores.reservations.findOne({ orderId });
		return doc ? this.toJSON<ReservationDoc>(this.stores.reservations, doc) : null;
	},

	async reserveStock(this: InventoryThis, orderId: string, items: ReservationItem[]) {
		const at = nowIso();
		const expiresAt = new Date(Date.now() + this.settings.reservationTtlMs).toISOString();
		let res: ReservationDoc | null;
		try {
			res = this.toJSON<ReservationDoc>(
				this.stores.reservations,
				await this.stores.reservations.insert({
					orderId,
					items,
					status: "pending",
					settled: false,
					expiresAt,
					sweepAt: expiresAt,
					createdAt: at,
					updatedAt: at
				})
			);
		} catch (err) {
			// The order has one already (unique orderId): a retried, resumed or concurrent call.
			if (!isDuplicateKeyError(err)) throw err;
			res = await this.findReservation(orderId);
		}
		if (!res)
			throw conflict("The reservation changed meanwhile", ErrorTypes.INVALID_TRANSITION);
		if (res.status === "reserved" || res.status === "committed") return toReservation(res);
		if (res.status !== "pending")
			throw conflict(
				`The reservation of this order was already ${res.status}`,
				ErrorTypes.INVALID_TRANSITION,
				{ orderId, status: res.status }
			);

		// Taking holds is idempotent per product, so a retried or resumed call is safe.
		const shortages = await this.takeHolds(orderId, res.items);
		if (shortages.length > 0) {
			// All or nothing: give back what this order took, and forget the attempt.
			await this.applyReservation({ ...res, status: "released" });
			await this.stores.reservations.removeMany({ orderId, status: "pending" });
			throw conflict("Not enough stock", ErrorTypes.OUT_OF_STOCK, {
				orderId,
				products: shortages
			});
		}
		const reserved = await this.transitionReservation(res, "reserved", { settled: true });
		if (reserved) return toReservation(reserved);
		// Expired by the sweep while it was being taken (the sweep returns the units).
		const current = await this.findReservation(orderId);
		if (current?.status === "reserved" || current?.status === "committed")
			return toReservation(current);
		throw conflict("The reservation expired", ErrorTypes.RESERVATION_NOT_FOUND, {
			orderId,
			status: current?.status ?? "none"
		});
	},

	/** Give an order's held stock back (saga compensation); a committed one is a 409. */
	async releaseReservation(this: InventoryThis, orderId: string) {
		const res = await this.findReservation(orderId);
		if (!res) return { orderId, status: "none" };
		if (res.status === "committed")
			throw conflict(
				"The reservation is committed; restock it instead",
				ErrorTypes.INVALID_TRANSITION,
				{ orderId: res.orderId, status: res.status }
			);
		return this.settleReservation(res, "released");
	},

	/**
	 * The order is paid: its held units leave the stock for good. The usual commit finds the
	 * reservation reserved: moved with no read first; any other state is read.
	 */
	async commitReservation(this: InventoryThis, orderId: string) {
		const res =
			(await this.transitionReservation({ orderId, status: "reserved" }, "committed")) ??
			(await this.findReservation(orderId));
		if (res?.status !== "committed")
			throw conflict(
				res
					? `The reservation of this order is ${res.status}`
					: "No reservation for this order",
				ErrorTypes.RESERVATION_NOT_FOUND,
				{ orderId, status: res?.status ?? "none" }
			);
		await this.applyReservation(res);
		return toReservation(res);
	},

	/** A committed order was cancelled: its units return to stock, once (others are released). */
	async restockReservation(this: InventoryThis, orderId: string) {
		const res = await this.findReservation(orderId);
		if (!res) return { orderId, status: "none" };
		return this.settleReservation(res, res.status === "committed" ? "restocked" : "released");
	},

	/**
	 * Move the reservation to `to` where that is allowed (or find where a racing call moved it),
	 * then bring the products in line with whatever status it has.
	 */
	async settleReservation(this: InventoryThis, res: ReservationDoc, to: ReservationStatus) {
		const done = canReservationTransition(res.status, to)
			? ((await this.transitionReservation(res, to)) ??
				(await this.findReservation(res.orderId))!)
			: res;
		await this.applyReservation(done);
		return toReservation(done);
	},

	/** Take every item's units for the order, stopping at the first shortage. */
	async takeHolds(this: InventoryThis, orderId: string, items: ReservationItem[]) {
		const hold = holdPath(orderId);
		const shortages: Shortage[] = [];
		let taken = false;
		for (const { productId, quantity } of items) {
			if (shortages.length > 0) {
				// Only to tell the caller every missing line; nothing is taken any more.
				const p: ProductDoc | null = await this.adapter.findOne({ _id: productId });
				if (!p?.active || p.stock < quantity)
					shortages.push({
						productId,
						requested: quantity,
						available: p?.stock ?? 0
					});
				continue;
			}
			const took = await this.takeStock(
				{ _id: productId, active: true, [hold]: { $exists: false } },
				quantity,
				{ $inc: { stock: -quantity }, $set: { [hold]: quantity, updatedAt: nowIso() } }
			);
			if (took) {
				taken = true;
				continue;
			}
			const p: ProductDoc | null = await this.adapter.findOne({ _id: productId });
			if (p?.holds?.[orderId] !== undefined) continue; // taken by an earlier attempt
			shortages.push({
				productId,
				requested: quantity,
				available: p?.active ? p.stock : 0
			});
		}
		if (taken) await this.clearCache();
		return shortages;
	},

	/**
	 * Bring the products in line with the reservation's status: consume the holds of a
	 * committed one, return those of a released or expired one, return a restocked one's units
	 * once. Every step is conditional on the hold (or the return marker), so it is safe to
	 * repeat after a crash; the sweep repeats it for any reservation left unsettled.
	 */
	async applyReservation(this: InventoryThis, res: ReservationDoc) {
		const outcome = holdOutcome(res.status);
		const hold = holdPath(res.orderId);
		// By id, so one product at most; nothing is read back.
		const products = this.adapter;
		for (const { productId, quantity } of res.items) {
			const held = { _id: productId, [hold]: { $exists: true } };
			if (outcome === "return")
				await products.updateMany(held, {
					$inc: { stock: quantity },
					$unset: { [hold]: "" },
					$set: { updatedAt: nowIso() }
				});
			else if (outcome === "consume" || res.status === "restocked")
				await products.updateMany(held, { $unset: { [hold]: "" } });
			if (res.status === "restocked") {
				const marker = returnPath(res.orderId);
				await products.updateMany(
					{ _id: productId, [marker]: { $exists: false } },
					{
						$inc: { stock: quantity },
						$set: { [marker]: quantity, updatedAt: nowIso() }
					}
				);
			}
		}
		if (outcome !== "keep" || res.status === "restocked") await this.clearCache();
		if (!res.settled && res._id)
			await this.stores.reservations.updateMany(
				{ orderId: res.orderId, status: res.status },
				{
					$set: {
						settled: true,
						sweepAt: reservationSweepAt(res.status, true, res.expiresAt, nowIso()),
						updatedAt: nowIso()
					}
				}
			);
	},

	/**
	 * Conditional status change: null when the reservation is no longer in `res.status`. Without
	 * its expiry (not read), one still holding stock is for the next sweep to look at.
	 */
	async transitionReservation(
		this: InventoryThis,
		res: ReservationRef,
		to: ReservationStatus,
		set: Record<string, unknown> = {}
	) {
		if (!canReservationTransition(res.status, to)) return null;
		const at = nowIso();
		const settled = set.settled === true;
		const sweepAt = reservationSweepAt(to, settled, res.expiresAt ?? at, at);
		const doc = await this.updateOne(
			this.stores.reservations,
			{ orderId: res.orderId, status: res.status },
			{ $set: { status: to, settled, sweepAt, ...set, updatedAt: at } }
		);
		return doc ? this.toJSON<ReservationDoc>(this.stores.reservations, doc) : null;
	},

	/**
	 * Take `quantity` units of the product matching `query` (by id) with `update` (which
	 * decrements the stock): whether the query and the stock allowed it. A take that crosses the
	 * low-stock threshold records the event in the same write, from the exact stock it replaced;
	 * the usual take, far from the threshold, is one conditional update with nothing read.
	 */
	async takeStock(
		this: InventoryThis,
		query: Record<string, unknown>,
		quantity: number,
		update: Record<string, any>
	) {
		const threshold = this.settings.lowStockThreshold;
		const far = await this.adapter.updateMany(
			{ ...query, ...stockThatCannotCross(quantity, threshold) },
			update
		);
		if (far > 0) return true;
		for (;;) {
			const current: ProductDoc | null = await this.adapter.findOne(query);
			if (!current || current.stock < quantity) return false;
			const after = current.stock - quantity;
			const crossing = crossedLowStock(current.stock, after, threshold);
			const entry = crossing
				? this.outboxEntry("inventory.low-stock", {
						productId: String(current._id),
						sku: current.sku,
						stock: after,
						threshold
					})
				: undefined;
			// Compare-and-set on the stock read: a change in between makes it read again.
			const doc: ProductDoc | null = await this.updateWithEvent(
				"adapter",
				{ ...query, stock: current.stock },
				update,
				entry
			);
			if (doc) return true;
		}
	}
};
