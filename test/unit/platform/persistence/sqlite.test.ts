import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { DatabaseSync } from "node:sqlite";
import { SqliteDatabase } from "../../../../platform/persistence/sqlite";
import { SqliteAdapter } from "../../../../platform/persistence/sqlite-adapter";

let dir: string;
let database: SqliteDatabase;
let store: SqliteAdapter;
let other: DatabaseSync; // another connection: it sees only what is committed

async function open(groupCommit?: boolean) {
	database = new SqliteDatabase({
		file: path.join(dir, "things.sqlite"),
		synchronous: "NORMAL",
		busyTimeoutMs: 1000,
		groupCommit
	});
	store = new SqliteAdapter(database, "things");
	store.init(null, { schema: {} });
	await store.connect();
	await store.ensureIndex({ field: "sku", unique: true });
	other = new DatabaseSync(path.join(dir, "things.sqlite"), { readOnly: true });
}
const committed = () => Number(other.prepare(`SELECT COUNT(*) AS n FROM things`).get()!.n);

beforeEach(() => {
	dir = fs.mkdtempSync(path.join(os.tmpdir(), "shopmesh-sqlite-"));
});
afterEach(() => {
	other?.close();
	database?.close();
	fs.rmSync(dir, { recursive: true, force: true });
});

describe("group commit", () => {
	it("commits a turn's operations together and delivers each only once committed", async () => {
		await open();
		const writes = [store.insert({ sku: "a" }), store.insert({ sku: "b" })];
		const read = store.findOne({ sku: "a" }); // sees this turn's write, delivered after COMMIT
		expect(committed()).toBe(0);
		const found = await read;
		expect(found?.sku).toBe("a");
		expect(committed()).toBe(2);
		await Promise.all(writes);
	});

	it("undoes a failed operation alone; the rest of its group commits", async () => {
		await open();
		await store.insert({ sku: "taken" });
		const results = await Promise.allSettled([
			store.insert({ sku: "a" }),
			store.insert({ sku: "taken" }),
			store.updateMany({ sku: "a" }, { $set: { n: 1 } })
		]);
		expect(results.map(r => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
		expect((results[1] as PromiseRejectedResult).reason).toMatchObject({
			errorType: "uniqueViolated",
			field: "sku"
		});
		expect(committed()).toBe(2);
		expect((await store.findOne({ sku: "a" }))?.n).toBe(1);
	});

	it("a synchronous transaction joining an open group undoes only itself when it throws", async () => {
		await open();
		const write = store.insert({ sku: "a" });
		expect(() =>
			database.transaction(() => {
				database.db.exec(`INSERT INTO things (id, doc) VALUES ('x', '{"_id":"x"}')`);
				throw new Error("changed its mind");
			})
		).toThrow("changed its mind");
		await write;
		expect(committed()).toBe(1);
		expect(await store.findById("x")).toBeNull();
	});

	it("serves nothing of a group SQLite rolled back whole", async () => {
		await open();
		const kept = await store.insert({ sku: "kept" });
		const lost = store.insert({ _id: "lost", sku: "lost" });
		const changed = store.updateOne({ _id: kept._id }, { $set: { n: 1 } });
		const failing = database.operation(() => {
			database.db.exec("ROLLBACK"); // what an I/O error or a full disk does
			throw new Error("disk gone");
		});
		await expect(failing).rejects.toThrow("disk gone");
		await expect(lost).rejects.toThrow("disk gone");
		await expect(changed).rejects.toThrow("disk gone");
		expect(await store.findById("lost")).toBeNull();
		expect((await store.findById(kept._id))!.n).toBeUndefined();
		expect(committed()).toBe(1);
	});

	it("a read outside any group is answered at once", async () => {
		await open();
		await store.insert({ sku: "a" });
		let answered = false;
		const read = store.count({}).then(n => ((answered = true), n));
		await Promise.resolve();
		await Promise.resolve();
		expect(answered).toBe(true);
		expect(await read).toBe(1);
	});

	it("commits what is pending when the database is closed", async () => {
		await open();
		const write = store.insert({ sku: "a" });
		database.close();
		await write;
		expect(committed()).toBe(1);
	});

	it("without group commit, commits each operation before it returns", async () => {
		await open(false);
		const write = store.insert({ sku: "a" });
		expect(committed()).toBe(1);
		await write;
	});
});
