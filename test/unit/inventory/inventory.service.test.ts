/**
 * inventory alone on one broker: reservations, expiry, low stock and shipments.
 */
import { ServiceBroker, type ServiceSchema } from "moleculer";
import { captureEmits } from "../../helpers/emitted";
import InventoryService from "../../../services/inventory/inventory.service";

const broker = new ServiceBroker({ logger: false });
const svc: any = broker.createService({
	...(InventoryService as unknown as ServiceSchema),
	// Short times so expiry is observable; the low-stock threshold of the tests.
	settings: { reservationTtlMs: 300, sweepIntervalMs: 60_000, lowStockThreshold: 3 }
});

const emitted = captureEmits(broker);

beforeAll(() => broker.start());
afterAll(() => broker.stop());

const admin = { meta: { user: { id: "admin-1", role: "admin" } } };
const customer = (id = "user-1") => ({ meta: { user: { id, role: "customer" } } });

let n = 0;
const orderId = () => `order${++n}x${Date.now()}`;

async function product(stock: number, extra: Record<string, unknown> = {}) {
	return broker.call<any, any>(
		"inventory.createProduct",
		{
			sku: `SKU-${++n}-${Date.now()}`,
			name: "P",
			priceCents: 500,
			currency: "EUR",
			stock,
			...extra
		},
		admin
	);
}
const stockOf = async (id: string) =>
	(await broker.call<any, any>("inventory.getProduct", { id }, admin)).stock;
const reserve = (oid: string, items: { productId: string; quantity: number }[]) =>
	broker.call<any, any>("inventory.reserve", { orderId: oid, items });

describe("reserve", () => {
	it("takes every item's units, or none when one is short", async () => {
		const a = await product(5);
		const b = await product(1);
		const err = await reserve(orderId(), [
			{ productId: a.id, quantity: 2 },
			{ productId: b.id, quantity: 2 }
		]).catch((e: any) => e);
		expect(err).toMatchObject({ code: 409, type: "OUT_OF_STOCK" });
		expect(err.data.products).toEqual([{ productId: b.id, requested: 2, available: 1 }]);
		expect([await stockOf(a.id), await stockOf(b.id)]).toEqual([5, 1]);

		const ok = await reserve(orderId(), [
			{ productId: a.id, quantity: 2 },
			{ productId: b.id, quantity: 1 }
		]);
		expect(ok.status).toBe("reserved");
		expect([await stockOf(a.id), await stockOf(b.id)]).toEqual([3, 0]);
	});

	it("is idempotent per order: a repeated reserve takes nothing more", async () => {
		const p = await product(10);
		const oid = orderId();
		await reserve(oid, [{ productId: p.id, quantity: 4 }]);
		const again = await reserve(oid, [{ productId: p.id, quantity: 4 }]);
		expect(again.status).toBe("reserved");
		expect(await stockOf(p.id)).toBe(6);
	});

	it("merges repeated lines of one product", async () => {
		const p = await product(3);
		const err = await reserve(orderId(), [
			{ productId: p.id, quantity: 2 },
			{ productId: p.id, quantity: 2 }
		]).catch((e: any) => e);
		expect(err.type).toBe("OUT_OF_STOCK");
		expect(await stockOf(p.id)).toBe(3);
	});

	it("never oversells when many orders race for the last units", async () => {
		const p = await product(7);
		const results = await Promise.allSettled(
			Array.from({ length: 40 }, () => reserve(orderId(), [{ productId: p.id, quantity: 1 }]))
		);
		expect(results.filter(r => r.status === "fulfilled")).toHaveLength(7);
		expect(await stockOf(p.id)).toBe(0);
	});

	it("refuses unknown and inactive products as out of stock", async () => {
		const inactive = await product(5, { active: false });
		const err = await reserve(orderId(), [{ productId: inactive.id, quantity: 1 }]).catch(
			e => e
		);
		expect(err.type).toBe("OUT_OF_STOCK");
		const unknown = await reserve(orderId(), [{ productId: "nope", quantity: 1 }]).catch(
			e => e
		);
		expect(unknown.type).toBe("OUT_OF_STOCK");
	});

	it("rejects operator objects and malformed ids before any query", async () => {
		for (const bad of [{ $gt: "" }, "a.b", "$where"]) {
			const err = await broker
				.call<any, any>("inventory.reserve", {
					orderId: bad,
					items: [{ productId: "x", quantity: 1 }]
				})
				.catch((e: any) => e);
			expect(err.type).toBe("VALIDATION_ERROR");
		}
	});
});

