/**
 * A service's SQLite database (node:sqlite): one file per service, shared by every process of
 * that service on the host. WAL lets readers run beside the one writer; every operation runs
 * inside a transaction opened with BEGIN IMMEDIATE, so it is atomic across processes.
 *
 * Group commit: the operations of one event-loop turn share one transaction, each in its own
 * savepoint (a failed one is undone alone), committed when the turn ends. An operation's promise
 * settles only after that COMMIT, reads included, so nothing read or written leaves the process
 * before it is durable: callers need no barrier of their own.
 *
 * An operation that finds the write lock held by another process waits for it without blocking
 * the event loop (the node keeps answering), up to the busy timeout. A holder stopped by a signal
 * (kill -STOP) never lets go: past `fenceStoppedMs` the waiter kills it (platform/persistence/
 * lock-holders.ts), as a supervisor would, so a frozen instance cannot stall its twins.
 */
import fs from "node:fs";
import path from "node:path";
import { DatabaseSync } from "node:sqlite";
import { Errors } from "moleculer";
import { checkpointInWorker } from "./checkpointer";
import { fenceStoppedWriters } from "./lock-holders";

export type Synchronous = "OFF" | "NORMAL" | "FULL" | "EXTRA";

export interface SqliteOptions {
	/** A file path, or ":memory:" for a private in-memory database. */
	file: string;
	synchronous: Synchronous;
	busyTimeoutMs: number;
	/** Kill a process stopped (kill -STOP) with the write lock held once waited for this long (0: never). */
	fenceStoppedMs?: number;
	/** Where a stopped holder killed, or a lock held long by a running one, is told. */
	logger?: { warn(msg: string): void; error(msg: string): void };
	/** WAL checkpoints in a worker thread this often (ms); 0 or unset: SQLite's own, in COMMIT. */
	checkpointMs?: number;
	/** The WAL is started over past this length, and cut back to it (default WAL_LIMIT_BYTES). */
	walLimitBytes?: number;
	/** Commit once per event-loop turn (default) instead of once per operation. */
	groupCommit?: boolean;
}

type Settle = (err?: unknown) => void;

/** How long one try for a lock may block the event loop (ms): SQLite's busy timeout after opening. */
const LOCK_SPIN_MS = 5;
/** A lock not had within it is tried again this often, without blocking (ms). */
const LOCK_POLL_MS = 2;
/** A WAL longer than this is started over (its pages copied) and the file cut back to it. */
const WAL_LIMIT_BYTES = 64 * 1024 * 1024;

/** An operation waiting for the write lock another process holds. */
interface Waiter {
	since: number;
	run(): void;
	fail(err: unknown): void;
}

/**
 * The database's lock was not had within the busy timeout: a 503 (try again shortly), not a 500.
 * It keeps SQLite's code, so it is told apart as SQLite's own "database is locked" is.
 */
export class DatabaseBusyError extends Errors.MoleculerRetryableError {
	readonly errcode = 5;
	constructor(file: string, waitedMs: number) {
		super(
			`database is locked: ${path.basename(file)} was held by another process for ${waitedMs} ms`,
			503,
			"DATABASE_BUSY"
		);
		this.name = "DatabaseBusyError";
	}
}

/** SQLITE_BUSY, extended codes included: another connection holds the lock. */
const isBusy = (err: unknown) => ((err as { errcode?: number } | null)?.errcode ?? 0) % 256 === 5;

export class SqliteDatabase {
	readonly db: DatabaseSync;
	private readonly statements = new Map<string, ReturnType<DatabaseSync["prepare"]>>();
	/** The operations of the open group transaction, settled at its COMMIT. */
	private group: Settle[] | undefined;
	/** Operations waiting for the write lock, in the order they were asked for. */
	private readonly waiting: Waiter[] = [];
	private lockTimer: NodeJS.Timeout | undefined;
	/** When the lock's holders were last looked up during this wait (0: not yet). */
	private lookedAt = 0;
	/** SQLite's busy timeout, after opening (ms). */
	private readonly spinMs: number;
	/** Takes the file back from the checkpoint worker. */
	private readonly releaseCheckpoints?: () => Promise<void>;
	/** The WAL is past its limit: catch up with the checkpoint once the open group has committed. */
	private catchUpDue = false;

