/**
 * Waiting for the write lock another process (or connection) holds: without blocking the event
 * loop, in order, up to the busy timeout; and a holder stopped with the lock is killed.
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { DatabaseSync } from "node:sqlite";
import { processState, writeLockHolders } from "../../../../platform/persistence/lock-holders";
import { SqliteDatabase, type SqliteOptions } from "../../../../platform/persistence/sqlite";
import { SqliteAdapter } from "../../../../platform/persistence/sqlite-adapter";

let dir: string;
let file: string;
let database: SqliteDatabase;
let store: SqliteAdapter;
let holder: DatabaseSync | undefined;
let child: ChildProcess | undefined;
const logged: { warn: string[]; error: string[] } = { warn: [], error: [] };

async function open(options: Partial<SqliteOptions> = {}) {
	database = new SqliteDatabase({
		file,
		synchronous: "NORMAL",
		busyTimeoutMs: 1000,
		logger: { warn: m => logged.warn.push(m), error: m => logged.error.push(m) },
		...options
	});
	store = new SqliteAdapter(database, "things");
	store.init(null, { schema: {} });
	await store.connect();
}

/** Another connection of this process takes the write lock. */
function holdLock(): DatabaseSync {
	holder = new DatabaseSync(file, { timeout: 1000 });
	holder.exec("BEGIN IMMEDIATE");
	return holder;
}

/** A child process that takes the write lock, writes a row, then stops itself (or sleeps). */
async function childHoldingLock(then: "stop" | "sleep"): Promise<ChildProcess> {
	const script = `
		const { DatabaseSync } = require("node:sqlite");
		const db = new DatabaseSync(${JSON.stringify(file)}, { timeout: 1000 });
		db.exec("BEGIN IMMEDIATE");
		db.exec("INSERT INTO things (id, doc) VALUES ('uncommitted', '{\\"_id\\":\\"uncommitted\\"}')");
		process.stdout.write("locked\\n");
		if (${JSON.stringify(then)} === "stop") process.kill(process.pid, "SIGSTOP");
		setTimeout(() => {}, 60000);`;
	child = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "inherit"] });
	await new Promise<void>((resolve, reject) => {
		child!.stdout!.on("data", chunk => String(chunk).includes("locked") && resolve());
		child!.once("exit", code => reject(new Error(`lock holder exited ${code}`)));
	});
	if (then === "stop")
		while (processState(child.pid!) !== "T") await new Promise(r => setTimeout(r, 10));
	return child;
}

const exited = (proc: ChildProcess) =>
	proc.exitCode !== null || proc.signalCode !== null
		? Promise.resolve(proc.signalCode)
		: new Promise<NodeJS.Signals | null>(resolve =>
				proc.once("exit", (_code, signal) => resolve(signal))
			);

beforeEach(() => {
	dir = fs.mkdtempSync(path.join(os.tmpdir(), "shopmesh-lock-"));
	file = path.join(dir, "things.sqlite");
	logged.warn = [];
	logged.error = [];
});
afterEach(async () => {
	if (child && child.exitCode === null && child.signalCode === null) {
		child.kill("SIGKILL");
		await exited(child);
	}
	child = undefined;
	holder?.close();
	holder = undefined;
	database?.close();
	fs.rmSync(dir, { recursive: true, force: true });
});

describe("waiting for the write lock", () => {
	it("keeps the event loop turning while another connection holds it, then writes in order", async () => {
		await open();
		const other = holdLock();
		let ticks = 0;
		const ticker = setInterval(() => ticks++, 10);
		setTimeout(() => other.exec("COMMIT"), 200);
		try {
			const written = await Promise.all([
				store.insert({ _id: "a", n: 1 }),
				store.insert({ _id: "b", n: 2 })
			]);
			expect(written.map(d => d._id)).toEqual(["a", "b"]);
		} finally {
			clearInterval(ticker);
		}
		// Blocked in SQLite's busy handler, no timer would have run before the lock was free.
		expect(ticks).toBeGreaterThanOrEqual(5);
		expect((await store.find({})).map(d => d._id)).toEqual(["a", "b"]);
	});

	it("fails what waited past the busy timeout with a 503 DATABASE_BUSY", async () => {
		await open({ busyTimeoutMs: 150 });
		const other = holdLock();
		await expect(store.insert({ _id: "late" })).rejects.toMatchObject({
			name: "DatabaseBusyError",
			code: 503,
			type: "DATABASE_BUSY",
			retryable: true,
			errcode: 5,
			message: expect.stringMatching(/^database is locked: things.sqlite was held/)
		});
		other.exec("ROLLBACK");
		await store.insert({ _id: "next" });
		expect((await store.find({})).map(d => d._id)).toEqual(["next"]);
	});

	it("tries a read that met a lock again, up to the busy timeout", async () => {
		await open({ busyTimeoutMs: 200 });
		const locked = () => Object.assign(new Error("database is locked"), { errcode: 5 });
		let tries = 0;
		const answer = await database.read(() => {
			if (++tries < 4) throw locked();
			return "read";
		});
		expect({ answer, tries }).toEqual({ answer: "read", tries: 4 });
		await expect(
			database.read(() => {
				throw locked();
			})
		).rejects.toMatchObject({ type: "DATABASE_BUSY", code: 503 });
		// Any other error is the read's own: not tried again.
		tries = 0;
		await expect(
			database.read(() => {
				tries++;
				throw new Error("no such table");
			})
		).rejects.toThrow("no such table");
		expect(tries).toBe(1);
	});

	it("without group commit too", async () => {
		await open({ groupCommit: false });
		const other = holdLock();
		setTimeout(() => other.exec("COMMIT"), 100);
		await Promise.all([store.insert({ _id: "a" }), store.insert({ _id: "b" })]);
		expect(await store.count({})).toBe(2);
	});
});

