/**
 * WAL checkpoints off the event loop: one worker thread per process runs a PASSIVE checkpoint of
 * every database file it is given, every `periodMs`. SQLite's own auto-checkpoint runs inside the
 * COMMIT that crosses 1000 pages, fsyncs included, and node:sqlite is synchronous, so it stopped
 * the whole process meanwhile. A PASSIVE checkpoint takes no write lock: writers go on beside it.
 * Should the worker stop, each database gets SQLite's auto-checkpoint back.
 */
import { Worker } from "node:worker_threads";

/** What the worker runs (plain JavaScript: no loader in worker threads). */
const WORKER = `
const { parentPort, workerData } = require("node:worker_threads");
const { DatabaseSync } = require("node:sqlite");
const open = new Map(); // file -> { db, users }
parentPort.on("message", ({ file, synchronous, add }) => {
	const entry = open.get(file);
	if (add) {
		if (entry) entry.users++;
		else {
			const db = new DatabaseSync(file, { timeout: 1000 });
			db.exec("PRAGMA synchronous = " + synchronous);
			open.set(file, { db, users: 1 });
		}
	} else if (entry && --entry.users === 0) {
		open.delete(file);
		entry.db.close();
	}
});
setInterval(() => {
	for (const { db } of open.values()) {
		try {
			db.exec("PRAGMA wal_checkpoint(PASSIVE)");
		} catch {
			// another process is checkpointing this file: it is being done
		}
	}
}, workerData.periodMs);
`;

let worker: Worker | undefined;
/** What to do for each database given, should the worker stop. */
const fallbacks = new Set<() => void>();

/**
 * Have `file` checkpointed by the worker (started by the first call, at its period: one worker
 * and one period per process). `fallback` runs if the worker stops; the returned function takes
 * the file back.
 */
export function checkpointInWorker(
	file: string,
	synchronous: string,
	periodMs: number,
	fallback: () => void
): () => void {
	if (!worker) {
		worker = new Worker(WORKER, { eval: true, workerData: { periodMs } });
		worker.unref();
		const stopped = worker;
		const lost = () => {
			if (worker !== stopped) return;
			worker = undefined;
			for (const back of fallbacks) back();
			fallbacks.clear();
		};
		stopped.once("error", lost);
		stopped.once("exit", lost);
	}
	const current = worker;
	current.postMessage({ file, synchronous, add: true });
	fallbacks.add(fallback);
	return () => {
		fallbacks.delete(fallback);
		if (worker === current) current.postMessage({ file, add: false });
	};
}