	constructor(readonly options: SqliteOptions) {
		if (options.file !== ":memory:")
			fs.mkdirSync(path.dirname(options.file), { recursive: true });
		// The busy timeout is set (by the constructor) before WAL is switched on: a second process
		// opening the file while the first switches would otherwise fail with "database is locked".
		this.db = new DatabaseSync(options.file, { timeout: options.busyTimeoutMs });
		if (options.file !== ":memory:") this.db.exec("PRAGMA journal_mode = WAL");
		this.db.exec(`PRAGMA synchronous = ${options.synchronous}`);
		if (options.file !== ":memory:" && (options.checkpointMs ?? 0) > 0) {
			const limitBytes = options.walLimitBytes ?? WAL_LIMIT_BYTES;
			// The write that starts a WAL over cuts the file back to this at its COMMIT.
			this.db.exec(`PRAGMA journal_size_limit = ${limitBytes}`);
			this.db.exec("PRAGMA wal_autocheckpoint = 0");
			this.releaseCheckpoints = checkpointInWorker(
				options.file,
				options.synchronous,
				options.checkpointMs!,
				limitBytes,
				{
					tooLong: () => this.catchUp(),
					fallback: () =>
						this.db.isOpen && this.db.exec("PRAGMA wal_autocheckpoint = 1000")
				}
			);
		}
		// From here on a wait for another process's lock blocks for one short try at a time.
		this.spinMs = Math.min(LOCK_SPIN_MS, options.busyTimeoutMs);
		this.db.exec(`PRAGMA busy_timeout = ${this.spinMs}`);
	}

	/** A prepared statement, kept for the next call with the same SQL. */
	statement(sql: string) {
		let stmt = this.statements.get(sql);
		if (!stmt) {
			stmt = this.db.prepare(sql);
			this.statements.set(sql, stmt);
		}
		return stmt;
	}

	/**
	 * Run `fn` in one write transaction (BEGIN IMMEDIATE takes the write lock first, so what `fn`
	 * reads cannot change before it writes); inside another transaction it joins that one, in a
	 * savepoint undone if `fn` throws. Synchronous: for start-up work and scripts; services'
	 * operations go through `operation`.
	 */
	transaction<T>(fn: () => T): T {
		if (this.db.isTransaction) return this.inSavepoint(fn);
		this.beginBlocking();
		return this.commitOwn(fn);
	}

	/**
	 * Run `fn` atomically under the write lock; its result (or error) is delivered once it is
	 * committed. With group commit it joins this turn's transaction in a savepoint of its own;
	 * `oneWrite` says `fn` changes the database with one statement at most (more only inside
	 * `transaction`), its last step that can fail: SQLite undoes a failed statement alone, so no
	 * savepoint is needed.
	 */
	operation<T>(fn: () => T, { oneWrite = false } = {}): Promise<T> {
		if (this.waiting.length === 0) {
			try {
				if (this.lock(true)) return this.locked(fn, oneWrite);
			} catch (err) {
				return Promise.reject(err);
			}
		}
		// Another process holds the lock (or operations asked before this one wait for it).
		return new Promise<T>((resolve, reject) => {
			const run = () => this.locked(fn, oneWrite).then(resolve, reject);
			this.waiting.push({ since: Date.now(), run, fail: reject });
			this.pollLock();
		});
	}

	/** Run a read now; while a group transaction is open, deliver it after its COMMIT. */
	read<T>(fn: () => T): Promise<T> {
		try {
			return this.readNow(fn);
		} catch (err) {
			return isBusy(err) ? this.readLater(fn, err) : Promise.reject(err);
		}
	}

