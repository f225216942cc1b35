/**
 * The group commit of the NeDB datafiles (lib/group-commit.ts): the changes of one event-loop turn
 * are written together at its end, before anything leaves the process, and a process killed
 * part-way through writing them loses the whole turn, never a part of it.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Datastore from "@seald-io/nedb";
import { coalesce } from "../../../lib/coalesce";
import {
	CommitBeforeSendMiddleware,
	decodeRecord,
	encodeRecord,
	GroupCommit,
	JOURNAL_NAME,
	processCommit,
	recoverJournal,
	type CommitTarget
} from "../../../lib/group-commit";
import { appendSynchronously } from "../../../lib/nedb-datafile";

let dir: string;
beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "shopmesh-commit-"))));
afterEach(() => {
	jest.restoreAllMocks();
	fs.rmSync(dir, { recursive: true, force: true });
});

type Doc = { _id?: string; i: number; n?: number };

const endOfTurn = () => new Promise(resolve => setImmediate(resolve));
const lines = (file: string) => fs.readFileSync(file, "utf8").split("\n").filter(Boolean);

async function open(name: string, commit: GroupCommit) {
	const file = path.join(dir, name);
	const db = new Datastore<Doc>({ filename: file });
	await db.loadDatabaseAsync();
	const datafile = appendSynchronously(db, undefined, undefined, commit);
	return { db, file, close: datafile.close };
}

/** What a new process finds in the file. */
async function reload(file: string): Promise<Doc[]> {
	const again = new Datastore<Doc>({ filename: file });
	await again.loadDatabaseAsync();
	return (await again.findAsync({})).map(({ i, n }) => ({ i, n })).sort((a, b) => a.i - b.i);
}

/** Counts the writes to the given files from now on. */
function countWrites(files: string[]) {
	const fds = () => new Set(files.map(f => fdOf(f)));
	const real = fs.writeSync;
	let count = 0;
	jest.spyOn(fs, "writeSync").mockImplementation(((fd: number, ...rest: unknown[]) => {
		if (fds().has(fd)) count++;
		return (real as (...a: unknown[]) => number)(fd, ...rest);
	}) as typeof fs.writeSync);
	return () => count;
}

/** The descriptor this process has open on `file`, if any (from /proc/self/fd). */
function fdOf(file: string): number | undefined {
	for (const fd of fs.readdirSync("/proc/self/fd"))
		try {
			if (fs.readlinkSync(`/proc/self/fd/${fd}`) === file) return Number(fd);
		} catch {
			/* closed meanwhile */
		}
	return undefined;
}

describe("one turn's changes", () => {
	it("are written at the end of the turn, one write per file", async () => {
		const commit = new GroupCommit();
		const a = await open("a.db", commit);
		const b = await open("b.db", commit);
		await a.db.insertAsync({ i: -1 }); // opens the file
		await b.db.insertAsync({ i: -1 });
		await endOfTurn();
		const writes = countWrites([a.file, b.file]);

		await Promise.all(
			Array.from({ length: 50 }, (_, i) => [
				a.db.insertAsync({ i }),
				b.db.insertAsync({ i })
			]).flat()
		);
		// Answered from memory; not written yet.
		expect(await a.db.countAsync({})).toBe(51);
		expect(lines(a.file)).toHaveLength(1);
		await endOfTurn();

		expect(lines(a.file)).toHaveLength(51);
		expect(lines(b.file)).toHaveLength(51);
		expect(writes()).toBeLessThanOrEqual(4);
		expect(await reload(b.file)).toHaveLength(51);
		a.close();
		b.close();
	});

	it("are written when a file is closed before the end of the turn", async () => {
		const commit = new GroupCommit();
		const a = await open("a.db", commit);
		await a.db.insertAsync({ i: 1 });
		a.close();
		expect(await reload(a.file)).toEqual([{ i: 1 }]);
	});

	it("are written before anything coalesced leaves the process, even what was queued first", async () => {
		const a = await open("a.db", processCommit);
		const seen: number[] = [];
		const send = coalesce(
			() => seen.push(fs.existsSync(a.file) ? lines(a.file).length : 0),
			() => undefined
		);
		send(); // queued before the change
		await a.db.insertAsync({ i: 1 });
		send(); // the answer that tells of it
		await endOfTurn();
		expect(seen).toEqual([1, 1]);
		a.close();
	});
});

