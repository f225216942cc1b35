/**
 * inventory: the catalog, stock levels, reservations and shipping. Public routes:
 * services/api/routes.ts (products and shipments); reserve, release, commit, restock,
 * getProducts, shipmentForOrder, cancelShipment and expireReservations are internal, for orders
 * and operators.
 *
 * Owns the `inventory` database: `products` (primary), `reservations` (one per order) and
 * `shipments` (one per order). Stock changes are conditional atomic updates on the product
 * document (see stock-rules.ts), never read-then-write, so racing orders cannot oversell and every
 * operation is idempotent per order.
 */
import { SHIPMENT_STATUSES, type ShipmentStatus } from "../../contracts/statuses";
import type { Context, Service, ServiceSchema } from "moleculer";
import {
	DbMixin,
	isDuplicateKeyError,
	type DbMethods,
	type Store
} from "../../platform/persistence/db.mixin";
import { nowIso } from "../../platform/runtime/clock";
import { ErrorTypes, conflict, notFound } from "../../contracts/errors";
import type { DomainEvent, ShipmentEvent } from "../../contracts/events";
import {
	DurableEvents,
	INBOX_INDEXES,
	type DurableEventsMethods,
	type OutboxEntry
} from "../../platform/messaging/durable-events.mixin";
import { newId } from "../../platform/persistence/ids";
import { CurrencyParam, IdParam, PageParams, textParam } from "../../contracts/params";
import { settings as appSettings } from "../../platform/runtime/settings";
import { startSweep } from "../../platform/runtime/sweep";
import type { AuthMeta, AuthUser } from "../../types/moleculer";
import { SEED_CATALOG } from "./inventory.seed";
import { ReservationMethods } from "./reservations";
import {
	canReservationTransition,
	canShipmentTransition,
	carrierFor,
	literalPattern,
	newTrackingNumber,
	reservationLines,
	toProduct,
	toReservation,
	toShipment,
	type ProductDoc,
	type ReservationDoc,
	type ReservationItem,
	type ReservationStatus,
	type Shortage,
	type ShipmentDoc
} from "./stock-rules";

const SkuParam = {
	type: "string",
	trim: true,
	max: 64,
	pattern: "^[A-Za-z0-9._-]{1,64}$"
} as const;
const NameParam = textParam({ min: 1, max: 200 });
const DescriptionParam = textParam({ max: 2000, multiline: true });
/**
 * At least 1: payments authorizes only positive amounts, so a product priced 0 could be listed
 * but never ordered (every order of it failed as a 503).
 */
const PriceParam = { type: "number", integer: true, min: 1, max: 100_000_000 } as const;
const StockParam = { type: "number", integer: true, min: 0, max: 1_000_000_000 } as const;

const ReservationItemsParam = {
	type: "array",
	min: 1,
	max: 100,
	items: {
		type: "object",
		strict: "remove",
		props: {
			productId: IdParam,
			quantity: { type: "number", integer: true, min: 1, max: 1_000_000 }
		}
	}
} as const;

interface InventorySettings {
	reservationTtlMs: number;
	sweepIntervalMs: number;
	lowStockThreshold: number;
}

export type InventoryThis = Service<InventorySettings> &
	DbMethods &
	DurableEventsMethods &
	InventoryVars;
interface InventoryVars {
	adapter: Store;
	sweepTimer?: NodeJS.Timeout;
	clearCache(): Promise<void>;
	findProduct(id: string, user?: AuthUser): Promise<ProductDoc>;
	changeStock(id: string, delta: number): Promise<ProductDoc>;
	reserveStock(
		orderId: string,
		items: ReservationItem[]
	): Promise<ReturnType<typeof toReservation>>;
	takeHolds(orderId: string, items: ReservationItem[]): Promise<Shortage[]>;
	applyReservation(res: ReservationDoc): Promise<void>;
	transitionReservation(
		res: ReservationDoc,
		to: ReservationStatus,
		set?: Record<string, unknown>
	): Promise<ReservationDoc | null>;
	findReservation(orderId: string): Promise<ReservationDoc | null>;
	expireReservations(): Promise<number>;
	takeStock(
		query: Record<string, unknown>,
		quantity: number,
		update: Record<string, any>
	): Promise<ProductDoc | null>;
	findOwnedShipment(id: string, user?: AuthUser): Promise<ShipmentDoc>;
	holdBackShipment(orderId: string, userId: string): Promise<ReturnType<typeof toShipment>>;
	transitionShipment(
		id: string,
		to: ShipmentStatus,
		user?: AuthUser
	): Promise<ReturnType<typeof toShipment>>;
	shipmentEntry(name: ShipmentEventName, doc: ShipmentDoc): OutboxEntry;
}

