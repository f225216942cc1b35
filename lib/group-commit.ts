/**
 * Group commit: the changes of one event-loop turn are written to their datafiles together, at the
 * end of the turn, instead of one write per change.
 *
 * A NeDB change is one line appended to its collection's file, and an order makes about twenty
 * of them. Written one by one, each was a system call of its own: on the virtual machines the
 * bench runs on, a write costs 10-30 µs under load, and the embedded node spent up to a third of
 * its busy time in them. In one turn of a loaded node the same few files take hundreds of lines;
 * written per file and per turn, it is a handful of writes.
 *
 * What stays true:
 * - Nothing leaves the process before the changes that came before it are written. Everything
 *   that leaves (HTTP answers, NATS and JetStream messages and acks) goes out through
 *   lib/coalesce.ts, which commits first (`commitPending()`); error answers commit before they
 *   are written, and so does each packet of another transporter (`CommitBeforeSendMiddleware`).
 *   A client, another service or the event stream never hears of a change that a killed process
 *   then forgets.
 * - A process killed part-way through writing a turn's files loses the whole turn, not a part of
 *   it: when more than one file is dirty, the turn is first written to a journal as one record
 *   (one write, checksummed), and a restart completes from it the files it did not reach
 *   (`recoverJournal`). Without that, one collection could hold a change whose cause, in another
 *   collection, was lost (a reservation marked settled without its stock held).
 * - A change that cannot be written stops the process (`onFatal`): it has already answered from
 *   memory, and carrying on would answer from state the disk does not have. The restart loads
 *   what was written. (Before, a failed write failed its own operation; a full disk now stops the
 *   node instead of failing each write.)
 *
 * Durability is otherwise NeDB's (neither way fsyncs): written means in the page cache.
 */
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import type { Middleware } from "moleculer";

/** A file that takes the turn's changes: in practice a NeDB datafile (lib/nedb-datafile.ts). */
export interface CommitTarget {
	readonly path: string;
	/** What would be written now (for the journal). */
	pending(): string;
	/** The file as it is before this write: its inode and size (for the journal). */
	position(): { ino: number; size: number };
	/** Write what is pending (`encoded`: its bytes, when the journal has them). Throws if it cannot. */
	write(encoded?: Buffer): void;
}

/** One file's part of a journal record. */
export interface JournalEntry {
	path: string;
	ino: number;
	size: number;
	data: Buffer;
}

export interface GroupCommitOptions {
	/** Write a journal record before a turn that touches more than one file (default true). */
	journal?: boolean;
	/** A write failed (to `file`): the process must not go on (default: log, exit with code 74). */
	onFatal?: (err: Error, file: string) => void;
	/** How the end of the turn is reached (default setImmediate: the check phase). */
	schedule?: (fn: () => void) => void;
}

const journalOf = (target: CommitTarget) => path.join(path.dirname(target.path), JOURNAL_NAME);

const MAGIC = "shopmesh-journal 2";
/** The journal's name, in the directory of one of the process's datafiles. */
export const JOURNAL_NAME = ".journal";

export class GroupCommit {
	private readonly dirty = new Set<CommitTarget>();
	private scheduled = false;
	/** The file in whose directory the journal is (while it takes part). */
	private journalHost: CommitTarget | undefined;
	private journalFd: number | undefined;
	private failed = false;

	constructor(private readonly opts: GroupCommitOptions = {}) {}

	/**
	 * A file leaves: what is pending is written first. The journal, if it lives beside that file,
	 * goes with it (the next one is written beside another file).
	 */
	unregister(target: CommitTarget): void {
		this.commit();
		if (this.journalHost === target) this.removeJournal();
	}

	/** `target` has something to write: it is written at the end of this turn, or before. */
	changed(target: CommitTarget): void {
		this.dirty.add(target);
		if (!this.scheduled) {
			this.scheduled = true;
			(this.opts.schedule ?? setImmediate)(() => {
				this.scheduled = false;
				this.commit();
			});
		}
	}

	/** Write everything pending now (the barrier before anything leaves the process). */
	commit(): void {
		if (this.dirty.size === 0 || this.failed) return;
		const targets = [...this.dirty];
		this.dirty.clear();
		let file = "";
		let encoded: Buffer[] | undefined;
		try {
			if (targets.length > 1 && this.opts.journal !== false) {
				this.journalHost ??= targets[0];
				file = journalOf(this.journalHost);
				// Each file's part is encoded once, for the journal and for the file.
				encoded = targets.map(t => Buffer.from(t.pending()));
				const record = encodeRecord(
					targets.map((t, i) => ({ path: t.path, ...t.position(), data: encoded![i] }))
				);
				this.journalFd ??= fs.openSync(file, "w");
				// Always from the start: only the last record can matter (see recoverJournal).
				fs.writevSync(this.journalFd, record, 0);
			}
			targets.forEach((t, i) => {
				file = t.path;
				t.write(encoded?.[i]);
			});
		} catch (err) {
			this.failed = true;
			(this.opts.onFatal ?? exitOnFailedWrite)(err as Error, file);
		}
	}

	private removeJournal(): void {
		if (this.journalFd !== undefined) fs.closeSync(this.journalFd);
		this.journalFd = undefined;
		if (this.journalHost) fs.rmSync(journalOf(this.journalHost), { force: true });
		this.journalHost = undefined;
	}
}

