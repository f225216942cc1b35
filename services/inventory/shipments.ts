/**
 * Inventory's shipments: one per paid order, created by its order.confirmed event, moved
 * preparing -> shipped -> delivered by admins or cancelled with its order; every change commits
 * with its event in one conditional update. Methods of the inventory service.
 */
import type { ShipmentStatus } from "../../contracts/statuses";
import { ErrorTypes, conflict, notFound } from "../../contracts/errors";
import type { ShipmentEvent } from "../../contracts/events";
import { isDuplicateKeyError } from "../../platform/persistence/db.mixin";
import { newId } from "../../platform/persistence/ids";
import { nowIso } from "../../platform/runtime/clock";
import type { AuthUser } from "../../types/moleculer";
import type { InventoryThis } from "./inventory.types";
import {
	canShipmentTransition,
	carrierFor,
	newTrackingNumber,
	toShipment,
	type ShipmentDoc
} from "./stock-rules";

export type ShipmentEventName =
	"shipment.created" | "shipment.shipped" | "shipment.delivered" | "shipment.cancelled";

const SHIPMENT_EVENT: Record<ShipmentStatus, ShipmentEventName> = {
	preparing: "shipment.created",
	shipped: "shipment.shipped",
	delivered: "shipment.delivered",
	cancelled: "shipment.cancelled"
};

const shipmentNotFound = () => notFound("Shipment not found", ErrorTypes.SHIPMENT_NOT_FOUND);
/** The service acting on its own behalf (event handlers), with an admin's reach. */
const SYSTEM: AuthUser = { id: "inventory", role: "admin" };
/** Tries of a shipment change that lost a race, before giving up with 409. */
const MAX_SHIPMENT_ATTEMPTS = 5;

/**
 * A new shipment of an order in its first status, with our own id (so an event can travel inside
 * the new document).
 */
function newShipment(orderId: string, userId: string, status: ShipmentStatus): ShipmentDoc {
	const carrier = carrierFor(orderId);
	const at = nowIso();
	return {
		_id: newId("shp_"),
		orderId,
		userId,
		carrier,
		trackingNumber: newTrackingNumber(carrier),
		status,
		history: [{ status, at }],
		createdAt: at,
		updatedAt: at
	};
}

export const ShipmentMethods = {
	/** The shipment `id` if `user` is its customer or an admin; 404 otherwise. */
	findOwnedShipment(this: InventoryThis, id: string, user?: AuthUser) {
		return this.findOwned<ShipmentDoc>(this.stores.shipments, id, user, shipmentNotFound);
	},

	async shipmentOfOrder(this: InventoryThis, orderId: string) {
		const doc = await this.stores.shipments.findOne({ orderId });
		return doc ? toShipment(this.toJSON(this.stores.shipments, doc)) : null;
	},

	/** A paid order's shipment, with its shipment.created event; once per order. */
	async prepareShipment(this: InventoryThis, orderId: string, userId: string) {
		try {
			await this.insertWithEvents("shipments", () => {
				const shipment = newShipment(orderId, userId, "preparing");
				return {
					doc: shipment,
					events: [this.shipmentEntry("shipment.created", shipment)]
				};
			});
		} catch (err) {
			if (!isDuplicateKeyError(err)) throw err; // a duplicate: handled before
		}
	},

	/** A cancelled order's preparing shipment is cancelled; any other is left as it is. */
	async cancelPreparingShipment(this: InventoryThis, orderId: string) {
		const current = await this.stores.shipments.findOne({ orderId, status: "preparing" });
		if (!current) return;
		await this.transitionShipment(String(current._id), "cancelled", SYSTEM);
	},

	/** See the cancelShipment action. */
	async holdBackShipment(this: InventoryThis, orderId: string, userId: string) {
		const store = this.stores.shipments;
		for (let attempt = 0; attempt < MAX_SHIPMENT_ATTEMPTS; attempt++) {
			const current: ShipmentDoc | null = await store.findOne({ orderId });
			if (!current) {
				const cancelled = newShipment(orderId, userId, "cancelled");
				try {
					return toShipment(this.toJSON(store, await store.insert({ ...cancelled })));
				} catch (err) {
					if (isDuplicateKeyError(err)) continue; // created meanwhile: decide again
					throw err;
				}
			}
			const shipment = this.toJSON<ShipmentDoc>(store, current);
			if (shipment.status === "cancelled") return toShipment(shipment);
			if (shipment.status !== "preparing")
				throw conflict(
					`The order's shipment is ${shipment.status}`,
					ErrorTypes.INVALID_TRANSITION,
					{ status: shipment.status }
				);
			try {
				return await this.transitionShipment(String(shipment._id), "cancelled", SYSTEM);
			} catch (err) {
				if ((err as { type?: string }).type !== ErrorTypes.INVALID_TRANSITION) throw err;
				// changed meanwhile (shipped, or cancelled by the event): decide again
			}
		}
		throw conflict("The shipment changed meanwhile", ErrorTypes.INVALID_TRANSITION);
	},

	async transitionShipment(this: InventoryThis, id: string, to: ShipmentStatus, user?: AuthUser) {
		const current = await this.findOwnedShipment(id, user);
		if (!canShipmentTransition(current.status, to))
			throw conflict(
				`A ${current.status} shipment cannot become ${to}`,
				ErrorTypes.INVALID_TRANSITION,
				{ status: current.status }
			);
		const at = nowIso();
		// The change and its event in one atomic update.
		const event = this.shipmentEntry(SHIPMENT_EVENT[to], { ...current, status: to });
		const doc = await this.updateWithEvent(
			"shipments",
			{ _id: id, status: current.status },
			{ $set: { status: to, updatedAt: at }, $push: { history: { status: to, at } } },
			event
		);
		if (!doc) throw conflict("The shipment changed meanwhile", ErrorTypes.INVALID_TRANSITION);
		return toShipment(this.toJSON<ShipmentDoc>(this.stores.shipments, doc));
	},

	shipmentEntry(this: InventoryThis, name: ShipmentEventName, doc: ShipmentDoc) {
		const event: ShipmentEvent = {
			shipmentId: String(doc._id),
			orderId: doc.orderId,
			userId: doc.userId,
			carrier: doc.carrier,
			trackingNumber: doc.trackingNumber,
			status: doc.status
		};
		// A stable id per shipment and status: consumers recognise a repeated event.
		return this.outboxEntry(name, event, `${event.shipmentId}:${doc.status}`);
	}
};
