import { SqliteDatabase } from "../../../platform/persistence/sqlite";
import { SqliteAdapter } from "../../../platform/persistence/sqlite-adapter";

let database: SqliteDatabase;
let store: SqliteAdapter;

beforeEach(async () => {
	database = new SqliteDatabase({ file: ":memory:", synchronous: "NORMAL", busyTimeoutMs: 100 });
	store = new SqliteAdapter(database, "things");
	store.init(null, { schema: {} });
	await store.connect();
	await store.ensureIndex({ field: "status" });
	await store.ensureIndex({ field: "due.at", sparse: true });
});

afterEach(() => database.close());

const plan = (sql: string, ...params: (string | number)[]) =>
	database.db
		.prepare(`EXPLAIN QUERY PLAN ${sql}`)
		.all(...params)
		.map(r => String(r.detail))
		.join("; ");

describe("the SQLite adapter", () => {
	it("reads an indexed field through its SQL index, a sparse one through the partial index", () => {
		expect(plan(`SELECT doc FROM things WHERE f_status = ?`, "a")).toMatch(
			/USING INDEX things__f_status/
		);
		expect(plan(`SELECT doc FROM things WHERE f_due__at < ?`, "z")).toMatch(
			/USING INDEX things__f_due__at/
		);
	});

	it("keeps a document in the sparse index only while its field is set", async () => {
		const doc = await store.insert({ status: "a", due: { at: "2026-01-01" } });
		const indexed = () =>
			database.db
				.prepare(
					`SELECT COUNT(*) AS n FROM things INDEXED BY things__f_due__at WHERE f_due__at IS NOT NULL`
				)
				.get()!.n;
		expect(indexed()).toBe(1);
		await store.updateOne({ _id: doc._id }, { $set: { "due.at": null } });
		expect(indexed()).toBe(0);
		expect(await store.find({ query: { "due.at": { $lte: "2030" } } })).toEqual([]);
	});

	it("evaluates what SQL cannot decide with the query dialect: arrays, regexes, $or", async () => {
		await store.insert({ status: "a", tags: ["x", "y"], name: "Mug" });
		await store.insert({ status: "b", tags: ["z"], name: "Cup" });
		expect((await store.find({ query: { tags: "y" } })).map(d => d.name)).toEqual(["Mug"]);
		expect(
			(await store.find({ query: { name: { $regex: "^c", $options: "i" } } })).map(
				d => d.name
			)
		).toEqual(["Cup"]);
		expect(await store.count({ query: { $or: [{ status: "a" }, { name: "Cup" }] } })).toBe(2);
		expect(
			await store.count({ query: { status: { $in: ["a", "b"] }, tags: { $size: 1 } } })
		).toBe(1);
	});

	it("refuses an object or array in an indexed field, and an unknown update operator", async () => {
		await expect(store.insert({ status: { $gt: "" } })).rejects.toThrow(/must hold a scalar/);
		const doc = await store.insert({ status: "a" });
		await expect(store.updateOne({ _id: doc._id }, { $where: "1" })).rejects.toThrow(
			/unsupported update operator/
		);
		await expect(store.updateOne({ _id: doc._id }, { status: "b" })).rejects.toThrow(
			/unsupported update operator/
		);
		expect((await store.findById(doc._id))!.status).toBe("a");
	});

	it("rolls a failed change back whole", async () => {
		await store.insert({ status: "a", n: 1 });
		await store.insert({ status: "a", n: 2 });
		await expect(
			store.updateMany({ status: "a" }, { $set: { status: ["bad"] } })
		).rejects.toThrow();
		expect(await store.count({ query: { status: "a" } })).toBe(2);
		expect(database.db.isTransaction).toBe(false);
	});

	it("sorts, skips and limits like moleculer-db's filters", async () => {
		for (const n of [3, 1, 2]) await store.insert({ status: "s", n });
		const page = await store.find({
			query: { status: "s" },
			sort: ["-n"],
			offset: 1,
			limit: 1
		});
		expect(page.map(d => d.n)).toEqual([2]);
		expect(
			(await store.find({ sort: "n", search: "s", searchFields: "status" })).map(d => d.n)
		).toEqual([1, 2, 3]);
	});
});