	private readNow<T>(fn: () => T): Promise<T> {
		const result = fn();
		return this.group ? this.afterCommit(() => result) : Promise.resolve(result);
	}

	/** A read that met a lock (another process recovering the WAL): tried again, without blocking. */
	private async readLater<T>(fn: () => T, err: unknown): Promise<T> {
		const since = Date.now();
		for (;;) {
			this.waitedSince(since, err);
			await new Promise(resolve => setTimeout(resolve, LOCK_POLL_MS));
			try {
				return await this.readNow(fn);
			} catch (again) {
				err = again;
			}
		}
	}

	/** Commit the open group transaction now (before closing, or to bound a long turn). */
	flush(): void {
		if (!this.group) return;
		let failure: unknown;
		try {
			this.statement("COMMIT").run();
		} catch (err) {
			failure = err;
			if (this.db.isTransaction) this.statement("ROLLBACK").run();
		}
		this.endGroup(failure);
		if (this.catchUpDue) this.catchUp();
	}

	/**
	 * Checkpoint what the worker's last pass left (the writes since: a few pages) between two of
	 * this process's own writes, so that its next write starts the WAL over.
	 */
	private catchUp(): void {
		if (!this.db.isOpen) return;
		this.catchUpDue = this.db.isTransaction;
		if (this.catchUpDue) return;
		try {
			this.statement("PRAGMA wal_checkpoint(PASSIVE)").get();
		} catch {
			// another connection is checkpointing the file: the worker's next pass tells again
		}
	}

	/** Close now; resolves once the checkpoint worker has closed its connection to the file too. */
	close(): Promise<void> {
		if (this.db.isOpen) this.flush();
		clearTimeout(this.lockTimer);
		for (const waiter of this.waiting.splice(0)) waiter.fail(new Error("database closed"));
		const released = this.releaseCheckpoints?.() ?? Promise.resolve();
		this.statements.clear();
		if (this.db.isOpen) this.db.close();
		return released;
	}

	/** Run `fn` inside the open transaction; if it throws, undo what it did, and only that. */
	private inSavepoint<T>(fn: () => T): T {
		this.statement("SAVEPOINT op").run();
		try {
			const result = fn();
			this.statement("RELEASE op").run();
			return result;
		} catch (err) {
			if (this.db.isTransaction) {
				this.statement("ROLLBACK TO op").run();
				this.statement("RELEASE op").run();
			}
			throw err;
		}
	}

	/** Take the write lock: what is read from here until COMMIT cannot change meanwhile. */
	private begin(): void {
		this.statement("BEGIN IMMEDIATE").run();
	}

	/** Settle the group's operations: with `err` when it did not commit. */
	private endGroup(err?: unknown): void {
		const group = this.group ?? [];
		this.group = undefined;
		for (const settle of group) settle(err);
	}

	/**
	 * Whether this connection holds the write lock for an operation now: the open group's, or
	 * taken within one short try (`spin`) or at once. With group commit the transaction begun
	 * stays open for the turn.
	 */
	private lock(spin: boolean): boolean {
		if (this.group) return true;
		if (!spin) this.statement("PRAGMA busy_timeout = 0").run();
		try {
			this.begin();
		} catch (err) {
			if (!isBusy(err)) throw err;
			return false;
		} finally {
			if (!spin) this.statement(`PRAGMA busy_timeout = ${this.spinMs}`).run();
		}
		if (this.options.groupCommit !== false) {
			this.group = [];
			setImmediate(() => this.flush());
		}
		return true;
	}

	/** Run `fn` under the lock just had: in the open group, or (group commit off) in its own transaction. */
	private locked<T>(fn: () => T, oneWrite: boolean): Promise<T> {
		if (!this.group) {
			try {
				return Promise.resolve(this.commitOwn(fn));
			} catch (err) {
				return Promise.reject(err);
			}
		}
		let result: T;
		try {
			result = oneWrite ? fn() : this.inSavepoint(fn);
		} catch (err) {
			if (!this.db.isTransaction) {
				// SQLite rolled the whole transaction back (an I/O error, a full disk): the
				// operations grouped with this one are lost with it.
				this.endGroup(err);
				return Promise.reject(err);
			}
			return this.afterCommit(() => Promise.reject(err));
		}
		return this.afterCommit(() => result);
	}

