/**
 * How a NeDB datafile is written in a long-running process: one appended line per change, and a
 * rewrite (compaction) now and then that neither stops the event loop nor the datastore.
 *
 * NeDB itself appends each change with fs.appendFile (open, write and close through the thread
 * pool: three round trips per change, and an order makes about 20 changes) and only compacts its
 * file when it loads it, so the file of a running process grew by every change for ever. Its own
 * compaction, when called, serializes every document in one go and holds the datastore's queue
 * through the write and three fsyncs: measured at 94 ms of blocked event loop and 157 ms of
 * stalled queries for 16 000 orders (258 / 365 ms for 40 000), which is what the slowest orders
 * of a run waited for.
 */
import fs from "node:fs";
import { nextTurn } from "./fair-scheduling";
import type { CommitTarget, GroupCommit } from "./group-commit";

// NeDB's own document serializer, so appended lines are exactly what NeDB would write.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const nedbModel = require("@seald-io/nedb/lib/model.js") as { serialize(doc: unknown): string };

/** Whether a document holds a Date anywhere (NeDB's own test: a `getTime` method). */
function holdsDate(value: unknown): boolean {
	if (value === null || typeof value !== "object") return false;
	if (typeof (value as { getTime?: unknown }).getTime === "function") return true;
	if (Array.isArray(value)) return value.some(holdsDate);
	for (const key in value) if (holdsDate((value as Record<string, unknown>)[key])) return true;
	return false;
}

/**
 * One datafile line for a document NeDB has just stored. NeDB serializes with a JSON.stringify
 * replacer that checks every key and writes Dates as `{ $$date }`; a replacer takes V8 off its
 * fast path (~5% of the order path). The keys of a stored document were checked when NeDB stored
 * it, so only Dates need the replacer: documents without one (all of ours: times are ISO strings)
 * take plain JSON.stringify, which writes the same line.
 */
export function serializeStored(doc: unknown): string {
	return holdsDate(doc) ? nedbModel.serialize(doc) : JSON.stringify(doc);
}

/** When an append-only datafile is rewritten. */
export interface CompactionPolicy {
	/** Never before this many lines were appended since the last rewrite. */
	minLines: number;
	/** Rewrite once the appended lines exceed this many times the live documents. */
	factor: number;
	/** Documents serialized per event-loop turn while rewriting. */
	slice?: number;
}

export const DEFAULT_COMPACTION: CompactionPolicy = { minLines: 10_000, factor: 4, slice: 500 };

/** Lines appended to the datafile by one change. */
interface Appended {
	data: string;
	lines: number;
}

export interface Datafile {
	/**
	 * Write what is pending and close the file (a later change opens it again); a rewrite in
	 * progress is abandoned (the file it would have replaced is complete) and no new one starts.
	 */
	close(): void;
	/** Resolves once no rewrite is in progress. */
	idle(): Promise<void>;
}

/**
 * Keep the datafile open and append changes with synchronous writes (to the page cache):
 * through `commit` (lib/group-commit.ts), the changes of one event-loop turn in one write at the
 * end of the turn; without it, one write per change as it is made. Durability is NeDB's own
 * (neither way fsyncs; a write that was made survives a killed process, and nothing that depends
 * on a change leaves the process before the group commit has written it). NeDB runs one operation
 * at a time per datastore, so appends never interleave. (Appending through the thread pool with
 * the file kept open was measured too: 2.3x slower, as every operation of a datastore then waits
 * for a round trip.)
 *
 * Once the lines appended since the last rewrite exceed `factor` times the live documents, the
 * file is rewritten beside the datastore, which goes on serving: the documents of that moment
 * (NeDB replaces a changed document, it never changes a stored one, so the list is a snapshot)
 * are serialized `slice` at a time, one event-loop turn each, into `<file>.compacting`; every
 * change written meanwhile is appended to the old file as usual and kept in memory. At the end
 * those changes follow the snapshot, the new file is fsynced, and it is renamed over the old one
 * in the same turn as the last catch-up, so no change falls between (changes not yet written then
 * go to the new file). Replaying the lines in order gives the latest state (a change may appear
 * twice: once in the snapshot, once after it; the later line wins with the same content). A crash at any point leaves the old, complete file in place.
 * The file stays within about (1 + factor) times the live data, and each rewrite is paid for by
 * `factor` times as many appends before it.
 */
