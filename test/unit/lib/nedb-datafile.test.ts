/**
 * The NeDB datafile as the db mixin writes it: one appended line per change, rewritten once the
 * appended lines outgrow the live documents, without holding up the datastore, and always
 * loadable to the latest state.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Datastore from "@seald-io/nedb";
import { appendSynchronously, serializeStored } from "../../../lib/nedb-datafile";

let dir: string;
beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "shopmesh-nedb-"))));
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** What the tests store; NeDB adds the `_id`. */
type Doc = { _id?: string; i?: number; n: number };

const lines = (file: string) => fs.readFileSync(file, "utf8").split("\n").filter(Boolean).length;

async function open(file: string, policy = { minLines: 20, factor: 2, slice: 500 }) {
	const db = new Datastore<Doc>({ filename: file });
	await db.loadDatabaseAsync();
	const datafile = appendSynchronously(db, policy);
	return { db, close: datafile.close, idle: datafile.idle };
}

/** What a new process finds in the file. */
async function reload(file: string) {
	const again = new Datastore<Doc>({ filename: file });
	await again.loadDatabaseAsync();
	return again;
}

const byI = (docs: Doc[]) =>
	docs.map(({ i, n }) => ({ i, n })).sort((a, b) => (a.i ?? 0) - (b.i ?? 0));

it("appends one line per change and loads back the latest state", async () => {
	const file = path.join(dir, "t.db");
	const { db, close } = await open(file, { minLines: 1000, factor: 4, slice: 500 });
	const doc = await db.insertAsync<Doc>({ n: 0 });
	for (let n = 1; n <= 5; n++) await db.updateAsync({ _id: doc._id }, { $set: { n } });
	expect(lines(file)).toBe(6);
	close();
	const again = new Datastore<Doc>({ filename: file });
	await again.loadDatabaseAsync();
	expect((await again.findOneAsync({ _id: doc._id }))?.n).toBe(5);
});

it("rewrites the file once the appends outgrow the live documents, losing nothing", async () => {
	const file = path.join(dir, "t.db");
	const { db, close, idle } = await open(file);
	let compactions = 0;
	db.on("compaction.done", () => compactions++);
	const docs = await Promise.all(
		Array.from({ length: 10 }, (_, i) => db.insertAsync<Doc>({ i, n: 0 }))
	);
	for (let n = 1; n <= 20; n++)
		for (const d of docs) {
			await db.updateAsync({ _id: d._id }, { $set: { n } });
			await idle(); // (the changes made during a rewrite are tested below)
		}
	expect(compactions).toBeGreaterThan(2); // 210 changes of 10 documents: rewritten along the way
	// Bounded by (1 + factor) x live documents + the minimum, far below one line per change.
	expect(lines(file)).toBeLessThan(10 * 3 + 20);
	close();
	const again = new Datastore<Doc>({ filename: file });
	await again.loadDatabaseAsync();
	const all = await again.findAsync({});
	expect(all.map(d => d.n)).toEqual(Array(10).fill(20));
});

it("keeps appending to the new file after a rewrite", async () => {
	const file = path.join(dir, "t.db");
	const { db, close } = await open(file);
	const doc = await db.insertAsync<Doc>({ n: 0 });
	await db.compactDatafileAsync();
	await db.updateAsync({ _id: doc._id }, { $set: { n: 1 } });
	expect(lines(file)).toBe(2); // the rewritten document, then the change
	close();
	const again = new Datastore<Doc>({ filename: file });
	await again.loadDatabaseAsync();
	expect((await again.findOneAsync({ _id: doc._id }))?.n).toBe(1);
});

