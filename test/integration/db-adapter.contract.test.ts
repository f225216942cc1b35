/**
 * The db mixin's contract, run against every adapter we can reach: SQLite in memory and in files
 * always, MongoDB when MONGO_URI is set (no MongoDB server runs in CI here).
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ServiceBroker, type ServiceSchema } from "moleculer";
import { DbMixin, isDuplicateKeyError } from "../../platform/persistence/db.mixin";
import { resetSettings } from "../../platform/runtime/settings";

interface Target {
	name: string;
	env: Record<string, string | undefined>;
}

const targets: Target[] = [
	{
		name: "SQLite in memory",
		env: { NODE_ENV: "test", MONGO_URI: undefined, DATA_DIR: undefined }
	},
	{ name: "SQLite files", env: { NODE_ENV: "development", MONGO_URI: undefined } }
];
if (process.env.MONGO_URI)
	targets.push({ name: "MongoDB", env: { NODE_ENV: "test", MONGO_URI: process.env.MONGO_URI } });

describe.each(targets)("db mixin on $name", ({ env }) => {
	const saved = { ...process.env };
	let broker: ServiceBroker;
	let svc: any;
	let dataDir: string;

	beforeAll(async () => {
		dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "shopmesh-db-"));
		process.env.DATA_DIR = dataDir;
		for (const [k, v] of Object.entries(env))
			if (v === undefined) delete process.env[k];
			else process.env[k] = v;
		resetSettings();
		broker = new ServiceBroker({ logger: false, cacher: "Memory" });
		const name = `contract${Date.now()}`;
		broker.createService({
			name,
			mixins: [
				DbMixin({
					indexes: [{ field: "key", unique: true }],
					stores: { extra: [{ field: "ref", unique: true }] }
				})
			],
			actions: {
				cached: {
					cache: true,
					handler(this: any) {
						return this.adapter.count();
					}
				}
			}
		} as ServiceSchema);
		await broker.start();
		svc = broker.getLocalService(name);
		await svc.adapter.clear();
		await svc.stores.extra.clear?.();
	});

	afterAll(async () => {
		await broker.stop();
		process.env = saved;
		resetSettings();
		fs.rmSync(dataDir, { recursive: true, force: true });
	});

	it("inserts and finds by id and query", async () => {
		const doc = await svc.adapter.insert({ key: "a", n: 1 });
		const json = svc.toJSON(svc.adapter, doc);
		expect(typeof json._id).toBe("string");
		expect((await svc.adapter.findById(json._id)).n).toBe(1);
		expect(await svc.adapter.count({ query: { key: "a" } })).toBe(1);
	});

	it("inserts a document that names its own id, found by that id", async () => {
		const doc = svc.toJSON(
			svc.adapter,
			await svc.insertWithNewId(svc.adapter, (id: string) => ({ key: `self-${id}` }))
		);
		expect(doc.key).toBe(`self-${doc._id}`);
		expect((await svc.adapter.findById(doc._id)).key).toBe(doc.key);
		expect(await svc.adapter.count({ query: { _id: doc._id } })).toBe(1);
	});

	it("reports a unique index violation as a duplicate key", async () => {
		await svc.adapter.insert({ key: "dup" });
		const err = await svc.adapter.insert({ key: "dup" }).catch((e: unknown) => e);
		expect(isDuplicateKeyError(err)).toBe(true);
	});

	it("updates conditionally and atomically: 20 racers, 5 units, 5 winners", async () => {
		const doc = svc.toJSON(svc.adapter, await svc.adapter.insert({ key: "stock", stock: 5 }));
		const results = await Promise.all(
			Array.from({ length: 20 }, () =>
				svc.updateOne(
					svc.adapter,
					{ _id: doc._id, stock: { $gte: 1 } },
					{ $inc: { stock: -1 } }
				)
			)
		);
		expect(results.filter(Boolean)).toHaveLength(5);
		expect((await svc.adapter.findById(doc._id)).stock).toBe(0);
		expect(
			await svc.updateOne(
				svc.adapter,
				{ _id: doc._id, stock: { $gte: 1 } },
				{ $inc: { stock: -1 } }
			)
		).toBeNull();
	});

	it("holds per key: conditional $exists, $inc with $set/$unset of a dotted field", async () => {
		// The inventory's reservation holds rely on exactly these operators on every store.
		const doc = svc.toJSON(
			svc.adapter,
			await svc.adapter.insert({ key: "holds", stock: 3, holds: {} })
		);
		const take = () =>
			svc.updateOne(
				svc.adapter,
				{ _id: doc._id, stock: { $gte: 2 }, "holds.o1": { $exists: false } },
				{ $inc: { stock: -2 }, $set: { "holds.o1": 2 } }
			);
		const [first, second] = await Promise.all([take(), take()]);
		expect([first, second].filter(Boolean)).toHaveLength(1);
		const held = await svc.adapter.findOne({ _id: doc._id });
		expect([held.stock, held.holds]).toEqual([1, { o1: 2 }]);

		const give = () =>
			svc.updateOne(
				svc.adapter,
				{ _id: doc._id, "holds.o1": { $exists: true } },
				{ $inc: { stock: 2 }, $unset: { "holds.o1": "" } }
			);
		expect([await give(), await give()].filter(Boolean)).toHaveLength(1);
		const back = await svc.adapter.findOne({ _id: doc._id });
		expect([back.stock, back.holds]).toEqual([3, {}]);
	});

	it("queries by string ids ($in too) and appends with $push", async () => {
		const a = svc.toJSON(svc.adapter, await svc.adapter.insert({ key: "ids-a", log: [] }));
		const b = svc.toJSON(svc.adapter, await svc.adapter.insert({ key: "ids-b", log: [] }));
		const found = await svc.adapter.find({ query: { _id: { $in: [a._id, b._id, "nope"] } } });
		expect(found).toHaveLength(2);
		expect(await svc.adapter.count({ query: { _id: a._id } })).toBe(1);
		const pushed = await svc.updateOne(svc.adapter, { _id: a._id }, { $push: { log: "x" } });
		expect(pushed.log).toEqual(["x"]);
		expect(await svc.adapter.updateMany({ _id: b._id }, { $set: { n: 2 } })).toBe(1);
		expect(await svc.adapter.findOne({ _id: "not-an-id" })).toBeFalsy();
	});

	it("pages a listing whose sort keys tie in one order: each document once, newest first", async () => {
		const createdAt = "2030-01-01T00:00:00.000Z";
		const ids: string[] = [];
		for (let i = 0; i < 7; i++)
			ids.push(
				svc.toJSON(
					svc.adapter,
					await svc.adapter.insert({ key: `tie-${i}`, tie: 1, createdAt })
				)._id
			);
		const seen: string[] = [];
		for (let page = 1; page <= 3; page++) {
			const res = await svc.findPage(
				svc.adapter,
				{ tie: 1 },
				{ page, pageSize: 3, sort: ["-createdAt"] },
				(doc: { _id: string }) => doc._id
			);
			expect(res).toMatchObject({ total: 7, totalPages: 3 });
			seen.push(...res.rows);
		}
		// Ids are time-ordered: the same millisecond's documents come newest first too.
		expect(seen).toEqual([...ids].sort().reverse());
		const ascending = await svc.findPage(
			svc.adapter,
			{ tie: 1 },
			{ page: 1, pageSize: 7, sort: ["createdAt"] },
			(doc: { _id: string }) => doc._id
		);
		expect(ascending.rows).toEqual([...ids].sort());
	});

	it("finds documents by a field of their array's elements ($gt ''), each once", async () => {
		// The outbox scan's query (durable-events.mixin.ts).
		await svc.adapter.insert({ key: "box-empty", box: [] });
		await svc.adapter.insert({ key: "box-none" });
		await svc.adapter.insert({ key: "box-one", box: [{ eventId: "e1" }] });
		await svc.adapter.insert({ key: "box-two", box: [{ eventId: "e2" }, { eventId: "e3" }] });
		const found = await svc.adapter.find({ query: { "box.eventId": { $gt: "" } } });
		expect(found.map((d: { key: string }) => d.key).sort()).toEqual(["box-one", "box-two"]);
	});

	it("hands every caller its own copy: changing a returned document changes nothing stored", async () => {
		const inserted = await svc.adapter.insert({ key: "copy", nested: { n: 1 }, list: [1] });
		const id = svc.toJSON(svc.adapter, inserted)._id;
		inserted.nested.n = 2;
		inserted.list.push(2);
		const found = await svc.adapter.findById(inserted._id);
		expect([found.nested, found.list]).toEqual([{ n: 1 }, [1]]);
		found.nested.n = 3;
		const [listed] = await svc.adapter.find({ query: { _id: id } });
		expect(listed.nested.n).toBe(1);
		listed.list.push(9);
		const updated = await svc.updateOne(svc.adapter, { _id: id }, { $inc: { "nested.n": 1 } });
		expect(updated.list).toEqual([1]);
		updated.nested.n = 42;
		updated.list.push(42);
		const again = await svc.adapter.findOne({ key: "copy" });
		expect([again.nested.n, again.list]).toEqual([2, [1]]);
	});

	it("opens secondary collections with their own indexes", async () => {
		await svc.stores.extra.insert({ ref: "r1" });
		const err = await svc.stores.extra.insert({ ref: "r1" }).catch((e: unknown) => e);
		expect(isDuplicateKeyError(err)).toBe(true);
		expect(await svc.adapter.count({ query: { ref: "r1" } })).toBe(0);
	});

	it("drops cached answers when the data changes", async () => {
		const before = await broker.call(`${svc.name}.cached`);
		await svc.adapter.insert({ key: `c${Date.now()}` });
		expect(await broker.call(`${svc.name}.cached`)).toBe(before);
		await svc.clearCache();
		await new Promise(r => setTimeout(r, 20));
		expect(await broker.call(`${svc.name}.cached`)).toBe((before as number) + 1);
	});

	it("does not publish moleculer-db's generic CRUD actions", () => {
		const actions = broker.registry.getActionList({}).map((a: any) => a.name);
		expect(actions).toContain(`${svc.name}.cached`);
		for (const name of ["find", "list", "create", "update", "remove", "get", "insert", "count"])
			expect(actions).not.toContain(`${svc.name}.${name}`);
	});
});

/** Run `fn` with the db mixin on SQLite files in a new temporary DATA_DIR, then restore and remove. */
async function onSqliteFiles(prefix: string, fn: (dataDir: string) => Promise<void>) {
	const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
	const saved = { ...process.env };
	process.env.NODE_ENV = "development";
	delete process.env.MONGO_URI;
	process.env.DATA_DIR = dataDir;
	resetSettings();
	try {
		await fn(dataDir);
	} finally {
		process.env = saved;
		resetSettings();
		fs.rmSync(dataDir, { recursive: true, force: true });
	}
}