describe("a holder stopped with the lock", () => {
	it("is killed once waited for fenceStoppedMs, and what it had not committed is gone", async () => {
		await open({ fenceStoppedMs: 300, busyTimeoutMs: 5000 });
		const stopped = await childHoldingLock("stop");
		expect(writeLockHolders(file)).toEqual([stopped.pid]);
		await store.insert({ _id: "after" });
		expect(await exited(stopped)).toBe("SIGKILL");
		expect((await store.find({})).map(d => d._id)).toEqual(["after"]);
		expect(logged.error).toEqual([
			expect.stringContaining(`process ${stopped.pid} was stopped (kill -STOP)`)
		]);
	}, 20_000);

	it("is killed by a synchronous transaction (start-up work) waiting for it too", async () => {
		await open({ fenceStoppedMs: 300, busyTimeoutMs: 5000 });
		const stopped = await childHoldingLock("stop");
		database.transaction(() =>
			database.db.exec(`INSERT INTO things (id, doc) VALUES ('sync', '{"_id":"sync"}')`)
		);
		expect(await exited(stopped)).toBe("SIGKILL");
		expect((await store.find({})).map(d => d._id)).toEqual(["sync"]);
	}, 20_000);

	it("is left alone with fencing off: the write fails after the busy timeout", async () => {
		await open({ fenceStoppedMs: 0, busyTimeoutMs: 500 });
		const stopped = await childHoldingLock("stop");
		await expect(store.insert({ _id: "after" })).rejects.toMatchObject({ errcode: 5 });
		expect(processState(stopped.pid!)).toBe("T");
	}, 20_000);

	it("a running holder is never killed, only named", async () => {
		await open({ fenceStoppedMs: 100, busyTimeoutMs: 600 });
		const running = await childHoldingLock("sleep");
		await expect(store.insert({ _id: "after" })).rejects.toMatchObject({ errcode: 5 });
		expect(running.exitCode).toBeNull();
		expect(running.signalCode).toBeNull();
		expect(logged.error).toEqual([]);
		expect(logged.warn).toEqual([
			expect.stringMatching(new RegExp(`process ${running.pid} \\(state S\\) has held`))
		]);
	}, 20_000);
});

describe("lock holders", () => {
	it("reads the holder of the WAL write lock from /proc/locks", async () => {
		await open();
		expect(writeLockHolders(file)).toEqual([]);
		holdLock();
		expect(writeLockHolders(file)).toEqual([process.pid]);
		expect(processState(process.pid)).toBe("R");
	});

	it("counts only write locks on byte 120 of the file's -shm, never a waiter's line", async () => {
		await open();
		const st = fs.statSync(`${file}-shm`, { bigint: true });
		const major = ((st.dev >> 8n) & 0xfffn).toString(16).padStart(2, "0");
		const minor = ((st.dev & 0xffn) | ((st.dev >> 12n) & 0xfff00n))
			.toString(16)
			.padStart(2, "0");
		const key = `${major}:${minor}:${st.ino}`;
		const locks = [
			`1: POSIX  ADVISORY  WRITE 101 ${key} 120 120`,
			`1: -> POSIX  ADVISORY  WRITE 102 ${key} 120 120`,
			`2: POSIX  ADVISORY  READ 103 ${key} 120 120`,
			`3: POSIX  ADVISORY  WRITE 104 ${key} 121 121`,
			`4: POSIX  ADVISORY  WRITE 105 ${major}:${minor}:1 120 120`,
			`5: FLOCK  ADVISORY  WRITE 106 ${key} 0 EOF`
		].join("\n");
		expect(writeLockHolders(file, locks)).toEqual([101]);
	});
});
