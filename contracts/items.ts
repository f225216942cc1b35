/**
 * The lines of an order as they cross service lines: what a client asks for (product and
 * quantity) and what orders priced, which its events carry.
 */

export interface ItemQuantity {
	productId: string;
	quantity: number;
}

/** A priced line of an order, as orders stores it and its events carry it. */
export interface OrderLine {
	productId: string;
	sku: string;
	name: string;
	quantity: number;
	unitPriceCents: number;
	lineTotalCents: number;
}

/** Same product twice becomes one line with the summed quantity, in the order first seen. */
export function mergeItems(items: readonly ItemQuantity[]): ItemQuantity[] {
	const byId = new Map<string, number>();
	for (const { productId, quantity } of items)
		byId.set(productId, (byId.get(productId) ?? 0) + quantity);
	return [...byId].map(([productId, quantity]) => ({ productId, quantity }));
}

/** A stable order of products (by id), for locks taken in one order and fingerprints. */
export function byProductId(a: ItemQuantity, b: ItemQuantity): number {
	return a.productId < b.productId ? -1 : a.productId > b.productId ? 1 : 0;
}