export function appendSynchronously(
	db: any,
	policy: CompactionPolicy = DEFAULT_COMPACTION,
	onError: (err: Error) => void = () => undefined,
	commit?: GroupCommit
): Datafile {
	const persistence = db.persistence;
	const filename: string = persistence.filename;
	const fileMode: number = persistence.modes.fileMode;
	const serialize = (doc: unknown): string =>
		persistence.afterSerialization(serializeStored(doc)) + "\n";
	const tempFile = `${filename}.compacting`;
	fs.rmSync(tempFile, { force: true }); // left by a process that died while rewriting

	let fd: number | undefined;
	/** The open file's inode and size, for the group commit's journal. */
	let ino = 0;
	let size = 0;
	let live = db.getAllData().length;
	let appended = 0;
	let stopped = false;
	/** The rewrite in progress: the changes written since its snapshot, and its end. */
	let rewrite: { since: Appended[]; done: Promise<void> } | undefined;
	/** Changes of this turn not written yet (with a group commit). */
	let pending: Appended = { data: "", lines: 0 };

	const open = (): number => {
		if (fd === undefined) {
			fd = fs.openSync(filename, "a", fileMode);
			({ ino, size } = fs.fstatSync(fd));
		}
		return fd;
	};
	const closeFile = () => {
		if (fd !== undefined) fs.closeSync(fd);
		fd = undefined;
	};
	// NeDB's own compaction (on load, or when called) renames a new file into place: reopen.
	db.on("compaction.done", closeFile);

	const write = (change: Appended, encoded?: Buffer) => {
		if (encoded) fs.writeSync(open(), encoded);
		else fs.writeSync(open(), change.data);
		size += encoded?.length ?? Buffer.byteLength(change.data);
		rewrite?.since.push(change);
		appended += change.lines;
		if (!rewrite && !stopped && appended > Math.max(policy.minLines, policy.factor * live)) {
			const since: Appended[] = [];
			rewrite = { since, done: rewriteFile(since) };
		}
	};

	const target: CommitTarget = {
		path: filename,
		pending: () => pending.data,
		position: () => (open(), { ino, size }),
		write(encoded) {
			const change = pending;
			pending = { data: "", lines: 0 };
			if (change.lines > 0) write(change, encoded);
		}
	};

	persistence.persistNewStateAsync = async (newDocs: unknown[]) => {
		let data = "";
		for (const doc of newDocs) data += serialize(doc);
		if (data.length === 0) return;
		if (!commit) return write({ data, lines: newDocs.length });
		pending.data += data;
		pending.lines += newDocs.length;
		commit.changed(target);
	};

	async function rewriteFile(since: Appended[]): Promise<void> {
		const docs: unknown[] = db.getAllData();
		const slice = Math.max(1, policy.slice ?? DEFAULT_COMPACTION.slice!);
		let out: number | undefined;
		try {
			out = fs.openSync(tempFile, "w", fileMode);
			for (let i = 0; i < docs.length; i += slice) {
				await nextTurn();
				if (stopped) return;
				let chunk = "";
				for (const doc of docs.slice(i, i + slice)) chunk += serialize(doc);
				fs.writeSync(out, chunk);
			}
			// The indexes, as NeDB writes them after the documents.
			let indexes = "";
			for (const [fieldName, index] of Object.entries<any>(db.indexes))
				if (fieldName !== "_id")
					indexes += serialize({
						$$indexCreated: { fieldName, unique: index.unique, sparse: index.sparse }
					});
			let caughtUp = 0;
			const catchUp = () => {
				const changes = since.splice(0);
				for (const c of changes) caughtUp += c.lines;
				const data = indexes + changes.map(c => c.data).join("");
				indexes = "";
				if (data) fs.writeSync(out!, data);
			};
			catchUp();
			await new Promise<void>((resolve, reject) =>
				fs.fsync(out!, err => (err ? reject(err) : resolve()))
			);
			if (stopped) return;
			// One turn from here on: no change can land between the catch-up and the rename.
			catchUp();
			fs.closeSync(out);
			out = undefined;
			fs.renameSync(tempFile, filename);
			closeFile(); // the next append opens the new file
			live = db.getAllData().length;
			appended = caughtUp; // already in the new file, beyond the live documents
			db.emit("compaction.done");
		} catch (err) {
			appended = 0; // tried again after as many changes as the policy asks for
			onError(err as Error);
		} finally {
			if (out !== undefined) fs.closeSync(out);
			if (fs.existsSync(tempFile)) fs.rmSync(tempFile, { force: true });
			rewrite = undefined;
		}
	}

	return {
		close() {
			commit?.unregister(target); // writes what is pending first
			stopped = true;
			closeFile();
		},
		idle: async () => {
			while (rewrite) await rewrite.done;
		}
	};
}