	/** Commit `fn`'s changes in the transaction just begun, or roll them back if it throws. */
	private commitOwn<T>(fn: () => T): T {
		try {
			const result = fn();
			this.statement("COMMIT").run();
			return result;
		} catch (err) {
			if (this.db.isTransaction) this.statement("ROLLBACK").run();
			throw err;
		}
	}

	/** Try the lock again soon, without blocking; hand it to the waiting operations in order. */
	private pollLock(): void {
		if (this.lockTimer) return;
		this.lockTimer = setTimeout(() => {
			this.lockTimer = undefined;
			while (this.waiting.length > 0) {
				let locked: boolean;
				try {
					locked = this.lock(false);
				} catch (err) {
					for (const waiter of this.waiting.splice(0)) waiter.fail(err);
					return;
				}
				if (!locked) return this.stillLocked();
				this.waiting.shift()!.run();
			}
			this.lookedAt = 0;
		}, LOCK_POLL_MS);
	}

	/** Fail the operations past the busy timeout; past `fenceStoppedMs`, see who holds the lock. */
	private stillLocked(): void {
		const now = Date.now();
		const { busyTimeoutMs } = this.options;
		while (this.waiting.length > 0 && now - this.waiting[0].since >= busyTimeoutMs) {
			const waiter = this.waiting.shift()!;
			waiter.fail(new DatabaseBusyError(this.options.file, now - waiter.since));
		}
		if (this.waiting.length === 0) {
			this.lookedAt = 0;
			return;
		}
		this.lookAtHolders(now - this.waiting[0].since);
		this.pollLock();
	}

	/**
	 * Past `fenceStoppedMs` of waiting, once a second: kill a holder stopped by a signal (it never
	 * lets go); name a running one, once per wait.
	 */
	private lookAtHolders(waited: number): void {
		const { fenceStoppedMs = 0, file, logger } = this.options;
		const now = Date.now();
		if (fenceStoppedMs <= 0 || waited < fenceStoppedMs || now - this.lookedAt < 1000) return;
		const first = this.lookedAt === 0;
		this.lookedAt = now;
		const { killed, running } = fenceStoppedWriters(file);
		for (const pid of killed)
			logger?.error(
				`SQLite ${file}: process ${pid} was stopped (kill -STOP) with the write lock held for ${waited} ms; killed it (kill -9) so that its twins can write.`
			);
		if (first)
			for (const { pid, state } of running)
				logger?.warn(
					`SQLite ${file}: process ${pid} (state ${state ?? "?"}) has held the write lock for ${waited} ms.`
				);
	}

	/**
	 * How long a wait begun at `since` has lasted, `err` being what the last try met: thrown unless
	 * it is a lock another connection holds; past the busy timeout, a DatabaseBusyError instead.
	 */
	private waitedSince(since: number, err: unknown): number {
		if (!isBusy(err)) throw err;
		const waited = Date.now() - since;
		if (waited >= this.options.busyTimeoutMs)
			throw new DatabaseBusyError(this.options.file, waited);
		return waited;
	}

	/** BEGIN IMMEDIATE, blocking up to the busy timeout: for start-up work and scripts only. */
	private beginBlocking(): void {
		const since = Date.now();
		for (;;) {
			try {
				this.begin();
				this.lookedAt = 0;
				return;
			} catch (err) {
				this.lookAtHolders(this.waitedSince(since, err));
			}
		}
	}

	private afterCommit<T>(value: () => T | Promise<T>): Promise<T> {
		return new Promise<T>((resolve, reject) => {
			this.group!.push(err => (err ? reject(err) : resolve(value())));
		});
	}
}

/** Quote an SQL identifier. */
export const ident = (name: string) => `"${name.replace(/"/g, '""')}"`;
