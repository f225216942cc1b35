/**
 * inventory: the catalog, stock levels, reservations and shipping. Public routes:
 * services/api/routes.ts (products and shipments); reserve, release, commit, restock,
 * getProducts, shipmentForOrder, cancelShipment and expireReservations are internal, for orders
 * and operators.
 *
 * Owns the `inventory` database: `products` (primary), `reservations` (one per order) and
 * `shipments` (one per order). Stock changes are conditional atomic updates on the product
 * document (see stock-rules.ts), never read-then-write, so racing orders cannot oversell and every
 * operation is idempotent per order. The handlers call the methods of catalog.ts,
 * reservations.ts, inventory.recovery.ts and shipments.ts (`this` as inventory.types.ts has it).
 */
import type { Context, ServiceSchema } from "moleculer";
import { SHIPMENT_STATUSES, type ShipmentStatus } from "../../contracts/statuses";
import type { DomainEvent } from "../../contracts/events";
import { CurrencyParam, IdParam, PageParams, textParam } from "../../contracts/params";
import { DbMixin, ownedBy } from "../../platform/persistence/db.mixin";
import { DurableEvents, INBOX_INDEXES } from "../../platform/messaging/durable-events.mixin";
import { settings as appSettings } from "../../platform/runtime/settings";
import { startSweep } from "../../platform/runtime/sweep";
import type { AuthMeta } from "../../types/moleculer";
import { CatalogMethods } from "./catalog";
import { RecoveryMethods } from "./inventory.recovery";
import type { InventorySettings, InventoryThis } from "./inventory.types";
import { ReservationMethods } from "./reservations";
import { ShipmentMethods } from "./shipments";
import {
	catalogQuery,
	reservationLines,
	toProduct,
	toShipment,
	type NewProduct,
	type ReservationItem
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
		// ---- catalog (public; catalog.ts) ----

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
				const withInactive = includeInactive === true && ctx.meta.user?.role === "admin";
				const query = catalogQuery(q, withInactive);
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
			async handler(this: InventoryThis, ctx: Context<NewProduct, AuthMeta>) {
				const product = await this.createProduct(ctx.params);
				ctx.meta.$statusCode = 201;
				ctx.meta.$location = `/api/products/${product.id}`;
				return product;
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
				ctx: Context<{ id: string } & Partial<NewProduct>, AuthMeta>
			) {
				const { id, ...changes } = ctx.params;
				return this.updateProduct(id, changes, ctx.meta.user);
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
			handler(this: InventoryThis, ctx: Context<{ ids: string[] }>) {
				return this.productsByIds(ctx.params.ids);
			}
		},

		// ---- reservations (internal, for the orders saga; reservations.ts) ----

		/** Hold stock for an order: all items or none. Idempotent per order. */
		reserve: {
			visibility: "public",
			params: { orderId: IdParam, items: ReservationItemsParam },
			handler(
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
			handler(this: InventoryThis, ctx: Context<{ orderId: string }>) {
				return this.releaseReservation(ctx.params.orderId);
			}
		},

		/** The order is paid: the held units leave the stock for good. Idempotent. */
		commit: {
			visibility: "public",
			params: { orderId: IdParam },
			handler(this: InventoryThis, ctx: Context<{ orderId: string }>) {
				return this.commitReservation(ctx.params.orderId);
			}
		},

		/** A committed order was cancelled: its units return to stock, once. Idempotent. */
		restock: {
			visibility: "public",
			params: { orderId: IdParam },
			handler(this: InventoryThis, ctx: Context<{ orderId: string }>) {
				return this.restockReservation(ctx.params.orderId);
			}
		},

		/** Internal (operators, tests): return the stock of expired reservations now. */
		expireReservations: {
			visibility: "public",
			async handler(this: InventoryThis) {
				return { expired: await this.expireReservations() };
			}
		},

		// ---- shipping (shipments.ts) ----

		/** Shipments: a customer's own, or all (filtered) for an admin. */
		listShipments: {
			auth: "required",
			params: {
				...PageParams,
				status: { type: "enum", values: [...SHIPMENT_STATUSES], optional: true },
				orderId: { ...IdParam, optional: true }
			},
			handler(
				this: InventoryThis,
				ctx: Context<
					{ page: number; pageSize: number; status?: ShipmentStatus; orderId?: string },
					AuthMeta
				>
			) {
				const { page, pageSize, status, orderId } = ctx.params;
				const query = ownedBy(ctx.meta.user!, {
					...(status && { status }),
					...(orderId && { orderId })
				});
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
			handler(this: InventoryThis, ctx: Context<{ id: string }, AuthMeta>) {
				return this.transitionShipment(ctx.params.id, "shipped", ctx.meta.user);
			}
		},

		/** Admin: the carrier delivered it. */
		deliverShipment: {
			auth: "required",
			roles: ["admin"],
			params: { id: IdParam },
			handler(this: InventoryThis, ctx: Context<{ id: string }, AuthMeta>) {
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
			handler(this: InventoryThis, ctx: Context<{ orderId: string; userId: string }>) {
				return this.holdBackShipment(ctx.params.orderId, ctx.params.userId);
			}
		},

		/** Internal (orders' tracking): the shipment of an order, or null. */
		shipmentForOrder: {
			visibility: "public",
			params: { orderId: IdParam },
			handler(this: InventoryThis, ctx: Context<{ orderId: string }>) {
				return this.shipmentOfOrder(ctx.params.orderId);
			}
		}
	},

	events: {
		/** A paid order gets a shipment (once, however often the event arrives). */
		"order.confirmed": {
			// One shipment per orderId (a unique index): the inbox would guard it a second time.
			idempotent: true,
			params: { orderId: IdParam, userId: IdParam },
			handler(this: InventoryThis, ctx: Context<DomainEvent<"order.confirmed">>) {
				return this.prepareShipment(ctx.params.orderId, ctx.params.userId);
			}
		},

		/** A cancelled order's shipment is not sent (orders only cancels before shipping). */
		"order.cancelled": {
			params: { orderId: IdParam },
			handler(this: InventoryThis, ctx: Context<DomainEvent<"order.cancelled">>) {
				return this.cancelPreparingShipment(ctx.params.orderId);
			}
		}
	},

	methods: {
		...CatalogMethods,
		...ReservationMethods,
		...RecoveryMethods,
		...ShipmentMethods
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
