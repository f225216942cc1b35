/**
 * Inventory's catalog: products, their unique SKUs, and the stock an admin receives or writes
 * off. Every change drops the cached answers of listProducts and getProduct. Methods of the
 * inventory service.
 */
import { ErrorTypes, conflict, notFound } from "../../contracts/errors";
import { isDuplicateKeyError } from "../../platform/persistence/db.mixin";
import { nowIso } from "../../platform/runtime/clock";
import { settings as appSettings } from "../../platform/runtime/settings";
import type { AuthUser } from "../../types/moleculer";
import { SEED_CATALOG } from "./inventory.seed";
import type { InventoryThis } from "./inventory.types";
import { newProductDoc, toProduct, type NewProduct, type ProductDoc } from "./stock-rules";

const productNotFound = () => notFound("Product not found", ErrorTypes.PRODUCT_NOT_FOUND);
const isAdmin = (user?: AuthUser) => user?.role === "admin";

/** `write`, with a unique-index failure (the only one a product has besides its id) as a 409. */
async function withUniqueSku<T>(sku: string | undefined, write: () => Promise<T>): Promise<T> {
	try {
		return await write();
	} catch (err) {
		if (isDuplicateKeyError(err))
			throw conflict(`A product with SKU '${sku}' exists`, ErrorTypes.PRODUCT_EXISTS, {
				sku
			});
		throw err;
	}
}

export const CatalogMethods = {
	async seedDB(this: InventoryThis) {
		if (!appSettings().seedCatalog) return;
		const at = nowIso();
		// One write for the whole catalog: a racing instance's seed fails whole, on the SKUs.
		await this.adapter.insertMany(
			SEED_CATALOG.map(product => newProductDoc({ ...product, active: true }, at))
		);
		this.logger.info(`Seeded ${SEED_CATALOG.length} products.`);
	},

	/** The product `id`; an inactive one is found for admins only. */
	async findProduct(this: InventoryThis, id: string, user?: AuthUser) {
		const doc: ProductDoc | null = await this.adapter.findOne({ _id: id });
		if (!doc || (!doc.active && !isAdmin(user))) throw productNotFound();
		return this.toJSON<ProductDoc>(this.adapter, doc);
	},

	async createProduct(this: InventoryThis, fields: NewProduct) {
		const doc = await withUniqueSku(fields.sku, () =>
			this.adapter.insert(newProductDoc(fields, nowIso()))
		);
		await this.clearCache();
		return toProduct(this.toJSON(this.adapter, doc));
	},

	async updateProduct(
		this: InventoryThis,
		id: string,
		changes: Partial<NewProduct>,
		user?: AuthUser
	) {
		await this.findProduct(id, user);
		const doc = await withUniqueSku(changes.sku, () =>
			this.updateOne(this.adapter, { _id: id }, { $set: { ...changes, updatedAt: nowIso() } })
		);
		if (!doc) throw productNotFound();
		await this.clearCache();
		return toProduct(this.toJSON(this.adapter, doc));
	},

	/** The catalog entries of these ids, inactive ones included. */
	async productsByIds(this: InventoryThis, ids: string[]) {
		if (ids.length === 0) return [];
		const docs = await this.adapter.find({ query: { _id: { $in: ids } } });
		return docs.map(d => toProduct(this.toJSON(this.adapter, d)));
	},

	async changeStock(this: InventoryThis, id: string, delta: number) {
		// A write-off never takes the stock below zero (nor below what orders hold: held units
		// are already out of `stock`).
		const update = { $inc: { stock: delta }, $set: { updatedAt: nowIso() } };
		// A take answers whether it was made; the product is read after it (this change or a later).
		const after: ProductDoc | null =
			delta >= 0
				? await this.updateOne(this.adapter, { _id: id }, update)
				: (await this.takeStock({ _id: id }, -delta, update))
					? await this.adapter.findOne({ _id: id })
					: null;
		if (!after) {
			const current = await this.findProduct(id, { id: "", role: "admin" });
			throw conflict(`Only ${current.stock} units in stock`, ErrorTypes.OUT_OF_STOCK, {
				products: [{ productId: id, requested: -delta, available: current.stock }]
			});
		}
		await this.clearCache();
		return this.toJSON<ProductDoc>(this.adapter, after);
	}
};