it("are written before each packet of another transporter", async () => {
	const a = await open("a.db", processCommit);
	const seen: number[] = [];
	const wrap = (CommitBeforeSendMiddleware() as any).transporterSend;
	const send = wrap(async () => {
		seen.push(lines(a.file).length);
	});
	await a.db.insertAsync({ i: 1 });
	await send("MOL.RES.node", Buffer.from("{}"), {});
	expect(seen).toEqual([1]);
	a.close();
});

describe("a process killed part-way through writing a turn", () => {
	/** Two files; the turn's write to b.db is where the process dies. */
	async function dieWhileWriting() {
		const fatal = jest.fn();
		// The end of the turn comes when the test says (NeDB may take more than one turn).
		const commit = new GroupCommit({ onFatal: fatal, schedule: () => undefined });
		const a = await open("a.db", commit);
		const b = await open("b.db", commit);
		await a.db.insertAsync({ i: 0 });
		await b.db.insertAsync({ i: 0 });
		commit.commit();

		const real = fs.writeSync;
		jest.spyOn(fs, "writeSync").mockImplementation(((fd: number, ...rest: unknown[]) => {
			if (fd === fdOf(b.file)) throw Object.assign(new Error("killed"), { code: "EKILLED" });
			return (real as (...a: unknown[]) => number)(fd, ...rest);
		}) as typeof fs.writeSync);
		await a.db.insertAsync({ i: 1 });
		await b.db.insertAsync({ i: 1 });
		await b.db.updateAsync({ i: 0 }, { $set: { n: 5 } });
		commit.commit();
		jest.restoreAllMocks();
		expect(fatal).toHaveBeenCalledTimes(1);
		expect(fatal.mock.calls[0][1]).toBe(b.file);
		return { a, b, fatal, commit };
	}

	it("left a journal from which the restart completes the files it did not reach", async () => {
		const { a, b } = await dieWhileWriting();
		// The turn is half written. (Not loaded here: NeDB rewrites a file when it loads it, which
		// is why a restart recovers before it loads.)
		expect(lines(a.file)).toHaveLength(2);
		expect(lines(b.file)).toHaveLength(1);

		const recovery = recoverJournal(dir);

		expect(recovery).toEqual({ completed: [b.file], current: [a.file], skipped: [] });
		expect(await reload(a.file)).toEqual([{ i: 0 }, { i: 1 }]);
		expect(await reload(b.file)).toEqual([{ i: 0, n: 5 }, { i: 1 }]);
		expect(fs.existsSync(path.join(dir, JOURNAL_NAME))).toBe(false);
	});

	it("writes nothing more once a write has failed", async () => {
		const { a, fatal, commit } = await dieWhileWriting();
		await a.db.insertAsync({ i: 2 });
		commit.commit();
		expect(await reload(a.file)).toEqual([{ i: 0 }, { i: 1 }]);
		expect(fatal).toHaveBeenCalledTimes(1);
	});

	it("completes a part cut short, from where it was cut", async () => {
		const { b } = await dieWhileWriting();
		const [entry] = decodeRecord(fs.readFileSync(path.join(dir, JOURNAL_NAME)))!.filter(
			e => e.path === b.file
		);
		fs.appendFileSync(b.file, entry.data.subarray(0, 7)); // the kill cut the write short

		expect(recoverJournal(dir).completed).toEqual([b.file]);
		expect(fs.readFileSync(b.file, "utf8").endsWith(entry.data.toString())).toBe(true);
		expect(await reload(b.file)).toEqual([{ i: 0, n: 5 }, { i: 1 }]);
	});

	it("leaves a file that was written on or rewritten since", async () => {
		const { a, b } = await dieWhileWriting();
		const journal = fs.readFileSync(path.join(dir, JOURNAL_NAME));
		// Another turn went on with b.db (as after a journal that is not the last word).
		fs.appendFileSync(b.file, JSON.stringify({ i: 9, _id: "x" }) + "\n");
		expect(recoverJournal(dir).current).toEqual([a.file, b.file]);

		// b.db rewritten into a new file (a compaction renames one into place).
		fs.writeFileSync(path.join(dir, JOURNAL_NAME), journal);
		fs.rmSync(b.file);
		fs.writeFileSync(b.file, fs.readFileSync(a.file).subarray(0, 0));
		expect(recoverJournal(dir).current).toEqual([a.file, b.file]);
		expect(fs.readFileSync(b.file, "utf8")).toBe("");
	});

	it("leaves the files another live process owns now", async () => {
		const { a, b } = await dieWhileWriting();
		const recovery = recoverJournal(dir, d => d === path.dirname(b.file));
		expect(recovery.skipped).toEqual([a.file, b.file]);
		expect(await reload(b.file)).toEqual([{ i: 0 }]);
	});

	it("ignores a torn journal: the kill came before any file of the turn was written", async () => {
		const { b } = await dieWhileWriting();
		const file = path.join(dir, JOURNAL_NAME);
		const journal = fs.readFileSync(file);
		fs.writeFileSync(file, journal.subarray(0, journal.length - 3));
		expect(recoverJournal(dir)).toEqual({ completed: [], current: [], skipped: [] });
		expect(await reload(b.file)).toEqual([{ i: 0 }]);
		expect(fs.existsSync(file)).toBe(false);
	});
});