/** A process with one service on the db mixin (and a secondary collection `extra`), started. */
async function bootWithExtraStore(name: string) {
	const broker = new ServiceBroker({ logger: false });
	broker.createService({
		name,
		mixins: [DbMixin({ indexes: [{ field: "key", unique: true }], stores: { extra: [] } })]
	} as ServiceSchema);
	await broker.start();
	return { broker, svc: broker.getLocalService(name) as any };
}

describe("SQLite files", () => {
	it("keep every change made through inserts, conditional updates and $pull across a restart", async () => {
		await onSqliteFiles("shopmesh-persist-", async dataDir => {
			const boot = () => bootWithExtraStore("persisted");
			const first = await boot();
			const doc = first.svc.toJSON(
				first.svc.adapter,
				await first.svc.adapter.insert({
					n: 0,
					outbox: [{ eventId: "a" }, { eventId: "b" }]
				})
			);
			for (let i = 0; i < 5; i++)
				await first.svc.updateOne(first.svc.adapter, { _id: doc._id }, { $inc: { n: 1 } });
			await first.svc.adapter.updateMany(
				{ _id: doc._id },
				{ $pull: { outbox: { eventId: "a" } } }
			);
			await first.svc.stores.extra.insert({ k: "x" });
			await first.broker.stop();
			expect(fs.existsSync(path.join(dataDir, "persisted.sqlite"))).toBe(true);

			const second = await boot();
			const back = await second.svc.adapter.findOne({ _id: doc._id });
			expect([back.n, back.outbox]).toEqual([5, [{ eventId: "b" }]]);
			expect(await second.svc.stores.extra.count({ query: { k: "x" } })).toBe(1);
			await second.broker.stop();
		});
	});

	it("are one database for two instances of a service: each sees the other's writes at once", async () => {
		await onSqliteFiles("shopmesh-shared-", async () => {
			const a = await bootWithExtraStore("shared");
			const b = await bootWithExtraStore("shared");
			try {
				const doc = await a.svc.adapter.insert({ key: "one", n: 1 });
				expect((await b.svc.adapter.findById(doc._id)).n).toBe(1);
				await b.svc.updateOne(b.svc.adapter, { _id: doc._id }, { $inc: { n: 1 } });
				expect((await a.svc.adapter.findById(doc._id)).n).toBe(2);
				const err = await b.svc.adapter.insert({ key: "one" }).catch((e: unknown) => e);
				expect(isDuplicateKeyError(err)).toBe(true);
			} finally {
				await a.broker.stop();
				await b.broker.stop();
			}
		});
	});

	it("are one database for two instances: what one has read, it reads anew once the other changed it", async () => {
		await onSqliteFiles("shopmesh-seen-", async () => {
			const a = await bootWithExtraStore("seen");
			const b = await bootWithExtraStore("seen");
			try {
				const doc = await a.svc.adapter.insert({ key: "seen", n: 1, log: [] });
				expect((await a.svc.adapter.findById(doc._id)).n).toBe(1);
				await b.svc.updateOne(b.svc.adapter, { _id: doc._id }, { $inc: { n: 1 } });
				expect((await a.svc.adapter.findById(doc._id)).n).toBe(2);
				expect((await a.svc.adapter.findOne({ key: "seen" })).n).toBe(2);
				// A conditional update decides on the other's change, not on what was read before it.
				await b.svc.updateOne(b.svc.adapter, { _id: doc._id }, { $inc: { n: 1 } });
				expect(
					await a.svc.updateOne(a.svc.adapter, { _id: doc._id, n: 2 }, { $set: { n: 0 } })
				).toBeNull();
				const pushed = await a.svc.updateOne(
					a.svc.adapter,
					{ _id: doc._id, n: 3 },
					{ $push: { log: "a" } }
				);
				expect([pushed.n, pushed.log]).toEqual([3, ["a"]]);
				expect((await b.svc.adapter.findById(doc._id)).log).toEqual(["a"]);
				await b.svc.adapter.removeMany({ _id: doc._id });
				expect(await a.svc.adapter.findById(doc._id)).toBeNull();
				expect(await a.svc.adapter.count({ query: { key: "seen" } })).toBe(0);
			} finally {
				await a.broker.stop();
				await b.broker.stop();
			}
		});
	});

	it("serve nothing of a change that failed: an insertMany or updateMany undone whole", async () => {
		await onSqliteFiles("shopmesh-undone-", async () => {
			const { broker, svc } = await bootWithExtraStore("undone");
			try {
				await svc.adapter.insert({ key: "taken" });
				const err = await svc.adapter
					.insertMany([{ _id: "new-one", key: "new-one" }, { key: "taken" }])
					.catch((e: unknown) => e);
				expect(isDuplicateKeyError(err)).toBe(true);
				expect(await svc.adapter.findById("new-one")).toBeNull();
				expect(await svc.adapter.findOne({ key: "new-one" })).toBeNull();

				const first = await svc.adapter.insert({ key: "first", tag: "t" });
				await svc.adapter.insert({ key: "second", tag: "t" });
				const clash = await svc.adapter
					.updateMany({ tag: "t" }, { $set: { key: "same" } })
					.catch((e: unknown) => e);
				expect(isDuplicateKeyError(clash)).toBe(true);
				expect((await svc.adapter.findById(first._id)).key).toBe("first");
				expect((await svc.adapter.findOne({ _id: first._id, tag: "t" })).key).toBe("first");
				expect(await svc.adapter.count({ query: { key: "same" } })).toBe(0);
			} finally {
				await broker.stop();
			}
		});
	});

	it("serialize conditional updates of two processes: 2 x 60 racers, 50 units, 50 winners", async () => {
		await onSqliteFiles("shopmesh-race-", async dataDir => {
			const { broker, svc } = await bootWithExtraStore("race");
			const doc = await svc.adapter.insert({ key: "stock", stock: 50, takers: [] });
			const racer = () =>
				new Promise<number>((resolve, reject) => {
					const child = spawn(
						process.execPath,
						["--import", "tsx", path.join(__dirname, "../helpers/sqlite-racer.ts")],
						{
							env: {
								...process.env,
								DATA_DIR: dataDir,
								RACE_ID: doc._id,
								RACE_N: "60"
							},
							stdio: ["ignore", "pipe", "inherit"]
						}
					);
					let out = "";
					child.stdout.on("data", chunk => (out += chunk));
					child.once("error", reject);
					child.once("exit", code =>
						code === 0
							? resolve(Number(out.trim()))
							: reject(new Error(`racer exited ${code}`))
					);
				});
			try {
				const wins = await Promise.all([racer(), racer()]);
				expect(wins[0] + wins[1]).toBe(50);
				const after = await svc.adapter.findById(doc._id);
				expect(after.stock).toBe(0);
				expect(after.takers).toHaveLength(50);
			} finally {
				await broker.stop();
			}
		});
	}, 60_000);

	it("refuse to start over NeDB data of an earlier version, naming the import command", async () => {
		await onSqliteFiles("shopmesh-nedb-", async dataDir => {
			fs.mkdirSync(path.join(dataDir, "legacy"));
			fs.writeFileSync(path.join(dataDir, "legacy", "legacy.db"), '{"_id":"a"}\n');
			const broker = new ServiceBroker({ logger: false });
			expect(() =>
				broker.createService({ name: "legacy", mixins: [DbMixin()] } as ServiceSchema)
			).toThrow(/NeDB data of an earlier version: run `npm run import:nedb`/);
		});
	});
});
