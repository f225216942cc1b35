import { ORDER_STATUSES, type OrderStatus } from "../../../contracts/statuses";
import { mergeItems } from "../../../contracts/items";
import {
	canTransition,
	isTerminal,
	multiplyCents,
	priceOrder,
	requestFingerprint,
	sumCents,
	type CatalogProduct
} from "../../../services/orders/order-state";

describe("order state machine", () => {
	const legal: [OrderStatus, OrderStatus][] = [
		["pending", "confirmed"],
		["pending", "rejected"],
		["confirmed", "shipped"],
		["confirmed", "cancelled"],
		["shipped", "delivered"]
	];

	it.each(legal)("allows %s -> %s", (from, to) => {
		expect(canTransition(from, to)).toBe(true);
	});

	it("refuses every other transition", () => {
		for (const from of ORDER_STATUSES)
			for (const to of ORDER_STATUSES)
				if (!legal.some(([f, t]) => f === from && t === to))
					expect([from, to, canTransition(from, to)]).toEqual([from, to, false]);
	});

	it("cannot cancel once shipped", () => {
		expect(canTransition("shipped", "cancelled")).toBe(false);
		expect(canTransition("delivered", "cancelled")).toBe(false);
	});

	it("knows the terminal states", () => {
		expect(ORDER_STATUSES.filter(isTerminal)).toEqual(["delivered", "cancelled", "rejected"]);
	});
});

describe("pricing", () => {
	const catalog: CatalogProduct[] = [
		{ id: "p1", sku: "MUG", name: "Mug", priceCents: 1299, currency: "EUR", active: true },
		{ id: "p2", sku: "TEE", name: "Tee", priceCents: 2500, currency: "EUR", active: true },
		{ id: "p3", sku: "OLD", name: "Old", priceCents: 100, currency: "EUR", active: false },
		{ id: "p4", sku: "USD", name: "Cap", priceCents: 900, currency: "USD", active: true }
	];

	it("prices from the catalog in integer cents", () => {
		const res = priceOrder(
			[
				{ productId: "p1", quantity: 3 },
				{ productId: "p2", quantity: 1 }
			],
			catalog
		);
		expect(res).toEqual({
			ok: true,
			currency: "EUR",
			totalCents: 3 * 1299 + 2500,
			items: [
				{
					productId: "p1",
					sku: "MUG",
					name: "Mug",
					quantity: 3,
					unitPriceCents: 1299,
					lineTotalCents: 3897
				},
				{
					productId: "p2",
					sku: "TEE",
					name: "Tee",
					quantity: 1,
					unitPriceCents: 2500,
					lineTotalCents: 2500
				}
			]
		});
	});

	it("merges the same product into one line", () => {
		expect(
			mergeItems([
				{ productId: "a", quantity: 1 },
				{ productId: "b", quantity: 2 },
				{ productId: "a", quantity: 4 }
			])
		).toEqual([
			{ productId: "a", quantity: 5 },
			{ productId: "b", quantity: 2 }
		]);
	});

	it("refuses unknown and inactive products, naming them", () => {
		expect(
			priceOrder(
				[
					{ productId: "nope", quantity: 1 },
					{ productId: "p3", quantity: 1 }
				],
				catalog
			)
		).toEqual({
			ok: false,
			reason: "PRODUCT_NOT_FOUND",
			productIds: ["nope", "p3"]
		});
	});

	it("refuses mixed currencies", () => {
		const res = priceOrder(
			[
				{ productId: "p1", quantity: 1 },
				{ productId: "p4", quantity: 1 }
			],
			catalog
		);
		expect(res).toEqual({ ok: false, reason: "CURRENCY_MISMATCH", currencies: ["EUR", "USD"] });
	});

	it("never lets money leave the safe integer range", () => {
		expect(multiplyCents(1299, 3)).toBe(3897);
		expect(() => multiplyCents(Number.MAX_SAFE_INTEGER, 2)).toThrow(RangeError);
		expect(() => multiplyCents(12.5, 2)).toThrow(RangeError);
		expect(sumCents([1, 2, 3])).toBe(6);
		expect(() => sumCents([Number.MAX_SAFE_INTEGER, 1])).toThrow(RangeError);
	});

	it("fingerprints a request independent of line order and splitting", () => {
		expect(
			requestFingerprint([
				{ productId: "b", quantity: 1 },
				{ productId: "a", quantity: 2 }
			])
		).toBe(
			requestFingerprint([
				{ productId: "a", quantity: 1 },
				{ productId: "b", quantity: 1 },
				{ productId: "a", quantity: 1 }
			])
		);
		expect(requestFingerprint([{ productId: "a", quantity: 1 }])).not.toBe(
			requestFingerprint([{ productId: "a", quantity: 2 }])
		);
	});
});
