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
 * Parsed documents are kept per table (DocCache) for as long as no other connection has committed:
 * `PRAGMA data_version` is compared after every BEGIN IMMEDIATE (no other writer can commit until
 * our COMMIT) and, for reads outside a transaction, once per synchronous stretch of JavaScript.
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
	/** Parsed documents kept per table (0: none). */
	docCacheSize?: number;
}

type Settle = (err?: unknown) => void;
type Doc = Record<string, any>;

export const DEFAULT_DOC_CACHE_SIZE = 2000;

/** COMMITs made by any connection of this process: one may be to our file, seen without I/O. */
let commitsInProcess = 0;

/**
 * One table's documents by id, as JSON.parse gives them from the table: never handed out (callers
 * get copies), bounded, least recently used first out. Writes go through `wrote`/`removed`, so a
 * savepoint that is undone can drop exactly what it changed.
 */
export class DocCache {
	private readonly docs = new Map<string, Doc>();

	constructor(
		private readonly owner: SqliteDatabase,
		private readonly size: number
	) {}

	get(id: string): Doc | undefined {
		const doc = this.docs.get(id);
		if (doc !== undefined) {
			this.docs.delete(id);
			this.docs.set(id, doc);
		}
		return doc;
	}

	/** A document just read from the table. */
	remember(id: string, doc: Doc): void {
		this.docs.delete(id);
		this.docs.set(id, doc);
		if (this.docs.size > this.size) this.docs.delete(this.docs.keys().next().value!);
	}

	/** A document just written to the table in this transaction. */
	wrote(id: string, doc: Doc): void {
		this.owner.journal(this, id);
		this.remember(id, doc);
	}

	/** A document just deleted from the table in this transaction; all of them without `id`. */
	removed(id?: string): void {
		this.owner.journal(this, id);
		this.forget(id);
	}

	forget(id?: string): void {
		if (id === undefined) this.docs.clear();
		else this.docs.delete(id);
	}
}

export class SqliteDatabase {
	readonly db: DatabaseSync;
	private readonly statements = new Map<string, ReturnType<DatabaseSync["prepare"]>>();
	/** The operations of the open group transaction, settled at its COMMIT. */
	private group: Settle[] | undefined;
	private readonly caches = new Map<string, DocCache>();
	/** `PRAGMA data_version` when the caches were last known to hold what the file holds. */
	private dataVersion: unknown;
	/** commitsInProcess when data_version was checked in this synchronous stretch, else -1. */
	private checkedAt = -1;
	/** Per open savepoint, the cached documents it changed (undefined: a whole table). */
	private readonly journals: [DocCache, string | undefined][][] = [];

	constructor(readonly options: SqliteOptions) {
		if (options.file !== ":memory:")
			fs.mkdirSync(path.dirname(options.file), { recursive: true });
		// The busy timeout is set (by the constructor) before WAL is switched on: a second process
		// opening the file while the first switches would otherwise fail with "database is locked".
		this.db = new DatabaseSync(options.file, { timeout: options.busyTimeoutMs });
		if (options.file !== ":memory:") this.db.exec("PRAGMA journal_mode = WAL");
		this.db.exec(`PRAGMA synchronous = ${options.synchronous}`);
	}

	/** The parsed-document cache of `table`, or undefined when caching is off. */
	documents(table: string): DocCache | undefined {
		const size = this.options.docCacheSize ?? DEFAULT_DOC_CACHE_SIZE;
		if (size <= 0) return undefined;
		let cache = this.caches.get(table);
		if (!cache) {
			cache = new DocCache(this, size);
			this.caches.set(table, cache);
		}
		return cache;
	}

	/** Drop every cached document (after a change made with SQL of one's own, or a lost transaction). */
	forgetDocuments(): void {
		for (const cache of this.caches.values()) cache.forget();
	}

	/** Note a cached document changed inside the open savepoint, to drop should it be undone. */
	journal(cache: DocCache, id: string | undefined): void {
		this.journals.at(-1)?.push([cache, id]);
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
		this.begin();
		try {
			const result = fn();
			this.statement("COMMIT").run();
			commitsInProcess++;
			return result;
		} catch (err) {
			if (this.db.isTransaction) this.statement("ROLLBACK").run();
			this.forgetDocuments();
			throw err;
		}
	}

	/**
	 * Run `fn` atomically under the write lock; its result (or error) is delivered once it is
	 * committed. With group commit it joins this turn's transaction in a savepoint of its own;
	 * `oneWrite` says `fn` changes the database with one statement at most (more only inside
	 * `transaction`), its last step that can fail: SQLite undoes a failed statement alone, so no
	 * savepoint is needed.
	 */
	operation<T>(fn: () => T, { oneWrite = false } = {}): Promise<T> {
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

	/** Run a read now; while a group transaction is open, deliver it after its COMMIT. */
	read<T>(fn: () => T): Promise<T> {
		let result: T;
		try {
			if (!this.db.isTransaction) this.checkVersionOnce();
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
			commitsInProcess++;
		} catch (err) {
			failure = err;
			if (this.db.isTransaction) this.statement("ROLLBACK").run();
		}
		this.endGroup(failure);
	}

	close(): void {
		if (this.db.isOpen) this.flush();
		this.forgetDocuments();
		this.statements.clear();
		if (this.db.isOpen) this.db.close();
	}

	/** Run `fn` inside the open transaction; if it throws, undo what it did, and only that. */
	private inSavepoint<T>(fn: () => T): T {
		this.statement("SAVEPOINT op").run();
		this.journals.push([]);
		try {
			const result = fn();
			this.statement("RELEASE op").run();
			const changed = this.journals.pop()!;
			this.journals.at(-1)?.push(...changed);
			return result;
		} catch (err) {
			for (const [cache, id] of this.journals.pop()!) cache.forget(id);
			if (this.db.isTransaction) {
				this.statement("ROLLBACK TO op").run();
				this.statement("RELEASE op").run();
			} else this.forgetDocuments();
			throw err;
		}
	}

	/** Take the write lock; drop the cached documents if another connection committed meanwhile. */
	private begin(): void {
		this.statement("BEGIN IMMEDIATE").run();
		if (this.caches.size) this.checkVersion();
	}

	private checkVersion(): void {
		const version = this.statement("PRAGMA data_version").get()!.data_version;
		if (version !== this.dataVersion) {
			this.forgetDocuments();
			this.dataVersion = version;
		}
	}

	/**
	 * Outside a transaction, once per synchronous stretch and commit in this process: nothing from
	 * outside (a message saying another process wrote) reaches this process before the stretch
	 * ends, so later reads in it may use what the check found.
	 */
	private checkVersionOnce(): void {
		if (this.checkedAt === commitsInProcess || !this.caches.size) return;
		this.checkVersion();
		if (this.checkedAt < 0) queueMicrotask(() => (this.checkedAt = -1));
		this.checkedAt = commitsInProcess;
	}

	/** Settle the group's operations: with `err` when it did not commit. */
	private endGroup(err?: unknown): void {
		const group = this.group ?? [];
		this.group = undefined;
		if (err) this.forgetDocuments();
		for (const settle of group) settle(err);
	}

	private openGroup(): void {
		if (this.group) return;
		this.begin();
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