describe("journal records", () => {
	const entries = [
		{ path: "/x/a.db", ino: 7, size: 12, data: Buffer.from('{"i":1}\n{"é":"ü"}\n') },
		{ path: "/x/b.db", ino: 8, size: 0, data: Buffer.from('{"i":2}\n') }
	];
	const bytesOf = (e: typeof entries) => Buffer.concat(encodeRecord(e));

	it("read back what was written, followed by the rest of a longer earlier record", () => {
		const bytes = bytesOf([{ ...entries[0], data: Buffer.from("z".repeat(500)) }]);
		bytesOf(entries).copy(bytes, 0);
		expect(decodeRecord(bytes)).toEqual(entries);
	});

	it("fail their checksum when a byte changed, or their length when cut short", () => {
		const bytes = bytesOf(entries);
		bytes[bytes.length - 5] ^= 1;
		expect(decodeRecord(bytes)).toBeUndefined();
		expect(decodeRecord(bytesOf(entries).subarray(0, bytes.length - 1))).toBeUndefined();
		expect(decodeRecord(Buffer.from("something else\n{}"))).toBeUndefined();
	});

	it("are written only for a turn that touches more than one file", async () => {
		const commit = new GroupCommit();
		const a = await open("a.db", commit);
		const b = await open("b.db", commit);
		const journal = path.join(dir, JOURNAL_NAME);
		await a.db.insertAsync({ i: 1 });
		await endOfTurn();
		expect(fs.existsSync(journal)).toBe(false);
		await a.db.insertAsync({ i: 2 });
		await b.db.insertAsync({ i: 2 });
		await endOfTurn();
		expect(decodeRecord(fs.readFileSync(journal))!.map(e => e.path)).toEqual([a.file, b.file]);
		a.close(); // the journal lives beside a.db: it goes with it
		expect(fs.existsSync(journal)).toBe(false);
		b.close();
	});
});

it("CommitTarget is all a file needs to take part", () => {
	const written: string[] = [];
	let pending = "";
	const target: CommitTarget = {
		path: path.join(dir, "t"),
		pending: () => pending,
		position: () => ({ ino: 1, size: 0 }),
		write: () => {
			written.push(pending);
			pending = "";
		}
	};
	const commit = new GroupCommit({ schedule: () => undefined });
	pending = "one\n";
	commit.changed(target);
	commit.changed(target);
	expect(written).toEqual([]);
	commit.commit();
	commit.commit();
	expect(written).toEqual(["one\n"]);
});
