/**
 * A service's SQLite database (node:sqlite): one file per service, shared by every process of
 * that service on the host. WAL lets readers run beside the one writer; every write is its own
 * transaction or part of one opened with BEGIN IMMEDIATE, so it is atomic across processes.
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
}

export class SqliteDatabase {
	readonly db: DatabaseSync;
	private readonly statements = new Map<string, ReturnType<DatabaseSync["prepare"]>>();

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
	 * reads cannot change before it writes); inside another transaction it joins that one.
	 */
	transaction<T>(fn: () => T): T {
		if (this.db.isTransaction) return fn();
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

	close(): void {
		this.statements.clear();
		if (this.db.isOpen) this.db.close();
	}
}

/** Quote an SQL identifier. */
export const ident = (name: string) => `"${name.replace(/"/g, '""')}"`;
