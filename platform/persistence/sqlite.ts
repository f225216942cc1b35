/**
 * A service's SQLite database (node:sqlite): one file per service, shared by every process of
 * that service on the host. WAL lets readers run beside the one writer; every operation runs
 * inside a transaction opened with BEGIN IMMEDIATE, so it is atomic across processes.
 *
 * Group commit: the operations of one event-loop turn share one transaction, each in its own
 * savepoint (a failed one is undone alone), committed when the turn ends. An operation's promise
 * settles only after that COMMIT, reads included, so nothing read or written leaves the process
 * before it is durable: callers need no barrier of their own.
 */
import fs from "node:fs";
import path from "node:path";
import { DatabaseSync } from "node:sqlite";

export type Synchronous = "OFF" | "NORMAL" | "FULL" | "EXTRA";

export interface SqliteOptions {
	/** A file path, or ":memory:" for a private in-memory database. */
	file: string;
	synchronous: Synchronous;
	busyTimeoutMs: number;
	/** Commit once per event-loop turn (default) instead of once per operation. */
	groupCommit?: boolean;
}

type Settle = (err?: unknown) => void;

export class SqliteDatabase {
	readonly db: DatabaseSync;
	private readonly statements = new Map<string, ReturnType<DatabaseSync["prepare"]>>();
	/** The operations of the open group transaction, settled at its COMMIT. */
	private group: Settle[] | undefined;

	constructor(readonly options: SqliteOptions) {
		if (options.file !== ":memory:")
			fs.mkdirSync(path.dirname(options.file), { recursive: true });
		// The busy timeout is set (by the constructor) before WAL is switched on: a second process
		// opening the file while the first switches would otherwise fail with "database is locked".
		this.db = new DatabaseSync(options.file, { timeout: options.busyTimeoutMs });
		if (options.file !== ":memory:") this.db.exec("PRAGMA journal_mode = WAL");
		this.db.exec(`PRAGMA synchronous = ${options.synchronous}`);
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
		this.statement("BEGIN IMMEDIATE").run();
		try {
			const result = fn();
			this.statement("COMMIT").run();
			return result;
		} catch (err) {
			if (this.db.isTransaction) this.statement("ROLLBACK").run();
			throw err;
		}
	}

	/**
	 * Run `fn` atomically under the write lock; its result (or error) is delivered once it is
	 * committed. With group commit it joins this turn's transaction in a savepoint of its own.
	 */
	operation<T>(fn: () => T): Promise<T> {
		if (this.options.groupCommit === false) {
			try {
				return Promise.resolve(this.transaction(fn));
			} catch (err) {
				return Promise.reject(err);
			}
		}
		try {
			this.openGroup();
		} catch (err) {
			return Promise.reject(err); // the write lock was not had within the busy timeout
		}
		let result: T;
		try {
			result = this.inSavepoint(fn);
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

	/** Run a read now; while a group transaction is open, deliver it after its COMMIT. */
	read<T>(fn: () => T): Promise<T> {
		let result: T;
		try {
			result = fn();
		} catch (err) {
			return Promise.reject(err);
		}
		return this.group ? this.afterCommit(() => result) : Promise.resolve(result);
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
	}

	close(): void {
		if (this.db.isOpen) this.flush();
		this.statements.clear();
		if (this.db.isOpen) this.db.close();
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

	/** Settle the group's operations: with `err` when it did not commit. */
	private endGroup(err?: unknown): void {
		const group = this.group ?? [];
		this.group = undefined;
		for (const settle of group) settle(err);
	}

	private openGroup(): void {
		if (this.group) return;
		this.statement("BEGIN IMMEDIATE").run();
		this.group = [];
		setImmediate(() => this.flush());
	}

	private afterCommit<T>(value: () => T | Promise<T>): Promise<T> {
		return new Promise<T>((resolve, reject) => {
			this.group!.push(err => (err ? reject(err) : resolve(value())));
		});
	}
}

/** Quote an SQL identifier. */
export const ident = (name: string) => `"${name.replace(/"/g, '""')}"`;
