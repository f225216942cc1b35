/**
 * WAL checkpoints in the worker thread (platform/persistence/checkpointer.ts), not in the COMMIT
 * that crosses SQLite's auto-checkpoint: until a checkpoint copies them, new pages live in the
 * `-wal` file only, so the database file grows exactly when one has run.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { SqliteDatabase } from "../../../../platform/persistence/sqlite";
import { SqliteAdapter } from "../../../../platform/persistence/sqlite-adapter";

let dir: string;
let database: SqliteDatabase | undefined;

beforeEach(() => {
	dir = fs.mkdtempSync(path.join(os.tmpdir(), "shopmesh-checkpoint-"));
});
afterEach(async () => {
	// Resolved once the worker's connection is closed too: it no longer makes -wal or -shm again.
	await database?.close();
	database = undefined;
	fs.rmSync(dir, { recursive: true, force: true });
});

/** A database with a table, then `count` documents in as many commits (a few WAL frames each). */
async function filled(checkpointMs: number, count = 200, walLimitBytes?: number) {
	const file = path.join(dir, "things.sqlite");
	database = new SqliteDatabase({
		file,
		synchronous: "NORMAL",
		busyTimeoutMs: 1000,
		checkpointMs,
		walLimitBytes
	});
	const store = new SqliteAdapter(database, "things");
	store.init(null, { schema: {} });
	await store.connect();
	const before = fs.statSync(file).size;
	for (let i = 0; i < count; i++) await store.insert({ n: i, text: "x".repeat(600) });
	return {
		file,
		store,
		before,
		autocheckpoint: database.db.prepare("PRAGMA wal_autocheckpoint").get()
	};
}

async function grows(file: string, from: number, withinMs: number): Promise<boolean> {
	for (const until = Date.now() + withinMs; Date.now() < until;) {
		if (fs.statSync(file).size > from) return true;
		await new Promise(r => setTimeout(r, 20));
	}
	return false;
}

it("checkpoints in the worker: the database file takes the pages without any COMMIT doing it", async () => {
	const { file, before, autocheckpoint } = await filled(50);
	expect(autocheckpoint).toEqual({ wal_autocheckpoint: 0 });
	expect(await grows(file, before, 5000)).toBe(true);
});

it("with checkpointMs 0 leaves them to SQLite's own, at 1000 pages: not yet here", async () => {
	const { file, before, autocheckpoint } = await filled(0);
	expect(autocheckpoint).toEqual({ wal_autocheckpoint: 1000 });
	expect(await grows(file, before, 500)).toBe(false);
});

it("starts the WAL over past its limit although the writes never pause, and cuts the file back", async () => {
	// Commits back to back, with checkpoints beside them all along.
	const { file, store } = await filled(10, 6000, 256 * 1024);
	// Never started over, the WAL holds every one of the 6000 commits: about 64 MB.
	expect(fs.statSync(`${file}-wal`).size).toBeLessThan(32 * 1024 * 1024);
	// Once the writer has caught up, its next write starts the WAL over and cuts it to the limit.
	await new Promise(r => setTimeout(r, 200));
	await store.insert({ n: 6000 });
	expect(fs.statSync(`${file}-wal`).size).toBeLessThanOrEqual(256 * 1024 + 64 * 1024);
	const { n } = database!.db.prepare("SELECT COUNT(*) AS n FROM things").get() as { n: number };
	expect(n).toBe(6001);
});

it("closes once the worker has let go of the file: removed then, nothing of it comes back", async () => {
	// A fresh worker, still starting when the database closes: it opens the file after that.
	let Fresh!: typeof SqliteDatabase;
	jest.isolateModules(() => {
		const fresh = jest.requireActual("../../../../platform/persistence/sqlite");
		Fresh = (fresh as { SqliteDatabase: typeof SqliteDatabase }).SqliteDatabase;
	});
	const file = path.join(dir, "things.sqlite");
	const fresh = new Fresh({ file, synchronous: "NORMAL", busyTimeoutMs: 1000, checkpointMs: 50 });
	await fresh.close();
	for (const f of [file, `${file}-wal`, `${file}-shm`]) fs.rmSync(f, { force: true });
	await new Promise(r => setTimeout(r, 300));
	expect(fs.readdirSync(dir)).toEqual([]);
});