describe("release, commit and restock", () => {
	it("release returns the units once, however often it is called", async () => {
		const p = await product(5);
		const oid = orderId();
		await reserve(oid, [{ productId: p.id, quantity: 3 }]);
		await broker.call<any, any>("inventory.release", { orderId: oid });
		await broker.call<any, any>("inventory.release", { orderId: oid });
		expect(await stockOf(p.id)).toBe(5);
		const late = await broker
			.call<any, any>("inventory.commit", { orderId: oid })
			.catch((e: any) => e);
		expect(late).toMatchObject({ code: 409, type: "RESERVATION_NOT_FOUND" });
	});

	it("takes units far from the low-stock threshold with no read of the product", async () => {
		const p = await product(50);
		const productReads = jest.spyOn(svc.adapter, "findOne");
		await reserve(orderId(), [{ productId: p.id, quantity: 2 }]);
		expect(productReads).not.toHaveBeenCalled();
		productReads.mockRestore();
		expect(await stockOf(p.id)).toBe(48);
	});

	it("commit keeps the units out of stock; restock returns them exactly once", async () => {
		const p = await product(5);
		const oid = orderId();
		await reserve(oid, [{ productId: p.id, quantity: 2 }]);
		// A reserved reservation is committed with no read first; a committed one is read.
		const reads = jest.spyOn(svc.stores.reservations, "findOne");
		const c1 = await broker.call<any, any>("inventory.commit", { orderId: oid });
		expect(reads).not.toHaveBeenCalled();
		const c2 = await broker.call<any, any>("inventory.commit", { orderId: oid });
		expect(reads).toHaveBeenCalledTimes(1);
		reads.mockRestore();
		expect([c1.status, c2.status]).toEqual(["committed", "committed"]);
		expect(await stockOf(p.id)).toBe(3);
		const release = await broker
			.call<any, any>("inventory.release", { orderId: oid })
			.catch((e: any) => e);
		expect(release.type).toBe("INVALID_TRANSITION");

		await broker.call<any, any>("inventory.restock", { orderId: oid });
		await broker.call<any, any>("inventory.restock", { orderId: oid });
		expect(await stockOf(p.id)).toBe(5);
	});

	it("commit of an unknown order is a 409; release and restock of one are no-ops", async () => {
		const err = await broker
			.call<any, any>("inventory.commit", { orderId: "ghost" })
			.catch((e: any) => e);
		expect(err.type).toBe("RESERVATION_NOT_FOUND");
		expect(
			await broker.call<any, any>("inventory.release", { orderId: "ghost" })
		).toMatchObject({
			status: "none"
		});
		expect(
			await broker.call<any, any>("inventory.restock", { orderId: "ghost" })
		).toMatchObject({
			status: "none"
		});
	});
});

describe("expiry", () => {
	it("returns the units of a reservation neither committed nor released in time", async () => {
		const p = await product(4);
		const kept = orderId();
		const forgotten = orderId();
		await reserve(kept, [{ productId: p.id, quantity: 1 }]);
		await broker.call<any, any>("inventory.commit", { orderId: kept });
		await reserve(forgotten, [{ productId: p.id, quantity: 2 }]);
		expect(await stockOf(p.id)).toBe(1);

		await new Promise(r => setTimeout(r, 350));
		const { expired } = await broker.call<any, any>("inventory.expireReservations", {});
		expect(expired).toBeGreaterThanOrEqual(1);
		expect(await stockOf(p.id)).toBe(3); // the committed unit stays sold
		const late = await broker
			.call<any, any>("inventory.commit", { orderId: forgotten })
			.catch((e: any) => e);
		expect(late.type).toBe("RESERVATION_NOT_FOUND");
	});
});

