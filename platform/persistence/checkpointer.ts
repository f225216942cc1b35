/**
 * WAL checkpoints off the event loop: one worker thread per process runs a PASSIVE checkpoint of
 * every database file it is given, every `periodMs`. SQLite's own auto-checkpoint runs inside the
 * COMMIT that crosses 1000 pages, fsyncs included, and node:sqlite is synchronous, so it stopped
 * the whole process meanwhile. A PASSIVE checkpoint takes no write lock: writers go on beside it.
 * Should the worker stop, each database gets SQLite's auto-checkpoint back.
 *
 * A WAL starts over only at a write that finds all of it checkpointed, which a checkpoint beside
 * writes that never pause never leaves: under load the file grew for as long as the load lasted.
 * So a WAL found longer than `limitBytes` is handed to its writer (`tooLong`), which copies the
 * little written since the worker's pass itself, between two of its own writes.
 */
import { Worker } from "node:worker_threads";

/** What the worker runs (plain JavaScript: no loader in worker threads). */
const WORKER = `
const { parentPort, workerData } = require("node:worker_threads");
const { DatabaseSync } = require("node:sqlite");
const open = new Map(); // file -> { db, users, passive, limitFrames }
parentPort.on("message", ({ file, synchronous, limitBytes, add, token }) => {
	const entry = open.get(file);
	if (add) {
		if (entry) entry.users++;
		else {
			const db = new DatabaseSync(file, { timeout: 1000 });
			db.exec("PRAGMA synchronous = " + synchronous);
			const pageSize = db.prepare("PRAGMA page_size").get().page_size;
			open.set(file, {
				db,
				users: 1,
				passive: db.prepare("PRAGMA wal_checkpoint(PASSIVE)"),
				limitFrames: Math.max(1, Math.floor(limitBytes / pageSize))
			});
		}
	} else {
		if (entry && --entry.users === 0) {
			open.delete(file);
			entry.db.close();
		}
		parentPort.postMessage({ released: token });
	}
});
setInterval(() => {
	for (const [file, { passive, limitFrames }] of open) {
		try {
			// log: the WAL's length in frames, checkpointed or not.
			if (passive.get().log > limitFrames) parentPort.postMessage({ tooLong: file });
		} catch {
			// another process is checkpointing this file: it is being done
		}
	}
}, workerData.periodMs);
`;

let worker: Worker | undefined;

export interface CheckpointHandlers {
	/** The WAL is past its limit, the worker's checkpoint just made. */
	tooLong(): void;
	/** The worker stopped: checkpoints are the database's own again. */
	fallback(): void;
}

/** The databases given to the worker, by file: whom to tell of a long WAL or of its stopping. */
const registered = new Map<string, Set<CheckpointHandlers>>();
/** Files taken back, by token: settled once the worker has let go of them (or stopped). */
const releasing = new Map<number, () => void>();
let releases = 0;
const RELEASE_WAIT_MS = 2000;

/**
 * Have `file` checkpointed by the worker (started by the first call, at its period: one worker
 * and one period per process); the returned function takes the file back, and resolves once the
 * worker's connection to it is closed (after which nothing of the worker's writes by the file's
 * name: its `-wal` and `-shm` may be removed with it).
 */
export function checkpointInWorker(
	file: string,
	synchronous: string,
	periodMs: number,
	limitBytes: number,
	handlers: CheckpointHandlers
): () => Promise<void> {
	if (!worker) {
		worker = new Worker(WORKER, { eval: true, workerData: { periodMs } });
		const stopped = worker;
		const lost = () => {
			if (worker !== stopped) return;
			worker = undefined;
			for (const ofFile of registered.values()) for (const h of ofFile) h.fallback();
			registered.clear();
			for (const settle of [...releasing.values()]) settle();
		};
		stopped.on("message", (msg: { tooLong?: string; released?: number }) => {
			if (msg.tooLong) registered.get(msg.tooLong)?.forEach(h => h.tooLong());
			if (msg.released !== undefined) releasing.get(msg.released)?.();
		});
		stopped.once("error", lost);
		stopped.once("exit", lost);
		// After the listeners: one for messages would keep the process alive otherwise.
		stopped.unref();
	}
	const current = worker;
	current.postMessage({ file, synchronous, limitBytes, add: true });
	const ofFile = registered.get(file) ?? new Set();
	registered.set(file, ofFile.add(handlers));
	return () => {
		ofFile.delete(handlers);
		if (ofFile.size === 0 && registered.get(file) === ofFile) registered.delete(file);
		if (worker !== current) return Promise.resolve();
		const token = ++releases;
		current.postMessage({ file, add: false, token });
		return new Promise<void>(resolve => {
			// A checkpoint under way finishes first; a stop waits for it no longer than this.
			const timer = setTimeout(settle, RELEASE_WAIT_MS);
			function settle() {
				clearTimeout(timer);
				releasing.delete(token);
				resolve();
			}
			releasing.set(token, settle);
		});
	};
}
