/**
 * The inventory service as its handlers and methods see it (`this`): the mixins' methods and those
 * of catalog.ts, reservations.ts, inventory.recovery.ts and shipments.ts, spread into its
 * `methods`. Beside the service, so the methods' files need not import the schema.
 */
import type { Service } from "moleculer";
import type { ShipmentStatus } from "../../contracts/statuses";
import type { DbMethods, Store } from "../../platform/persistence/db.mixin";
import type {
	DurableEventsMethods,
	OutboxEntry
} from "../../platform/messaging/durable-events.mixin";
import type { AuthUser } from "../../types/moleculer";
import type { ShipmentEventName } from "./shipments";
import type {
	NewProduct,
	ProductDoc,
	ReservationDoc,
	ReservationRef,
	ReservationItem,
	ReservationStatus,
	Shortage,
	ShipmentDoc,
	toProduct,
	toReservation,
	toShipment
} from "./stock-rules";

export interface InventorySettings {
	reservationTtlMs: number;
	sweepIntervalMs: number;
	lowStockThreshold: number;
}

type Reservation = ReturnType<typeof toReservation>;
type Shipment = ReturnType<typeof toShipment>;
type Product = ReturnType<typeof toProduct>;

export type InventoryThis = Service<InventorySettings> &
	DbMethods &
	DurableEventsMethods &
	InventoryVars;
interface InventoryVars {
	adapter: Store;
	sweepTimer?: NodeJS.Timeout;
	clearCache(): Promise<void>;
	// catalog.ts
	findProduct(id: string, user?: AuthUser): Promise<ProductDoc>;
	createProduct(fields: NewProduct): Promise<Product>;
	updateProduct(id: string, changes: Partial<NewProduct>, user?: AuthUser): Promise<Product>;
	productsByIds(ids: string[]): Promise<Product[]>;
	changeStock(id: string, delta: number): Promise<ProductDoc>;
	// reservations.ts
	findReservation(orderId: string): Promise<ReservationDoc | null>;
	reserveStock(orderId: string, items: ReservationItem[]): Promise<Reservation>;
	releaseReservation(orderId: string): Promise<Reservation | { orderId: string; status: "none" }>;
	commitReservation(orderId: string): Promise<Reservation>;
	restockReservation(orderId: string): Promise<Reservation | { orderId: string; status: "none" }>;
	settleReservation(res: ReservationDoc, to: ReservationStatus): Promise<Reservation>;
	takeHolds(orderId: string, items: ReservationItem[]): Promise<Shortage[]>;
	applyReservation(res: ReservationDoc): Promise<void>;
	transitionReservation(
		res: ReservationRef,
		to: ReservationStatus,
		set?: Record<string, unknown>
	): Promise<ReservationDoc | null>;
	takeStock(
		query: Record<string, unknown>,
		quantity: number,
		update: Record<string, any>
	): Promise<boolean>;
	// inventory.recovery.ts
	expireReservations(): Promise<number>;
	// shipments.ts
	findOwnedShipment(id: string, user?: AuthUser): Promise<ShipmentDoc>;
	shipmentOfOrder(orderId: string): Promise<Shipment | null>;
	prepareShipment(orderId: string, userId: string): Promise<void>;
	cancelPreparingShipment(orderId: string): Promise<void>;
	holdBackShipment(orderId: string, userId: string): Promise<Shipment>;
	transitionShipment(id: string, to: ShipmentStatus, user?: AuthUser): Promise<Shipment>;
	shipmentEntry(name: ShipmentEventName, doc: ShipmentDoc): OutboxEntry;
}