describe("stock administration", () => {
	it("adjusts stock and never writes it off below zero", async () => {
		const p = await product(2);
		const up = await broker.call<any, any>(
			"inventory.adjustStock",
			{ id: p.id, delta: 5 },
			admin
		);
		expect(up.stock).toBe(7);
		const err = await broker
			.call<any, any>("inventory.adjustStock", { id: p.id, delta: -8 }, admin)
			.catch((e: any) => e);
		expect(err).toMatchObject({ code: 409, type: "OUT_OF_STOCK" });
		expect(await stockOf(p.id)).toBe(7);
	});

	it("emits inventory.low-stock when the stock falls to the threshold", async () => {
		const p = await product(5);
		await reserve(orderId(), [{ productId: p.id, quantity: 1 }]); // 4: above
		expect(emitted.filter(e => e.name === "inventory.low-stock")).toHaveLength(0);
		await reserve(orderId(), [{ productId: p.id, quantity: 2 }]); // 2: crossed
		const low = emitted.filter(e => e.name === "inventory.low-stock");
		expect(low).toHaveLength(1);
		expect(low[0].payload).toMatchObject({ productId: p.id, stock: 2, threshold: 3 });
	});

	it("records low-stock in the very write that crosses the threshold, once under a race", async () => {
		const p = await product(6);
		const service = broker.getLocalService("inventory") as any;
		const writes = jest.spyOn(service, "updateOne");
		const before = emitted.filter(e => e.name === "inventory.low-stock").length;
		await Promise.all(
			Array.from({ length: 6 }, () => reserve(orderId(), [{ productId: p.id, quantity: 1 }]))
		);
		const done = await Promise.all(writes.mock.results.map(r => r.value));
		const crossing = writes.mock.calls.filter(
			([, , update]: any[], i) =>
				done[i] !== null && update.$push?.outbox?.name === "inventory.low-stock"
		);
		writes.mockRestore();
		expect(crossing).toHaveLength(1);
		expect(crossing[0][2]).toMatchObject({ $inc: { stock: -1 } });
		expect(crossing[0][1]).toMatchObject({ stock: 4 }); // the stock it replaced: 4 -> 3
		const low = emitted.filter(e => e.name === "inventory.low-stock").slice(before);
		expect(low.map(e => e.payload)).toEqual([
			expect.objectContaining({ productId: p.id, stock: 3, threshold: 3 })
		]);
		expect(await stockOf(p.id)).toBe(0);
	});

	it("refuses a duplicate SKU and ignores fields that are not the product's", async () => {
		const p = await product(1);
		const dup = await broker
			.call(
				"inventory.createProduct",
				{ sku: p.sku, name: "X", priceCents: 1, currency: "EUR" },
				admin
			)
			.catch((e: any) => e);
		expect(dup).toMatchObject({ code: 409, type: "PRODUCT_EXISTS" });
		const patched = await broker.call<any, any>(
			"inventory.updateProduct",
			{ id: p.id, name: "New", stock: 999, holds: { x: 1 }, _id: "other" },
			admin
		);
		expect(patched).toMatchObject({ id: p.id, name: "New", stock: 1 });
	});

	it("hides inactive products from customers", async () => {
		const p = await product(1, { active: false });
		const err = await broker
			.call<any, any>("inventory.getProduct", { id: p.id }, customer())
			.catch((e: any) => e);
		expect(err).toMatchObject({ code: 404, type: "PRODUCT_NOT_FOUND" });
		const list = await broker.call<any, any>(
			"inventory.listProducts",
			{ q: p.sku },
			customer()
		);
		expect(list.total).toBe(0);
	});
});