type ShipmentEventName =
	"shipment.created" | "shipment.shipped" | "shipment.delivered" | "shipment.cancelled";

const SHIPMENT_EVENT: Record<ShipmentStatus, ShipmentEventName> = {
	preparing: "shipment.created",
	shipped: "shipment.shipped",
	delivered: "shipment.delivered",
	cancelled: "shipment.cancelled"
};

const productNotFound = () => notFound("Product not found", ErrorTypes.PRODUCT_NOT_FOUND);
const shipmentNotFound = () => notFound("Shipment not found", ErrorTypes.SHIPMENT_NOT_FOUND);
const isAdmin = (user?: AuthUser) => user?.role === "admin";
/** The service acting on its own behalf (event handlers), with an admin's reach. */
const SYSTEM: AuthUser = { id: "inventory", role: "admin" };
/**
 * A new shipment of an order in its first status, with our own id (so an event can travel inside
 * the new document).
 */
function newShipment(orderId: string, userId: string, status: ShipmentStatus): ShipmentDoc {
	const carrier = carrierFor(orderId);
	const at = nowIso();
	return {
		_id: newShipmentId(),
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

/** Tries of a shipment change that lost a race, before giving up with 409. */
const MAX_SHIPMENT_ATTEMPTS = 5;
const newShipmentId = () => newId("shp_");

const InventoryService = {
	name: "inventory",
	mixins: [
		DbMixin({
			collection: "products",
			indexes: [{ field: "sku", unique: true }],
			stores: {
				reservations: [
					{ field: "orderId", unique: true },
					{ field: "status" },
					{ field: "sweepAt", sparse: true }
				],
				shipments: [{ field: "orderId", unique: true }, { field: "status" }],
				inbox: INBOX_INDEXES
			}
		}),
		// Shipment events leave through the shipment's outbox, low-stock through the product's.
		DurableEvents({ outbox: ["adapter", "shipments"] })
	],

	/** Defaults from platform/runtime/settings.ts (RESERVATION_TTL_MS, LOW_STOCK_THRESHOLD), read at creation. */
	settings: {} as InventorySettings,

	actions: {
		// ---- catalog (public) ----

		/** The catalog, paged; `q` searches name, SKU and description. Admins may see inactive ones. */
		listProducts: {
			auth: "optional",
			cache: { keys: ["page", "pageSize", "q", "includeInactive", "#user.role"], ttl: 30 },
			params: {
				...PageParams,
				q: { type: "string", trim: true, max: 100, optional: true },
				includeInactive: { type: "boolean", convert: true, optional: true }
			},
			async handler(
				this: InventoryThis,
				ctx: Context<
					{ page: number; pageSize: number; q?: string; includeInactive?: boolean },
					AuthMeta
				>
			) {
				const { page, pageSize, q, includeInactive } = ctx.params;
				const query: Record<string, unknown> = {};
				if (!(includeInactive && isAdmin(ctx.meta.user))) query.active = true;
				if (q) {
					const pattern = literalPattern(q);
					query.$or = [
						{ name: { $regex: pattern } },
						{ sku: { $regex: pattern } },
						{ description: { $regex: pattern } }
					];
				}
				return this.findPage(
					this.adapter,
					query,
					{ page, pageSize, sort: ["name"] },
					toProduct
				);
			}
		},

		/** One product; an inactive one is visible to admins only. */
		getProduct: {
			auth: "optional",
			cache: { keys: ["id", "#user.role"], ttl: 30 },
			params: { id: IdParam },
			async handler(this: InventoryThis, ctx: Context<{ id: string }, AuthMeta>) {
				return toProduct(await this.findProduct(ctx.params.id, ctx.meta.user));
			}
		},

		/** Admin: add a product. The SKU is unique. */
		createProduct: {
			auth: "required",
			roles: ["admin"],
			params: {
				$$strict: "remove",
				sku: SkuParam,
				name: NameParam,
				description: { ...DescriptionParam, optional: true },
				priceCents: PriceParam,
				currency: CurrencyParam,
				stock: { ...StockParam, optional: true, default: 0 },
				active: { type: "boolean", optional: true, default: true }
			},
			async handler(
				this: InventoryThis,
				ctx: Context<Omit<ProductDoc, "_id" | "createdAt" | "updatedAt">, AuthMeta>
			) {
				const at = nowIso();
				try {
					const doc = await this.adapter.insert({
						...ctx.params,
						description: ctx.params.description ?? "",
						holds: {},
						createdAt: at,
						updatedAt: at
					});
					await this.clearCache();
					const product = toProduct(this.toJSON(this.adapter, doc));
					ctx.meta.$statusCode = 201;
					ctx.meta.$location = `/api/products/${product.id}`;
					return product;
				} catch (err) {
					if (isDuplicateKeyError(err))
						throw conflict(
							`A product with SKU '${ctx.params.sku}' exists`,
							ErrorTypes.PRODUCT_EXISTS,
							{ sku: ctx.params.sku }
						);
					throw err;
				}
			}
		},

		/** Admin: change a product's description, price or availability. Stock has its own route. */
		updateProduct: {
			auth: "required",
			roles: ["admin"],
			params: {
				$$strict: "remove",
				id: IdParam,
				sku: { ...SkuParam, optional: true },
				name: { ...NameParam, optional: true },
				description: { ...DescriptionParam, optional: true },
				priceCents: { ...PriceParam, optional: true },
				currency: { ...CurrencyParam, optional: true },
				active: { type: "boolean", optional: true }
			},
			async handler(
				this: InventoryThis,
				ctx: Context<{ id: string } & Partial<ProductDoc>, AuthMeta>
			) {
				const { id, ...changes } = ctx.params;
				await this.findProduct(id, ctx.meta.user);
				try {
					const doc = await this.updateOne(
						this.adapter,
						{ _id: id },
						{ $set: { ...changes, updatedAt: nowIso() } }
					);
					if (!doc) throw productNotFound();
					await this.clearCache();
					return toProduct(this.toJSON(this.adapter, doc));
				} catch (err) {
					if (isDuplicateKeyError(err))
						throw conflict(
							`A product with SKU '${changes.sku}' exists`,
							ErrorTypes.PRODUCT_EXISTS,
							{ sku: changes.sku }
						);
					throw err;
				}
			}
		},

		/** Admin: receive goods (positive delta) or write off stock (negative, never below 0). */
		adjustStock: {
			auth: "required",
			roles: ["admin"],
			params: {
				$$strict: "remove",
				id: IdParam,
				delta: {
					type: "number",
					integer: true,
					min: -1_000_000,
					max: 1_000_000,
					notEqual: 0
				}
			},
			async handler(this: InventoryThis, ctx: Context<{ id: string; delta: number }>) {
				return toProduct(await this.changeStock(ctx.params.id, ctx.params.delta));
			}
		},

		/** Internal (orders): the catalog entries of these ids, inactive ones included. */
		getProducts: {
			visibility: "public",
			params: { ids: { type: "array", max: 100, items: IdParam } },
			async handler(this: InventoryThis, ctx: Context<{ ids: string[] }>) {
				if (ctx.params.ids.length === 0) return [];
				const docs = await this.adapter.find({ query: { _id: { $in: ctx.params.ids } } });
				return docs.map(d => toProduct(this.toJSON(this.adapter, d)));
			}
		},

		// ---- reservations (internal, for the orders saga) ----

		/** Hold stock for an order: all items or none. Idempotent per order. */
		reserve: {
			visibility: "public",
			params: { orderId: IdParam, items: ReservationItemsParam },
			async handler(
				this: InventoryThis,
				ctx: Context<{ orderId: string; items: ReservationItem[] }>
			) {
				return this.reserveStock(ctx.params.orderId, reservationLines(ctx.params.items));
			}
		},

		/** Give an order's held stock back (saga compensation). Idempotent; unknown orders are a no-op. */
		release: {
			visibility: "public",
			params: { orderId: IdParam },
			async handler(this: InventoryThis, ctx: Context<{ orderId: string }>) {
				const res = await this.findReservation(ctx.params.orderId);
				if (!res) return { orderId: ctx.params.orderId, status: "none" };
				if (res.status === "committed")
					throw conflict(
						"The reservation is committed; restock it instead",
						ErrorTypes.INVALID_TRANSITION,
						{ orderId: res.orderId, status: res.status }
					);
				const done = canReservationTransition(res.status, "released")
					? ((await this.transitionReservation(res, "released")) ??
						(await this.findReservation(res.orderId))!)
					: res;
				await this.applyReservation(done);
				return toReservation(done);
			}
		},

		/** The order is paid: the held units leave the stock for good. Idempotent. */
		commit: {
			visibility: "public",
			params: { orderId: IdParam },
			async handler(this: InventoryThis, ctx: Context<{ orderId: string }>) {
				let res = await this.findReservation(ctx.params.orderId);
				if (res?.status === "reserved")
					res = await this.transitionReservation(res, "committed");
				if (res?.status !== "committed")
					throw conflict(
						res
							? `The reservation of this order is ${res.status}`
							: "No reservation for this order",
						ErrorTypes.RESERVATION_NOT_FOUND,
						{ orderId: ctx.params.orderId, status: res?.status ?? "none" }
					);
				await this.applyReservation(res);
				return toReservation(res);
			}
		},

		/** A committed order was cancelled: its units return to stock, once. Idempotent. */
		restock: {
			visibility: "public",
			params: { orderId: IdParam },
			async handler(this: InventoryThis, ctx: Context<{ orderId: string }>) {
				const res = await this.findReservation(ctx.params.orderId);
				if (!res) return { orderId: ctx.params.orderId, status: "none" };
				const to: ReservationStatus = res.status === "committed" ? "restocked" : "released";
				const done = canReservationTransition(res.status, to)
					? ((await this.transitionReservation(res, to)) ??
						(await this.findReservation(res.orderId))!)
					: res;
				await this.applyReservation(done);
				return toReservation(done);
			}
		},

		/** Internal (operators, tests): return the stock of expired reservations now. */
		expireReservations: {
			visibility: "public",
			async handler(this: InventoryThis) {
				return { expired: await this.expireReservations() };
			}
		},

		// ---- shipping ----

		/** Shipments: a customer's own, or all (filtered) for an admin. */
		listShipments: {
			auth: "required",
			params: {
				...PageParams,
				status: { type: "enum", values: [...SHIPMENT_STATUSES], optional: true },
				orderId: { ...IdParam, optional: true }
			},
			async handler(
				this: InventoryThis,
				ctx: Context<
					{ page: number; pageSize: number; status?: ShipmentStatus; orderId?: string },
					AuthMeta
				>
			) {
				const { page, pageSize, status, orderId } = ctx.params;
				const query: Record<string, unknown> = {};
				if (!isAdmin(ctx.meta.user)) query.userId = ctx.meta.user!.id;
				if (status) query.status = status;
				if (orderId) query.orderId = orderId;
				return this.findPage(this.stores.shipments, query, { page, pageSize }, toShipment);
			}
		},

		/** One shipment: its customer's or any for an admin; someone else's is a 404. */
		getShipment: {
			auth: "required",
			params: { id: IdParam },
			async handler(this: InventoryThis, ctx: Context<{ id: string }, AuthMeta>) {
				return toShipment(await this.findOwnedShipment(ctx.params.id, ctx.meta.user));
			}
		},

		/** Admin: the parcel left the warehouse. */
		shipShipment: {
			auth: "required",
			roles: ["admin"],
			params: { id: IdParam },
			async handler(this: InventoryThis, ctx: Context<{ id: string }, AuthMeta>) {
				return this.transitionShipment(ctx.params.id, "shipped", ctx.meta.user);
			}
		},

		/** Admin: the carrier delivered it. */
		deliverShipment: {
			auth: "required",
			roles: ["admin"],
			params: { id: IdParam },
			async handler(this: InventoryThis, ctx: Context<{ id: string }, AuthMeta>) {
				return this.transitionShipment(ctx.params.id, "delivered", ctx.meta.user);
			}
		},

		/**
		 * Internal (orders, before it cancels an order): the order's shipment will not be sent.
		 * A preparing one is cancelled; one not created yet (its order.confirmed still on the
		 * way) is created cancelled, so the event finds the order handled; once it has left,
		 * 409 INVALID_TRANSITION. Idempotent. Asked before the order changes, so an admin
		 * shipping at the same moment either wins (the cancel is refused) or is refused.
		 */
		cancelShipment: {
			visibility: "public",
			params: { orderId: IdParam, userId: IdParam },
			async handler(this: InventoryThis, ctx: Context<{ orderId: string; userId: string }>) {
				return this.holdBackShipment(ctx.params.orderId, ctx.params.userId);
			}
		},

		/** Internal (orders' tracking): the shipment of an order, or null. */
		shipmentForOrder: {
			visibility: "public",
			params: { orderId: IdParam },
			async handler(this: InventoryThis, ctx: Context<{ orderId: string }>) {
				const doc = await this.stores.shipments.findOne({ orderId: ctx.params.orderId });
				return doc ? toShipment(this.toJSON(this.stores.shipments, doc)) : null;
			}
		}
	},

	events: {
		/** A paid order gets a shipment (once, however often the event arrives). */
		"order.confirmed": {
			params: { orderId: IdParam, userId: IdParam },
			async handler(this: InventoryThis, ctx: Context<DomainEvent<"order.confirmed">>) {
				const { orderId, userId } = ctx.params;
				try {
					await this.insertWithEvents("shipments", () => {
						const shipment = newShipment(orderId, userId, "preparing");
						return {
							doc: shipment,
							events: [this.shipmentEntry("shipment.created", shipment)]
						};
					});
				} catch (err) {
					if (isDuplicateKeyError(err)) return; // handled before
					throw err;
				}
			}
		},

		/** A cancelled order's shipment is not sent (orders only cancels before shipping). */
		"order.cancelled": {
			params: { orderId: IdParam },
			async handler(this: InventoryThis, ctx: Context<DomainEvent<"order.cancelled">>) {
				const store = this.stores.shipments;
				const current = await store.findOne({
					orderId: ctx.params.orderId,
					status: "preparing"
				});
				if (!current) return;
				await this.transitionShipment(String(current._id), "cancelled", SYSTEM);
			}
		}
	},

	methods: {
		async seedDB(this: InventoryThis) {
			if (!appSettings().seedCatalog) return;
			const at = nowIso();
			// One write for the whole catalog: a racing instance's seed fails whole, on the SKUs.
			await this.adapter.insertMany(
				SEED_CATALOG.map(product => ({
					...product,
					active: true,
					holds: {},
					createdAt: at,
					updatedAt: at
				}))
			);
			this.logger.info(`Seeded ${SEED_CATALOG.length} products.`);
		},

		async findProduct(this: InventoryThis, id: string, user?: AuthUser) {
			const doc: ProductDoc | null = await this.adapter.findOne({ _id: id });
			if (!doc || (!doc.active && !isAdmin(user))) throw productNotFound();
			return this.toJSON<ProductDoc>(this.adapter, doc);
		},

		async changeStock(this: InventoryThis, id: string, delta: number) {
			// A write-off never takes the stock below zero (nor below what orders hold: held units
			// are already out of `stock`).
			const update = { $inc: { stock: delta }, $set: { updatedAt: nowIso() } };
			const after: ProductDoc | null =
				delta < 0
					? await this.takeStock({ _id: id }, -delta, update)
					: await this.updateOne(this.adapter, { _id: id }, update);
			if (!after) {
				const current = await this.findProduct(id, { id: "", role: "admin" });
				throw conflict(`Only ${current.stock} units in stock`, ErrorTypes.OUT_OF_STOCK, {
					products: [{ productId: id, requested: -delta, available: current.stock }]
				});
			}
			await this.clearCache();
			return this.toJSON<ProductDoc>(this.adapter, after);
		},

		...ReservationMethods,

		async findOwnedShipment(this: InventoryThis, id: string, user?: AuthUser) {
			const store = this.stores.shipments;
			const doc: ShipmentDoc | null = await store.findOne({ _id: id });
			if (!doc || (!isAdmin(user) && doc.userId !== user?.id)) throw shipmentNotFound();
			return this.toJSON<ShipmentDoc>(store, doc);
		},

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
					if ((err as { type?: string }).type !== ErrorTypes.INVALID_TRANSITION)
						throw err;
					// changed meanwhile (shipped, or cancelled by the event): decide again
				}
			}
			throw conflict("The shipment changed meanwhile", ErrorTypes.INVALID_TRANSITION);
		},

		async transitionShipment(
			this: InventoryThis,
			id: string,
			to: ShipmentStatus,
			user?: AuthUser
		) {
			const store = this.stores.shipments;
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
			if (!doc)
				throw conflict("The shipment changed meanwhile", ErrorTypes.INVALID_TRANSITION);
			return toShipment(this.toJSON<ShipmentDoc>(store, doc));
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
	},

	created(this: InventoryThis) {
		const cfg = appSettings();
		this.settings.reservationTtlMs ??= cfg.reservationTtlMs;
		this.settings.lowStockThreshold ??= cfg.lowStockThreshold;
		this.settings.sweepIntervalMs ??= Math.min(
			30_000,
			Math.max(500, this.settings.reservationTtlMs / 4)
		);
	},

	started(this: InventoryThis) {
		this.sweepTimer = startSweep(
			this.logger,
			"Reservation sweep",
			this.settings.sweepIntervalMs,
			() => this.expireReservations()
		);
	},

	stopped(this: InventoryThis) {
		clearInterval(this.sweepTimer);
	}
} satisfies ServiceSchema<InventorySettings, any, any, InventoryThis>;

export default InventoryService;
