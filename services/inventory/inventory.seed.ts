/**
 * The small catalog of the embedded default (SEED_CATALOG, on outside production), so a fresh
 * `npm start` has something to sell.
 */
export const SEED_CATALOG = [
	{
		sku: "MESH-TEE-BLK",
		name: "Mesh T-shirt, black",
		description: "Organic cotton tee with the shopmesh logo.",
		priceCents: 1990,
		currency: "EUR",
		stock: 120
	},
	{
		sku: "MESH-HOOD-GRY",
		name: "Mesh hoodie, grey",
		description: "Heavy fleece hoodie.",
		priceCents: 4990,
		currency: "EUR",
		stock: 40
	},
	{
		sku: "MESH-MUG",
		name: "Mesh mug",
		description: "Stoneware mug, 330 ml.",
		priceCents: 1290,
		currency: "EUR",
		stock: 200
	},
	{
		sku: "MESH-STICKERS",
		name: "Sticker pack",
		description: "Ten vinyl stickers.",
		priceCents: 490,
		currency: "EUR",
		stock: 500
	},
	{
		sku: "MESH-CAP",
		name: "Mesh cap",
		description: "Six-panel cap, one size.",
		priceCents: 2490,
		currency: "EUR",
		stock: 8
	}
] as const;