describe("shipments", () => {
	const confirmed = (oid: string, userId = "user-1") =>
		broker.broadcastLocal("order.confirmed", {
			orderId: oid,
			userId,
			eventId: `e-${oid}`
		} as any) as unknown as Promise<void>;

	async function shipmentOf(oid: string) {
		for (let i = 0; i < 50; i++) {
			const s = await broker.call<any, any>("inventory.shipmentForOrder", { orderId: oid });
			if (s) return s;
			await new Promise(r => setTimeout(r, 10));
		}
		throw new Error("no shipment");
	}

	it("creates one shipment per order by its own key: a re-published event, with a new id, too", async () => {
		const oid = orderId();
		const again = (eventId: string) =>
			broker.broadcastLocal("order.confirmed", {
				orderId: oid,
				userId: "user-1",
				eventId
			} as any) as unknown as Promise<void>;
		await Promise.all([again("first"), again("second")]);
		await again("third");
		await shipmentOf(oid);
		await new Promise(r => setTimeout(r, 50)); // the later deliveries' handlers
		const all = await broker.call<any, any>("inventory.listShipments", { orderId: oid }, admin);
		expect(all.total).toBe(1);
		expect(
			emitted.filter(e => e.name === "shipment.created" && e.payload?.orderId === oid)
		).toHaveLength(1);
	});

	it("creates one shipment per paid order, however often the event arrives", async () => {
		const oid = orderId();
		await confirmed(oid);
		await confirmed(oid);
		const s = await shipmentOf(oid);
		expect(s).toMatchObject({ orderId: oid, status: "preparing", userId: "user-1" });
		const all = await broker.call<any, any>("inventory.listShipments", { orderId: oid }, admin);
		expect(all.total).toBe(1);
		expect(emitted.filter(e => e.name === "shipment.created")).toHaveLength(1);
	});

	it("moves preparing -> shipped -> delivered with an event each, refusing skips", async () => {
		const oid = orderId();
		await confirmed(oid);
		const s = await shipmentOf(oid);
		const skip = await broker
			.call<any, any>("inventory.deliverShipment", { id: s.id }, admin)
			.catch((e: any) => e);
		expect(skip).toMatchObject({ code: 409, type: "INVALID_TRANSITION" });
		await broker.call<any, any>("inventory.shipShipment", { id: s.id }, admin);
		const done = await broker.call<any, any>("inventory.deliverShipment", { id: s.id }, admin);
		expect(done.history.map((h: any) => h.status)).toEqual([
			"preparing",
			"shipped",
			"delivered"
		]);
		expect(emitted.map(e => e.name)).toEqual(
			expect.arrayContaining(["shipment.shipped", "shipment.delivered"])
		);
	});

	it("shows a shipment to its customer and admins only", async () => {
		const oid = orderId();
		await confirmed(oid, "owner");
		const s = await shipmentOf(oid);
		await expect(
			broker.call<any, any>("inventory.getShipment", { id: s.id }, customer("owner"))
		).resolves.toMatchObject({ id: s.id });
		const other = await broker
			.call<any, any>("inventory.getShipment", { id: s.id }, customer("intruder"))
			.catch((e: any) => e);
		expect(other).toMatchObject({ code: 404, type: "SHIPMENT_NOT_FOUND" });
		const mine = await broker.call<any, any>(
			"inventory.listShipments",
			{},
			customer("intruder")
		);
		expect(mine.rows.some((r: any) => r.id === s.id)).toBe(false);
	});

	it("cancels a preparing shipment when its order is cancelled", async () => {
		const oid = orderId();
		await confirmed(oid);
		await shipmentOf(oid);
		await broker.broadcastLocal("order.cancelled", { orderId: oid });
		let status = "";
		for (let i = 0; i < 50 && status !== "cancelled"; i++) {
			await new Promise(r => setTimeout(r, 10));
			status = (await broker.call<any, any>("inventory.shipmentForOrder", { orderId: oid }))
				.status;
		}
		expect(status).toBe("cancelled");
		expect(emitted.filter(e => e.name === "shipment.cancelled")).toHaveLength(1);
	});

	describe("held back for a cancelling order", () => {
		const cancelShipment = (oid: string) =>
			broker.call<any, any>("inventory.cancelShipment", { orderId: oid, userId: "user-1" });
		const cancelledEvents = (oid: string) =>
			emitted.filter(e => e.name === "shipment.cancelled" && e.payload.orderId === oid);

		it("cancels a preparing shipment once, however often it is asked", async () => {
			const oid = orderId();
			await confirmed(oid);
			const s = await shipmentOf(oid);
			await expect(cancelShipment(oid)).resolves.toMatchObject({
				id: s.id,
				status: "cancelled"
			});
			await expect(cancelShipment(oid)).resolves.toMatchObject({ status: "cancelled" });
			expect(cancelledEvents(oid)).toHaveLength(1);
			const ship = await broker
				.call<any, any>("inventory.shipShipment", { id: s.id }, admin)
				.catch((e: any) => e);
			expect(ship).toMatchObject({ code: 409, type: "INVALID_TRANSITION" });
		});

		it("refuses once the shipment has left", async () => {
			const oid = orderId();
			await confirmed(oid);
			const s = await shipmentOf(oid);
			await broker.call<any, any>("inventory.shipShipment", { id: s.id }, admin);
			const err = await cancelShipment(oid).catch((e: any) => e);
			expect(err).toMatchObject({
				code: 409,
				type: "INVALID_TRANSITION",
				data: { status: "shipped" }
			});
			expect((await shipmentOf(oid)).status).toBe("shipped");
		});

		it("before the shipment exists: none is prepared when the order's event comes", async () => {
			const oid = orderId();
			await expect(cancelShipment(oid)).resolves.toMatchObject({
				orderId: oid,
				status: "cancelled"
			});
			await confirmed(oid);
			await new Promise(r => setTimeout(r, 30));
			const all = await broker.call<any, any>(
				"inventory.listShipments",
				{ orderId: oid },
				admin
			);
			expect(all.rows.map((r: any) => r.status)).toEqual(["cancelled"]);
			expect(emitted.filter(e => e.payload?.orderId === oid)).toEqual([]);
		});

		it("lets exactly one of ship and cancel win when they meet", async () => {
			for (let i = 0; i < 10; i++) {
				const oid = orderId();
				await confirmed(oid);
				const s = await shipmentOf(oid);
				const [ship, cancel] = await Promise.allSettled([
					broker.call<any, any>("inventory.shipShipment", { id: s.id }, admin),
					cancelShipment(oid)
				]);
				const final = (await shipmentOf(oid)).status;
				expect([ship.status, cancel.status].sort()).toEqual(["fulfilled", "rejected"]);
				expect(final).toBe(ship.status === "fulfilled" ? "shipped" : "cancelled");
			}
		});
	});
});