function exitOnFailedWrite(err: Error, file: string): never {
	process.stderr.write(
		`FATAL: cannot write ${file} (${err.message}). Stopping: the changes of this ` +
			`moment were answered from memory and are not on disk; a restart loads what is.\n`
	);
	process.exit(74); // EX_IOERR
}

/** The group commit of this process: every NeDB datafile of every service in it. */
export const processCommit = new GroupCommit();

/** Write every change made so far; called before anything leaves the process. */
export function commitPending(): void {
	processCommit.commit();
}

/**
 * The same barrier for a transporter that does not write through lib/coalesce.ts (a TRANSPORTER
 * other than NATS): every packet it sends is preceded by the changes made before it.
 */
export function CommitBeforeSendMiddleware(): Middleware {
	// (moleculer's typings give this hook the wrong shape: it wraps `send`, as transit.js uses it.)
	const transporterSend = (next: (...args: unknown[]) => Promise<void>) =>
		function send(this: unknown, ...args: unknown[]) {
			commitPending();
			return next.apply(this, args);
		};
	return { name: "CommitBeforeSend", transporterSend } as unknown as Middleware;
}

/**
 * A record, as the pieces to write: `<magic> <index bytes> <data bytes> <crc32>\n`, the index
 * (JSON: each file's path, inode, size and part length), then the parts as they are. A torn
 * record fails its lengths or its checksum.
 */
export function encodeRecord(entries: JournalEntry[]): Buffer[] {
	const index = Buffer.from(
		JSON.stringify(
			entries.map(e => ({ path: e.path, ino: e.ino, size: e.size, length: e.data.length }))
		)
	);
	let crc = zlib.crc32(index);
	let dataLength = 0;
	for (const e of entries) {
		crc = zlib.crc32(e.data, crc);
		dataLength += e.data.length;
	}
	const head = Buffer.from(`${MAGIC} ${index.length} ${dataLength} ${crc}\n`);
	return [head, index, ...entries.map(e => e.data)];
}

/** The record in a journal's bytes, or undefined when there is none or it is torn. */
export function decodeRecord(bytes: Buffer): JournalEntry[] | undefined {
	const nl = bytes.indexOf(10);
	if (nl < 0) return undefined;
	const [magic, version, indexLength, dataLength, crc] = bytes
		.subarray(0, nl)
		.toString()
		.split(" ");
	if (`${magic} ${version}` !== MAGIC) return undefined;
	const end = nl + 1 + Number(indexLength) + Number(dataLength);
	if (!(end <= bytes.length)) return undefined;
	const body = bytes.subarray(nl + 1, end);
	if (zlib.crc32(body) !== Number(crc)) return undefined;
	const index = JSON.parse(body.subarray(0, Number(indexLength)).toString()) as (Omit<
		JournalEntry,
		"data"
	> & { length: number })[];
	let at = Number(indexLength);
	return index.map(({ length, ...e }) => ({ ...e, data: body.subarray(at, (at += length)) }));
}

export interface Recovery {
	/** Files the journal completed. */
	completed: string[];
	/** Files that already held their part, or have changed since (written on, rewritten). */
	current: string[];
	/** Files another live process owns now: left alone. */
	skipped: string[];
}

/**
 * Complete, from the journal left in `dir` by a process that died, the files that process did not
 * reach in its last turn, then remove the journal. Call before any datafile it may name is
 * loaded. `ownedByOther(dir)` tells a data directory another live process has locked.
 *
 * Only the last record is kept, and each entry says where its part starts (inode and size), so
 * an entry is applied only where it is missing: the file is that same file and ends exactly
 * where the part starts (a part cut short by the kill is cut off and written again). A file
 * that already holds its part, has more after it, or was rewritten since, is left as it is.
 */
export function recoverJournal(
	dir: string,
	ownedByOther: (dir: string) => boolean = () => false
): Recovery {
	const journal = path.join(dir, JOURNAL_NAME);
	const out: Recovery = { completed: [], current: [], skipped: [] };
	let bytes: Buffer;
	try {
		bytes = fs.readFileSync(journal);
	} catch {
		return out;
	}
	for (const entry of decodeRecord(bytes) ?? []) {
		if (ownedByOther(path.dirname(entry.path))) out.skipped.push(entry.path);
		else if (completeFile(entry)) out.completed.push(entry.path);
		else out.current.push(entry.path);
	}
	fs.rmSync(journal, { force: true });
	return out;
}

function completeFile(entry: JournalEntry): boolean {
	const data = entry.data;
	let fd: number;
	try {
		fd = fs.openSync(entry.path, "r+");
	} catch {
		return false; // removed since: nothing to complete
	}
	try {
		const stat = fs.fstatSync(fd);
		if (stat.ino !== entry.ino) return false; // rewritten since
		if (stat.size < entry.size || stat.size > entry.size + data.length) return false;
		const written = Buffer.alloc(stat.size - entry.size);
		fs.readSync(fd, written, 0, written.length, entry.size);
		if (!data.subarray(0, written.length).equals(written)) return false;
		if (written.length === data.length) return false; // all there
		fs.writeSync(fd, data, written.length, data.length - written.length, stat.size);
		return true;
	} finally {
		fs.closeSync(fd);
	}
}
