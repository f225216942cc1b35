/**
 * lib/nedb-modify.ts: NeDB's update applied to only the fields it names gives the same document,
 * or the same error, as NeDB's own for every modifier; it never changes the stored document; and
 * a datastore using it keeps stored documents apart from what it hands out.
 */
import Datastore from "@seald-io/nedb";
import { modifyTouchedFields, type Modify } from "../../../lib/nedb-modify";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const nedbModel = require("@seald-io/nedb/lib/model.js") as {
	modify: Modify;
	deepCopy<T>(doc: T): T;
};
const nedbModify = nedbModel.modify;
const modify = modifyTouchedFields(nedbModify);

const stored = () => ({
	_id: "o1",
	status: "pending",
	totalCents: 1200,
	items: [{ productId: "p1", quantity: 2, tags: ["a", "b"] }],
	history: [{ status: "pending", at: "2026-12-02T00:00:00.000Z" }],
	outbox: [{ id: "e1", type: "order.created" }],
	address: { city: "Lyon", lines: ["1 rue"] },
	counts: { seen: 1 },
	lockedUntil: 5
});

const UPDATES: Record<string, unknown>[] = [
	{ $set: { status: "confirmed", updatedAt: "now" } },
	{ $set: { "address.city": "Paris", "address.zip": "75001", "fresh.deep.key": 1 } },
	{ $set: { items: [] }, $unset: { lockedUntil: true } },
	{ $unset: { missing: true, "address.lines": true, "nowhere.at.all": true } },
	{ $push: { history: { status: "confirmed", at: "t" }, outbox: { id: "e2" } } },
	{ $push: { history: { $each: [{ a: 1 }, { a: 2 }], $slice: -2 } } },
	{ $push: { "items.0.tags": "c", newList: 1 } },
	{ $addToSet: { "address.lines": "2 rue", labels: { $each: ["x", "x", "y"] } } },
	{ $pull: { outbox: { id: { $in: ["e1"] } }, "items.0.tags": "a" } },
	{ $pop: { history: 1, "address.lines": -1 } },
	{ $inc: { totalCents: -200, "counts.seen": 1, "counts.fresh": 3 } },
	{ $min: { totalCents: 5, lockedUntil: 10 }, $max: { "counts.seen": 9, newMax: 1 } },
	{ $set: { _id: "o1", status: "same id" } },
	// Refused by NeDB: the same error is expected.
	{ $set: { _id: "other" } },
	{ $set: { "bad.$key": 1 } },
	{ $set: { status: { "dotted.key": 1 } } },
	{ $push: { status: "not an array" } },
	{ $inc: { status: 1 } },
	{ $inc: { totalCents: "1" } },
	{ $pull: { totalCents: 1 } },
	{ $rename: { status: "state" } },
	{ $set: "not an object" },
	{ $set: null },
	{ $set: { a: 1 }, plain: 2 },
	// A replacement document, not modifiers: NeDB's own path.
	{ status: "replaced", items: [] },
	{}
];

function outcome(fn: Modify, doc: Record<string, unknown>, update: Record<string, unknown>) {
	try {
		return { doc: fn(doc, nedbModel.deepCopy(update)) };
	} catch (err) {
		return { error: (err as Error).message };
	}
}

describe("modifyTouchedFields", () => {
	it.each(UPDATES.map(u => [JSON.stringify(u), u]))(
		"gives what NeDB gives for %s",
		(_name, update) => {
			const expected = outcome(nedbModify, stored(), update);
			const actual = outcome(modify, stored(), update);
			expect(actual).toEqual(expected);
			// The same keys in the same order (the datafile line is the same).
			if (expected.doc) expect(JSON.stringify(actual.doc)).toBe(JSON.stringify(expected.doc));
		}
	);

	it.each(UPDATES.map(u => [JSON.stringify(u), u]))(
		"leaves the stored document as it was for %s",
		(_name, update) => {
			const doc = stored();
			outcome(modify, doc, update);
			expect(doc).toEqual(stored());
		}
	);

	it("shares only the fields the update does not name", () => {
		const doc = stored();
		const next = modify(doc, { $push: { history: { status: "confirmed" } } });
		expect(next.items).toBe(doc.items);
		expect(next.outbox).toBe(doc.outbox);
		expect(next.history).not.toBe(doc.history);
		expect(next.history).toEqual([...doc.history, { status: "confirmed" }]);
		const nested = modify(doc, { $set: { "address.city": "Paris" } });
		expect(nested.address).not.toBe(doc.address);
		expect((nested.address as { lines: unknown }).lines).not.toBe(doc.address.lines);
	});
});

describe("a datastore with it", () => {
	const original = nedbModel.modify;
	beforeAll(() => (nedbModel.modify = modify));
	afterAll(() => (nedbModel.modify = original));

	it("keeps what it stores apart from what it returns and from the update's own values", async () => {
		const db = new Datastore({ inMemoryOnly: true });
		await db.ensureIndexAsync({ fieldName: "orderId", unique: true });
		await db.insertAsync({ _id: "a", orderId: "o1", items: [{ q: 1 }], history: [] });
		await db.insertAsync({ _id: "b", orderId: "o2", items: [], history: [] });

		const { affectedDocuments } = await db.updateAsync(
			{ _id: "a" },
			{ $push: { history: { status: "confirmed" } } },
			{ returnUpdatedDocs: true }
		);
		const returned = affectedDocuments as unknown as { items: { q: number }[] };
		returned.items[0].q = 99; // a caller changing what it got back
		const found = (await db.findOneAsync({ _id: "a" })) as unknown as {
			items: { q: number }[];
			history: unknown[];
		};
		expect(found.items[0].q).toBe(1);
		expect(found.history).toEqual([{ status: "confirmed" }]);
		found.items.push({ q: 2 });
		expect(((await db.findOneAsync({ _id: "a" })) as any).items).toEqual([{ q: 1 }]);

		// A refused update (unique index) leaves the stored document whole.
		await expect(db.updateAsync({ _id: "a" }, { $set: { orderId: "o2" } })).rejects.toThrow();
		expect(await db.findOneAsync({ _id: "a" })).toEqual({
			_id: "a",
			orderId: "o1",
			items: [{ q: 1 }],
			history: [{ status: "confirmed" }]
		});
		expect(await db.findAsync({ orderId: "o1" })).toHaveLength(1);
	});
});
