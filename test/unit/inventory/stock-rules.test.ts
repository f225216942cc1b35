import { Query } from "mingo";
import {
	canReservationTransition,
	catalogQuery,
	canShipmentTransition,
	carrierFor,
	crossedLowStock,
	holdOutcome,
	holdPath,
	isExpired,
	literalPattern,
	newProductDoc,
	newTrackingNumber,
	reservationLines,
	returnPath,
	stockThatCannotCross,
	toProduct,
	type ProductDoc
} from "../../../services/inventory/stock-rules";

describe("reservationLines", () => {
	it("sums the quantities of repeated products and sorts by product id", () => {
		expect(
			reservationLines([
				{ productId: "b", quantity: 1 },
				{ productId: "a", quantity: 2 },
				{ productId: "b", quantity: 3 }
			])
		).toEqual([
			{ productId: "a", quantity: 2 },
			{ productId: "b", quantity: 4 }
		]);
	});
});

describe("reservation transitions", () => {
	it("allows the saga's paths", () => {
		expect(canReservationTransition("pending", "reserved")).toBe(true);
		expect(canReservationTransition("reserved", "committed")).toBe(true);
		expect(canReservationTransition("reserved", "released")).toBe(true);
		expect(canReservationTransition("reserved", "expired")).toBe(true);
		expect(canReservationTransition("committed", "restocked")).toBe(true);
	});

	it("never reopens a finished reservation or releases a committed one", () => {
		expect(canReservationTransition("committed", "released")).toBe(false);
		expect(canReservationTransition("released", "reserved")).toBe(false);
		expect(canReservationTransition("expired", "committed")).toBe(false);
		expect(canReservationTransition("restocked", "committed")).toBe(false);
	});

	it("maps each status to what happens to the held units", () => {
		expect(holdOutcome("committed")).toBe("consume");
		expect(holdOutcome("released")).toBe("return");
		expect(holdOutcome("expired")).toBe("return");
		expect(holdOutcome("reserved")).toBe("keep");
		expect(holdOutcome("pending")).toBe("keep");
	});

	it("expires at the expiry time, not before", () => {
		const at = "2026-01-01T00:00:00.000Z";
		expect(isExpired(at, Date.parse(at) - 1)).toBe(false);
		expect(isExpired(at, Date.parse(at))).toBe(true);
	});
});

describe("hold paths", () => {
	it("builds field paths from valid order ids only", () => {
		expect(holdPath("abc_12-3")).toBe("holds.abc_12-3");
		expect(returnPath("abc")).toBe("returned.abc");
		expect(() => holdPath("a.b")).toThrow();
		expect(() => holdPath("$where")).toThrow();
	});
});

describe("crossedLowStock", () => {
	it("fires once, when the stock falls to or under the threshold", () => {
		expect(crossedLowStock(6, 5, 5)).toBe(true);
		expect(crossedLowStock(10, 0, 5)).toBe(true);
		expect(crossedLowStock(5, 4, 5)).toBe(false); // already low
		expect(crossedLowStock(4, 6, 5)).toBe(false); // restocked
		expect(crossedLowStock(9, 6, 5)).toBe(false);
	});
});

describe("stockThatCannotCross", () => {
	it("holds exactly the stocks a take can leave without crossing the threshold", () => {
		for (const threshold of [0, 1, 5])
			for (const quantity of [1, 2, 7])
				for (let stock = 0; stock <= 20; stock++) {
					const fast = new Query(stockThatCannotCross(quantity, threshold)).test({
						stock
					});
					const enough = stock >= quantity;
					const crosses = crossedLowStock(stock, stock - quantity, threshold);
					expect({ threshold, quantity, stock, fast }).toEqual({
						threshold,
						quantity,
						stock,
						fast: enough && !crosses
					});
				}
	});
});

describe("shipments", () => {
	it("moves preparing -> shipped -> delivered, or preparing -> cancelled", () => {
		expect(canShipmentTransition("preparing", "shipped")).toBe(true);
		expect(canShipmentTransition("shipped", "delivered")).toBe(true);
		expect(canShipmentTransition("preparing", "cancelled")).toBe(true);
		expect(canShipmentTransition("preparing", "delivered")).toBe(false);
		expect(canShipmentTransition("shipped", "cancelled")).toBe(false);
		expect(canShipmentTransition("delivered", "shipped")).toBe(false);
	});

	it("gives an order always the same carrier and a fresh tracking number", () => {
		expect(carrierFor("order-1")).toBe(carrierFor("order-1"));
		const a = newTrackingNumber("DHL");
		expect(a).toMatch(/^DH[0-9]{12}$/);
		expect(newTrackingNumber("DHL")).not.toBe(a);
	});
});

describe("toProduct", () => {
	it("never shows the per-order holds", () => {
		const doc: ProductDoc = {
			_id: "p1",
			sku: "S",
			name: "N",
			priceCents: 100,
			currency: "EUR",
			stock: 3,
			active: true,
			holds: { o1: 2 },
			returned: { o0: 1 },
			createdAt: "x",
			updatedAt: "y"
		};
		const p = toProduct(doc);
		expect(p).toMatchObject({ id: "p1", stock: 3, description: "" });
		expect(p).not.toHaveProperty("holds");
		expect(p).not.toHaveProperty("returned");
	});
});

describe("literalPattern", () => {
	it("matches the text literally and case-insensitively", () => {
		expect(literalPattern("a.b").test("xA.Bx")).toBe(true);
		expect(literalPattern("a.b").test("axb")).toBe(false);
		expect(literalPattern("(.*)").test("anything")).toBe(false);
	});
});

describe("catalogQuery", () => {
	const shirt = { name: "Mesh T-shirt", sku: "TEE-1", description: "Cotton", active: true };
	const matches = (q: string | undefined, withInactive: boolean, doc: Record<string, unknown>) =>
		new Query(catalogQuery(q, withInactive)).test(doc);

	it("searches name, SKU and description for the text as typed", () => {
		expect(matches("t-shirt", false, shirt)).toBe(true);
		expect(matches("tee-", false, shirt)).toBe(true);
		expect(matches("COTTON", false, shirt)).toBe(true);
		expect(matches("T.shirt", false, shirt)).toBe(false);
	});

	it("lists inactive products only when asked to", () => {
		const retired = { ...shirt, active: false };
		expect(matches(undefined, false, retired)).toBe(false);
		expect(matches(undefined, true, retired)).toBe(true);
		expect(matches("cotton", true, retired)).toBe(true);
	});
});

describe("newProductDoc", () => {
	it("starts without holds and with a description, even an empty one", () => {
		const fields = {
			sku: "S",
			name: "N",
			priceCents: 1,
			currency: "EUR",
			stock: 2,
			active: true
		};
		expect(newProductDoc(fields, "t")).toEqual({
			...fields,
			description: "",
			holds: {},
			createdAt: "t",
			updatedAt: "t"
		});
	});
});