describe("a rewrite", () => {
	// 200 documents inserted at once are 200 appended lines: over the minimum, so the rewrite
	// starts right after the insert and takes 20 event-loop turns of 10 documents.
	const policy = { minLines: 50, factor: 1, slice: 10 };
	const insertMany = (db: Datastore<Doc>) =>
		db.insertAsync<Doc>(Array.from({ length: 200 }, (_, i) => ({ i, n: 0 })));

	it("leaves the datastore serving while it runs", async () => {
		const file = path.join(dir, "t.db");
		const { db, close, idle } = await open(file, policy);
		const docs = await insertMany(db);
		let rewritten = false;
		void idle().then(() => (rewritten = true));
		await db.updateAsync({ _id: docs[0]._id }, { $set: { n: 1 } });
		expect(await db.countAsync({})).toBe(200);
		expect(rewritten).toBe(false); // answered while the rewrite was still going
		await idle();
		expect(rewritten).toBe(true);
		expect(lines(file)).toBe(201); // the 200 documents, then the update made meanwhile
		close();
	});

	it("keeps every change made while it ran, in order", async () => {
		const file = path.join(dir, "t.db");
		const { db, close, idle } = await open(file, policy);
		const docs = await insertMany(db);
		for (let n = 1; n <= 3; n++)
			for (const d of docs.slice(0, 50))
				await db.updateAsync({ _id: d._id }, { $set: { n } });
		await db.removeAsync({ i: { $gte: 190 } }, { multi: true });
		await db.insertAsync<Doc>({ i: 1000, n: 7 });
		await idle();
		const expected = byI(await db.findAsync({}));
		expect(expected).toHaveLength(191);
		close();
		expect(byI(await (await reload(file)).findAsync({}))).toEqual(expected);
		expect(fs.existsSync(`${file}.compacting`)).toBe(false);
	});

	it("writes the indexes with the documents", async () => {
		const file = path.join(dir, "t.db");
		const { db, close, idle } = await open(file, policy);
		await db.ensureIndexAsync({ fieldName: "i", unique: true });
		await insertMany(db);
		await idle();
		expect(fs.readFileSync(file, "utf8")).toContain('"$$indexCreated"');
		close();
		const again = await reload(file);
		await expect(again.insertAsync({ i: 5, n: 0 })).rejects.toMatchObject({
			errorType: "uniqueViolated"
		});
	});

	it("is abandoned on close, leaving the complete file it would have replaced", async () => {
		const file = path.join(dir, "t.db");
		const { db, close, idle } = await open(file, policy);
		const docs = await insertMany(db);
		await db.updateAsync({ _id: docs[7]._id }, { $set: { n: 9 } });
		close();
		await idle();
		expect(fs.existsSync(`${file}.compacting`)).toBe(false);
		expect(lines(file)).toBe(201); // never rewritten
		const again = await reload(file);
		expect(await again.countAsync({})).toBe(200);
		expect((await again.findOneAsync({ _id: docs[7]._id }))?.n).toBe(9);
	});

	it("left half-written by a dead process is ignored and removed", async () => {
		const file = path.join(dir, "t.db");
		fs.writeFileSync(file, JSON.stringify({ _id: "a", n: 1 }) + "\n");
		fs.writeFileSync(`${file}.compacting`, '{"_id":"a","n":0}\n{"_id":"b",');
		const { db, close } = await open(file, policy);
		expect(fs.existsSync(`${file}.compacting`)).toBe(false);
		expect(await db.findAsync({})).toEqual([{ _id: "a", n: 1 }]);
		close();
	});
});

describe("lines", () => {
	// eslint-disable-next-line @typescript-eslint/no-require-imports
	const nedbModel = require("@seald-io/nedb/lib/model.js");
	const doc = {
		_id: "a1",
		status: "confirmed",
		totalCents: 1998,
		ok: true,
		none: null,
		gone: undefined,
		items: [{ productId: "p", quantity: 2, tags: ["x", "y"] }],
		nested: { deep: { at: "2026-11-25T10:00:00.000Z" } },
		empty: {},
		list: []
	};

	it("are what NeDB itself writes, for documents without Dates", () => {
		expect(serializeStored(doc)).toBe(nedbModel.serialize(doc));
	});

	it("keep Dates as NeDB does, anywhere in the document", () => {
		const dated = { ...doc, nested: { when: new Date(1_700_000_000_000) }, at: [new Date(0)] };
		expect(serializeStored(dated)).toBe(nedbModel.serialize(dated));
		expect(serializeStored(dated)).toContain('"$$date":1700000000000');
	});

	it("load back with their Dates as Dates", async () => {
		const file = path.join(dir, "dates.db");
		const { db, close } = await open(file);
		const inserted = await db.insertAsync<Doc & { when?: Date }>({ n: 1, when: new Date(42) });
		close();
		const again = new Datastore<Doc & { when?: Date }>({ filename: file });
		await again.loadDatabaseAsync();
		const loaded = await again.findOneAsync({ _id: inserted._id });
		expect(loaded?.when).toBeInstanceOf(Date);
		expect(loaded?.when?.getTime()).toBe(42);
	});
});
