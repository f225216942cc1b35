import { Query } from "mingo";
import { SqliteDatabase } from "../../../../platform/persistence/sqlite";
import { SqliteAdapter, jsonCopy } from "../../../../platform/persistence/sqlite-adapter";

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

	it("never runs code from a query", async () => {
		const doc = await store.insert({ status: "a", name: "Mug" });
		await expect(
			store.find({ query: { $where: "this.name = 'changed'; return true" } })
		).rejects.toThrow(/\$where/);
		expect((await store.findById(doc._id))!.name).toBe("Mug");
	});

	it("decides equality, null, $in and ranges on an indexed column exactly as the query dialect", async () => {
		// Mixed types on purpose: SQLite orders numbers before text, MongoDB compares within a type.
		const values = ["a", "b", "m", "z", "", 0, 1, 5, 2.5, -3, null, undefined];
		for (const [i, v] of values.entries())
			await store.insert(v === undefined ? { n: i } : { status: v, n: i });
		const all = await store.find({});
		const operands = ["b", "m", "", 1, 2.5, 0];
		const queries: Record<string, unknown>[] = [
			{ status: null },
			{ status: { $in: ["a", 5, null] } }
		];
		for (const v of operands) {
			queries.push({ status: v }, { status: { $in: [v, "z"] } });
			for (const op of ["$lt", "$lte", "$gt", "$gte"]) queries.push({ status: { [op]: v } });
			queries.push({ status: { $gt: v, $lte: "z" } }, { _id: all[3]._id, status: v });
		}
		for (const query of queries) {
			const expected = new Query(query)
				.find(all)
				.all()
				.map(d => (d as { n: number }).n);
			const got = (await store.find({ query, sort: "n" })).map(d => d.n);
			expect({ query, got }).toEqual({ query, got: expected });
			expect(await store.count({ query })).toBe(expected.length);
		}
	});

	it("keeps every column equal to its field through inserts and partial updates", async () => {
		const a = await store.insert({ status: "a", due: { at: "2026-01-01" }, n: 1 });
		await store.insert({ status: 7, n: 2 });
		await store.updateOne({ _id: a._id }, { $set: { n: 3 } });
		await store.updateOne({ _id: a._id }, { $unset: { "due.at": "" }, $set: { status: 4 } });
		await store.updateMany({ status: 7 }, { $set: { "due.at": "2027" }, $inc: { n: 1 } });
		const rows = database.db
			.prepare(
				`SELECT f_status = json_extract(doc, '$.status') IS NOT 0 AS s, ` +
					`f_due__at IS json_extract(doc, '$.due.at') AS d FROM things`
			)
			.all();
		expect(rows).toEqual([
			{ s: 1, d: 1 },
			{ s: 1, d: 1 }
		]);
		expect(database.db.prepare(`PRAGMA integrity_check`).get()).toEqual({
			integrity_check: "ok"
		});
		expect((await store.find({ query: { "due.at": "2027" } })).map(d => d.n)).toEqual([3]);
	});

	it("makes a $set on a query SQL decides in SQL alone, to the document the query dialect would make", async () => {
		const base = { status: "a", due: { at: "2026" }, keep: [1, { x: "é" }], n: 1 };
		const set = {
			due: { at: "2031", by: "u" },
			extra: { when: new Date(0), list: [NaN, "\u2028"] },
			n: 2
		};
		const viaSql = await store.insert(base);
		const viaJs = await store.insert({ ...base, status: "b" });
		const statements = jest.spyOn(database, "statement");
		expect(await store.updateMany({ _id: viaSql._id, status: "a" }, { $set: set })).toBe(1);
		const made = statements.mock.calls.map(([sql]) => sql.split(" ")[0]);
		expect(made.filter(word => word !== "BEGIN" && word !== "COMMIT")).toEqual(["UPDATE"]);
		// $and hides the query from SQL: read, changed by the query dialect, written back.
		await store.updateMany(
			{ $and: [{ _id: viaJs._id }, { extra: { $exists: false } }] },
			{ $set: set }
		);
		const { _id: a, ...sqlDoc } = (await store.findById(viaSql._id))!;
		const { _id: b, ...jsDoc } = (await store.findById(viaJs._id))!;
		expect([a, b]).toEqual([viaSql._id, viaJs._id]);
		// Byte for byte, key order included (the status in its place is all that differs).
		expect(JSON.stringify({ ...sqlDoc, status: "b" })).toBe(JSON.stringify(jsDoc));
		// The indexed column under a set field follows it; a query matching nothing changes nothing.
		expect((await store.find({ query: { "due.at": "2031" } })).length).toBe(2);
		expect(await store.updateMany({ _id: viaSql._id, status: "zz" }, { $set: { n: 9 } })).toBe(
			0
		);
		expect((await store.findById(viaSql._id))!.n).toBe(2);
		// One document by a unique field: the UPDATE, then the row it changed read by that field,
		// as stored (no read before it).
		statements.mockClear();
		const one = await store.updateOne({ _id: viaSql._id }, { $set: { when: new Date(0) } });
		expect(
			statements.mock.calls.map(([sql]) => sql).filter(sql => !/^(BEGIN|COMMIT)/.test(sql))
		).toEqual([expect.stringMatching(/^UPDATE /), 'SELECT doc FROM "things" WHERE id = ?']);
		expect(one).toEqual(await store.findById(viaSql._id));
		expect(one!.when).toBe(new Date(0).toJSON());
		expect(await store.updateOne({ _id: viaSql._id, n: 7 }, { $set: { n: 9 } })).toBeNull();
		statements.mockRestore();
		expect(
			await store
				.updateMany({ status: "a" }, { $set: { due: { at: ["no"] } } })
				.catch(e => e.message)
		).toMatch(/must hold a string or a number/);
	});

	it("changes one document by $set, $inc and $unset in SQL alone, as the query dialect would", async () => {
		const other = new SqliteAdapter(database, "others");
		other.init(null, { schema: {} });
		await other.connect();
		await other.ensureIndex({ field: "status" });
		await other.ensureIndex({ field: "due.at", sparse: true });
		const docs = [
			{ _id: "plain", status: "a", active: true, stock: 10, holds: {}, n: "x", history: [] },
			{
				_id: "arrays",
				active: [true],
				stock: [10],
				holds: [{ o1: 1 }],
				n: ["x"],
				history: 1
			},
			{ _id: "bare", stock: 10.5, n: "x" },
			{ _id: "other", active: false, stock: "10", holds: { o1: null }, n: "y" }
		];
		const cases: [query: object, update: object][] = [
			[
				{ active: true, "holds.o1": { $exists: false }, stock: { $gte: 3 } },
				{ $inc: { stock: -3 }, $set: { "holds.o1": 3, updatedAt: "t" } }
			],
			[{ "holds.o1": { $exists: true } }, { $unset: { "holds.o1": "" } }],
			[{ stock: 10 }, { $inc: { stock: 1 }, $set: { "meta.x": 1 } }],
			[{ active: false, stock: { $lt: "2" } }, { $set: { n: { deep: [1, "é", null] } } }],
			[
				{ n: "x", status: "a" },
				{ $unset: { absent: 1 }, $inc: { stock: 0.5 } }
			],
			[{ n: { $eq: "x" }, active: { $exists: false } }, { $set: { active: true } }],
			[
				{ $or: [{ stock: { $gte: 11 } }, { stock: { $gte: 3, $lte: 10 }, n: "x" }] },
				{ $inc: { stock: -3 } }
			],
			[{ $or: [{ "holds.o1": null }, { "holds.o1": 1 }] }, { $unset: { holds: 1 } }],
			[
				{ n: "x" },
				{ $set: { status: "b", due: { at: "2030" } }, $push: { history: { s: "b" } } }
			],
			[{ n: "y" }, { $set: { due: { at: ["no"] } } }],
			[{ status: "a" }, { $unset: { status: "", due: "" }, $push: { history: [1] } }],
			[{ n: "x" }, { $push: { history: { $each: [1, 2] } } }]
		];
		const outcome = (p: Promise<unknown>) =>
			p.then(
				doc => JSON.stringify(doc),
				(err: Error) => `refused: ${err.message}`
			);
		const columns = (s: SqliteAdapter) =>
			Promise.all([
				s.count({ query: { status: "a" } }),
				s.count({ query: { status: "b" } }),
				s.count({ query: { "due.at": "2030" } })
			]);
		const statements = jest.spyOn(database, "statement");
		/**
		 * `change` of `doc` by its id and `query` on `store`, and on `other` with the query under
		 * $and (hidden from SQL: read, decided and changed by mingo): the same outcome, document
		 * and index columns. The statements `store` made, BEGIN and COMMIT aside.
		 */
		const bothWays = async (
			doc: { _id: string },
			query: object,
			change: (s: SqliteAdapter, query: object) => Promise<unknown>
		) => {
			await store.insert(doc);
			await other.insert(doc);
			statements.mockClear();
			const viaSql = await outcome(change(store, { _id: doc._id, ...query }));
			const steps = statements.mock.calls
				.map(([sql]) => sql.split(" ")[0])
				.filter(w => w !== "BEGIN" && w !== "COMMIT")
				.join();
			const viaMingo = await outcome(change(other, { $and: [{ _id: doc._id }, query] }));
			expect([doc._id, query, viaSql]).toEqual([doc._id, query, viaMingo]);
			expect(JSON.stringify(await store.findById(doc._id))).toBe(
				JSON.stringify(await other.findById(doc._id))
			);
			expect(await columns(store)).toEqual(await columns(other));
			await store.removeById(doc._id);
			await other.removeById(doc._id);
			return { steps, viaSql };
		};
		let inSqlAlone = 0;
		let manyInSqlAlone = 0;
		for (const [query, update] of cases) {
			for (const doc of docs) {
				// In SQL: the UPDATE, then the changed row read back. (A guarded UPDATE that
				// missed, then mingo's read finding nothing, makes the same two, to null.)
				const one = await bothWays(doc, query, (s, q) => s.updateOne(q, update));
				if (one.steps === "UPDATE,SELECT" && one.viaSql !== "null") inSqlAlone++;
				// updateMany by the unique field: the same UPDATE, nothing read back.
				const many = await bothWays(doc, query, (s, q) => s.updateMany(q, update));
				if (many.steps === "UPDATE" && many.viaSql !== "0") manyInSqlAlone++;
			}
		}
		statements.mockRestore();
		// Matched in SQL: "plain" in the first, fifth, seventh, ninth and eleventh cases, "other"
		// in the second and fourth, "bare" in the sixth and ninth (a new array); every other pair
		// was decided by mingo, to the same outcome (`null`, `$each` and a column refusing its
		// value are never decided in SQL).
		expect(inSqlAlone).toBe(9);
		expect(manyInSqlAlone).toBe(9); // the same pairs, nothing read back
		// An integer stays an integer: 10 - 3 is stored as 7, not 7.0.
		await store.insert(docs[0]);
		await store.updateOne({ _id: "plain" }, { $inc: { stock: -3 } });
		expect(
			database.db.prepare(`SELECT json_extract(doc, '$.stock') AS s FROM things`).get()
		).toEqual(expect.objectContaining({ s: 7 }));
		expect(
			database.db.prepare(`SELECT json_type(doc, '$.stock') AS t FROM things`).get()
		).toEqual(expect.objectContaining({ t: "integer" }));
	});

	it("replaces an earlier version's generated index column, keeping its documents findable", async () => {
		const old = new SqliteDatabase({
			file: ":memory:",
			synchronous: "NORMAL",
			busyTimeoutMs: 100
		});
		try {
			old.db.exec(`CREATE TABLE legacy (id TEXT PRIMARY KEY NOT NULL, doc TEXT NOT NULL)`);
			old.db.exec(
				`ALTER TABLE legacy ADD COLUMN f_status GENERATED ALWAYS AS (json_extract(doc, '$.status')) VIRTUAL`
			);
			old.db.exec(`CREATE UNIQUE INDEX legacy__f_status ON legacy (f_status)`);
			old.db.exec(`INSERT INTO legacy (id, doc) VALUES ('x', '{"_id":"x","status":"kept"}')`);
			const legacy = new SqliteAdapter(old, "legacy");
			legacy.init(null, { schema: {} });
			await legacy.connect();
			await legacy.ensureIndex({ field: "status", unique: true });
			const column = old.db
				.prepare(`SELECT hidden FROM pragma_table_xinfo('legacy') WHERE name = 'f_status'`)
				.get();
			expect(column).toEqual({ hidden: 0 });
			expect((await legacy.findOne({ status: "kept" }))?._id).toBe("x");
			await expect(legacy.insert({ status: "kept" })).rejects.toMatchObject({
				errorType: "uniqueViolated",
				field: "status"
			});
		} finally {
			old.close();
		}
	});

	it("refuses an object, array or boolean in an indexed field, and an unknown update operator", async () => {
		await expect(store.insert({ status: { $gt: "" } })).rejects.toThrow(
			/must hold a string or a number/
		);
		await expect(store.insert({ status: true })).rejects.toThrow(
			/must hold a string or a number/
		);
		await expect(store.insert({ due: [{ at: "x" }] })).rejects.toThrow(
			/must hold a string or a number/
		);
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

	it("copies a value exactly as JSON.stringify then JSON.parse would", () => {
		const odd = JSON.parse('{"__proto__": {"polluted": true}, "k": 1}');
		const values: unknown[] = [
			{ at: new Date("2026-01-02T03:04:05.000Z"), skip: undefined, fn: () => 1, n: NaN },
			[
				undefined,
				() => 1,
				Infinity,
				-0,
				"s",
				null,
				true,
				{ toJSON: (k: string) => `key ${k}` }
			],
			{
				nested: { toJSON: () => ({ deep: [new Date(0)] }) },
				boxed: [new Number(1), new String("x")]
			},
			odd,
			"plain",
			null
		];
		for (const value of values)
			expect(jsonCopy(value)).toEqual(JSON.parse(JSON.stringify(value)));
		const copy = jsonCopy(odd);
		expect(Object.getPrototypeOf(copy)).toBe(Object.prototype);
		expect(Object.keys(copy)).toEqual(["__proto__", "k"]);
		expect(() => jsonCopy({ big: 1n })).toThrow(TypeError);
	});

	it("hands every caller a document of its own, as stored, never the object another caller got", async () => {
		const doc = await store.insert({ status: "a", due: { at: "2030" }, list: [{ x: 1 }] });
		doc.list[0].x = 2;
		const found = (await store.findById(doc._id))!;
		expect(found.list).toEqual([{ x: 1 }]);
		found.due.at = "changed";
		const updated = (await store.updateOne({ _id: doc._id }, { $set: { when: new Date(0) } }))!;
		expect(updated.due.at).toBe("2030");
		// What is served equals what the table holds: the Date as its JSON string.
		const row = database.db.prepare(`SELECT doc FROM things WHERE id = ?`).get(doc._id)!;
		expect(await store.findById(doc._id)).toEqual(JSON.parse(row.doc as string));
		expect((await store.findOne({ status: "a" }))!.when).toBe(new Date(0).toJSON());
	});
});
