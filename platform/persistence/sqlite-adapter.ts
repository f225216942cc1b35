/**
 * A moleculer-db adapter on node:sqlite: a collection is a table of (id, JSON document).
 *
 * Each declared index is a column holding the field's value (a string, a number or NULL), written by
 * the adapter with the document, with a real SQL index (unique; sparse = partial, holding only
 * documents whose field is set). An update sets only the columns whose value changed, so SQLite
 * rewrites only those indexes. Conditions on `_id` and on indexed fields select rows in SQL; mingo
 * evaluates whatever SQL cannot decide exactly and applies the update operators, except for the
 * plain updates SQL makes alone (setInSql, changeInSql). Every change that reads first (conditional
 * updates, updateMany, removeMany) runs in one BEGIN IMMEDIATE transaction: atomic against every
 * other process on the same file. Every document is parsed from its row when read, so each caller
 * has its own.
 */
import { Context } from "mingo/core";
import * as QueryOperators from "mingo/operators/query";
import * as UpdateOperators from "mingo/operators/update";
import { Query } from "mingo/query";
import { newId } from "./ids";
import { ident, type SqliteDatabase } from "./sqlite";

type Doc = Record<string, any>;
type SQLValue = string | number | null;

export interface IndexSpec {
	field: string;
	unique?: boolean;
	sparse?: boolean;
}

export interface FindFilters {
	query?: Doc;
	sort?: string | string[] | Record<string, number>;
	limit?: number;
	offset?: number;
	search?: string;
	searchFields?: string | string[];
}

/** A write refused by a unique index; `field` names it (`_id` for the primary key). */
export class DuplicateKeyError extends Error {
	readonly errorType = "uniqueViolated";
	constructor(
		readonly field: string,
		readonly key: unknown
	) {
		super(`duplicate key: ${field} ${JSON.stringify(key)}`);
		this.name = "DuplicateKeyError";
	}
}

const FIELD = /^[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)*$/;
// A top-level field whose JSON path (`$.name`) SQLite reads as that one key.
const FIELD_NAME = /^[A-Za-z_][\w]*$/;
const columnOf = (field: string) => `f_${field.replace(/\./g, "__")}`;
const jsonPath = (field: string) => `$.${field}`;
const isScalar = (v: unknown): v is string | number =>
	typeof v === "string" || (typeof v === "number" && Number.isFinite(v));
/** Whether a column compares `v` as MongoDB would: the id column has TEXT affinity (a number as text). */
const decides = (isId: boolean, v: unknown) => typeof v === "string" || (!isId && isScalar(v));
const isPlainObject = (v: unknown): v is Doc =>
	typeof v === "object" &&
	v !== null &&
	(Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null);
const ID_ONLY = " WHERE id = ?";
const ONE_WRITE = { oneWrite: true };
const RANGE: Record<string, string> = { $lt: "<", $lte: "<=", $gt: ">", $gte: ">=" };
// A range compares within its operand's type, as in MongoDB (SQLite would order numbers before text).
const SAME_TYPE = (col: string, value: string | number) =>
	typeof value === "string" ? `typeof(${col}) = 'text'` : `typeof(${col}) IN ('integer', 'real')`;
// Query operators only (mingo's default context copies every operator table into each query),
// and no `$where`: a query never runs code.
const QUERY_OPTIONS = { context: Context.init({ query: QueryOperators }), scriptEnabled: false };
const UPDATES = UpdateOperators as unknown as Record<string, (expr: Doc) => (doc: Doc) => unknown>;

/**
 * Apply a MongoDB update document in place, operator by operator, through mingo's update
 * operators (its one-call `update()` rebuilds its whole operator context on every call).
 */
function applyUpdate(doc: Doc, update: Doc): void {
	for (const [op, expr] of Object.entries(update)) {
		const operator = Object.hasOwn(UPDATES, op) ? UPDATES[op] : undefined;
		if (!op.startsWith("$") || !operator)
			throw new Error(`SqliteAdapter: unsupported update operator '${op}'`);
		operator(expr)(doc);
	}
}

/**
 * What an indexed field's column holds: its string or number, or NULL when it is missing or null.
 * Anything else (an object, an array on the path, a boolean) is refused, so that SQL on the
 * column decides exactly what the MongoDB query would.
 */
function columnValue(doc: Doc, field: string): SQLValue {
	let v: any = doc;
	for (const key of field.split(".")) {
		if (v == null) return null;
		if (typeof v !== "object" || Array.isArray(v)) break;
		v = v[key];
	}
	if (v == null || (typeof v === "number" && !Number.isFinite(v))) return null;
	if (typeof v === "string" || typeof v === "number") return v;
	throw new Error(`SqliteAdapter: indexed field '${field}' must hold a string or a number`);
}

/**
 * A deep copy of `value` equal to JSON.parse(JSON.stringify(value)) (toJSON called, undefined and
 * functions left out, non-finite numbers null), without the text in between.
 */
export function jsonCopy(value: unknown, key: string | number = ""): any {
	let v: any = value;
	if (typeof v === "object" && v !== null && typeof v.toJSON === "function")
		v = v.toJSON(String(key));
	switch (typeof v) {
		case "string":
		case "boolean":
			return v;
		case "number":
			return Number.isFinite(v) ? v + 0 : null; // -0 is written as 0
		case "bigint":
			throw new TypeError("Do not know how to serialize a BigInt");
		case "object": {
			if (v === null) return null;
			if (Array.isArray(v)) {
				const out = new Array(v.length);
				for (let i = 0; i < v.length; i++) out[i] = jsonCopy(v[i], i) ?? null;
				return out;
			}
			if (v instanceof Number || v instanceof String || v instanceof Boolean)
				return jsonCopy(v.valueOf());
			const out: Doc = {};
			for (const k of Object.keys(v)) {
				const x = jsonCopy(v[k], k);
				if (x !== undefined) setOwn(out, k, x);
			}
			return out;
		}
		default:
			return undefined;
	}
}

/** `out[k] = x`, as JSON.parse sets it: "__proto__" an own property, not the prototype. */
function setOwn(out: Doc, k: string, x: unknown): void {
	if (k === "__proto__")
		Object.defineProperty(out, k, {
			value: x,
			enumerable: true,
			writable: true,
			configurable: true
		});
	else out[k] = x;
}

function escapeRegExp(text: string): string {
	return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** moleculer-db's sort forms ("-a b", ["-a", "b"], { a: -1 }) as [field, direction] pairs. */
function sortKeys(sort: FindFilters["sort"]): [string, 1 | -1][] {
	if (!sort) return [];
	if (typeof sort === "string") sort = sort.split(/[\s,]+/).filter(Boolean);
	if (Array.isArray(sort))
		return sort.map(key => (key.startsWith("-") ? [key.slice(1), -1] : [key, 1]));
	return Object.entries(sort).map(([key, dir]) => [key, dir < 0 ? -1 : 1]);
}

/** An UPDATE statement that makes an update alone, and the fields it sets. */
interface SetInSql {
	sql: string;
	params: (SQLValue | bigint)[];
	set: Doc;
}

/**
 * changeInSql's UPDATE of one document, and the read of it by the unique field the update leaves
 * alone (under the write lock, the row just changed; cheaper than RETURNING's buffered result).
 * `guarded`: SQL does not decide its query exactly (it changes only documents of plain shapes), so
 * one it leaves unchanged is for mingo to decide.
 */
interface ChangeInSql extends SetInSql {
	guarded: boolean;
	reread: { sql: string; params: SQLValue[] };
}

// A path changeInSql quotes into a JSON path: segments with no quote and no `$` operator.
const PLAIN_PATH = /^[A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*$/;
const quotedPath = (field: string) => `$."${field.replaceAll(".", '"."')}"`;
/** Whether one path is the other or under it. */
const overlaps = (a: string, b: string) =>
	a.length >= b.length
		? a.startsWith(b) && (a.length === b.length || a[b.length] === ".")
		: b.startsWith(a) && b[a.length] === ".";
type IndexedField = [field: string, index: { column: string; unique: boolean }];
/** One field an update changes, and the indexed fields it changes with it. */
interface Edit {
	op: string;
	path: string;
	value: unknown;
	indexed: IndexedField[];
}
// SQLite's json_type of a JSON value of this JavaScript value's kind.
const JSON_TYPE = (v: string | number | boolean) =>
	typeof v === "string"
		? "= 'text'"
		: typeof v === "number"
			? "IN ('integer', 'real')"
			: `= '${v}'`;
// A JavaScript number as SQLite should see it: an integer as an INTEGER, not a REAL.
const sqlNumber = (n: number) => (Number.isSafeInteger(n) ? BigInt(n) : n);
const CHANGES_IN_SQL = new Set(["$set", "$inc", "$unset", "$push"]);

/** SQL terms that each parent on `path` is an object: MongoDB's path then means what SQLite's does. */
function parentsAreObjects(path: string, params: (SQLValue | bigint)[]): string[] {
	const keys = path.split(".");
	const terms: string[] = [];
	for (let i = 1; i < keys.length; i++) {
		terms.push(`json_type(doc, ?) = 'object'`);
		params.push(quotedPath(keys.slice(0, i).join(".")));
	}
	return terms;
}

/**
 * SQL terms on the stored JSON that match a document only if `query` does: scalar equalities,
 * same-type ranges and `$exists` on paths whose parents are objects and whose value is not an
 * array (there SQL and MongoDB mean the same), and `$or` of such. SQL may miss a document the
 * query matches (an array on its path): the caller leaves those to mingo. Undefined for any
 * other query. Parameters are pushed in the terms' order.
 */
function jsonConditions(query: Doc, params: (SQLValue | bigint)[]): string[] | undefined {
	const terms: string[] = [];
	for (const [key, cond] of Object.entries(query)) {
		if (key === "$or") {
			if (!Array.isArray(cond) || cond.length === 0) return undefined;
			const branches: string[] = [];
			for (const branch of cond) {
				const inner = isPlainObject(branch) ? jsonConditions(branch, params) : undefined;
				if (!inner || inner.length === 0) return undefined;
				branches.push(`(${inner.join(" AND ")})`);
			}
			terms.push(`(${branches.join(" OR ")})`);
			continue;
		}
		if (key === "_id" || !PLAIN_PATH.test(key)) return undefined;
		terms.push(...parentsAreObjects(key, params));
		const at = quotedPath(key);
		const conditions: [string, unknown][] = isPlainObject(cond)
			? Object.entries(cond)
			: [["$eq", cond]];
		if (conditions.length === 0) return undefined;
		for (const [op, value] of conditions) {
			if (op === "$exists" && typeof value === "boolean") {
				terms.push(`json_type(doc, ?) IS ${value ? "NOT " : ""}NULL`);
				params.push(at);
			} else if (op === "$eq" && typeof value === "boolean") {
				terms.push(`json_type(doc, ?) ${JSON_TYPE(value)}`);
				params.push(at);
			} else if ((op === "$eq" || op in RANGE) && isScalar(value)) {
				const compare = op === "$eq" ? "=" : RANGE[op];
				terms.push(
					`json_type(doc, ?) ${JSON_TYPE(value)} AND json_extract(doc, ?) ${compare} ?`
				);
				params.push(at, at, typeof value === "number" ? sqlNumber(value) : value);
			} else return undefined;
		}
	}
	return terms;
}

export class SqliteAdapter {
	broker: unknown;
	service: any;
	/** The table; the collection name of the service (or store) by default. */
	table: string;
	/** Indexed fields by name, with their column. */
	private readonly indexed = new Map<string, { column: string; unique: boolean }>();
	private tableSql = "";

	constructor(
		readonly database: SqliteDatabase,
		table?: string
	) {
		this.table = table ?? "";
	}

	/** Set once connected: what the rest of the system checks to know it can use the store. */
	get db(): SqliteDatabase | undefined {
		return this.tableSql ? this.database : undefined;
	}

	init(broker: unknown, service: any): void {
		this.broker = broker;
		this.service = service;
		this.table ||= service.schema.collection;
		if (!this.table) throw new Error("SqliteAdapter: the collection (table) name is missing");
	}

	async connect(): Promise<void> {
		const t = ident(this.table);
		this.database.db.exec(
			`CREATE TABLE IF NOT EXISTS ${t} (id TEXT PRIMARY KEY NOT NULL, doc TEXT NOT NULL)`
		);
		this.tableSql = t;
	}

	async disconnect(): Promise<void> {
		this.tableSql = "";
	}

	/**
	 * Declare an index: a column for the field, filled from the documents already stored, and an
	 * SQL index on it (partial when sparse). Idempotent, and safe when several processes start at
	 * once. A generated column of an earlier version is replaced (it made SQLite rewrite every
	 * index of a table on every update).
	 */
	async ensureIndex({ field, unique = false, sparse = false }: IndexSpec): Promise<void> {
		if (!FIELD.test(field)) throw new Error(`SqliteAdapter: cannot index field '${field}'`);
		const column = columnOf(field);
		const t = this.tableSql;
		const index = ident(`${this.table}__${column}`);
		const db = this.database.db;
		this.database.transaction(() => {
			const existing = db
				.prepare(`SELECT hidden FROM pragma_table_xinfo(?) WHERE name = ?`)
				.get(this.table, column);
			if (existing && existing.hidden !== 0) {
				db.exec(`DROP INDEX IF EXISTS ${index}`);
				db.exec(`ALTER TABLE ${t} DROP COLUMN ${ident(column)}`);
			}
			if (!existing || existing.hidden !== 0) {
				const path = `'${jsonPath(field)}'`;
				db.exec(`ALTER TABLE ${t} ADD COLUMN ${ident(column)}`);
				db.exec(
					`UPDATE ${t} SET ${ident(column)} = json_extract(doc, ${path}) ` +
						`WHERE json_type(doc, ${path}) IN ('text', 'integer', 'real')`
				);
			}
			db.exec(
				`CREATE ${unique ? "UNIQUE " : ""}INDEX IF NOT EXISTS ${index} ` +
					`ON ${t} (${ident(column)})${sparse ? ` WHERE ${ident(column)} IS NOT NULL` : ""}`
			);
		});
		this.indexed.set(field, { column, unique });
	}

	// ---- reads ----

	find(filters: FindFilters = {}): Promise<Doc[]> {
		return this.database.read(() => this.findSync(filters));
	}

	findOne(query: Doc): Promise<Doc | null> {
		return this.database.read(() => this.findSync({ query, limit: 1 })[0] ?? null);
	}

	findById(id: unknown): Promise<Doc | null> {
		return this.database.read(() => (typeof id === "string" ? (this.byId(id) ?? null) : null));
	}

	findByIds(ids: unknown[]): Promise<Doc[]> {
		return this.find({ query: { _id: { $in: ids } } });
	}

	count(filters: FindFilters = {}): Promise<number> {
		return this.database.read(() => {
			const query = this.withSearch(filters);
			const plan = this.plan(query);
			if (plan.exact) {
				const row = this.database
					.statement(`SELECT COUNT(*) AS n FROM ${this.tableSql}${plan.where}`)
					.get(...plan.params);
				return Number(row!.n);
			}
			let n = 0;
			for (const _ of this.stored(query, [])) n++;
			return n;
		});
	}

	// ---- writes ----

	insert(entity: Doc): Promise<Doc> {
		return this.database.operation(() => this.insertSync(entity), ONE_WRITE);
	}

	insertMany(entities: Doc[]): Promise<Doc[]> {
		return this.database.operation(
			() => this.atomically(entities.length, () => entities.map(e => this.insertSync(e))),
			ONE_WRITE
		);
	}

	/**
	 * Atomically update the first document matching `query`: the updated document, or null. An
	 * update made in SQL returns it as stored; one applied by mingo keeps the values as the update
	 * gave them (a Date, not its text). A guarded UPDATE that changed nothing leaves it to mingo.
	 */
	updateOne(query: Doc, update: Doc): Promise<Doc | null> {
		return this.database.operation(() => {
			const inSql = this.changeInSql(query, update);
			if (inSql) {
				if (this.runSet(inSql) > 0) {
					const { sql, params } = inSql.reread;
					const row = this.database.statement(sql).get(...params) as { doc: string };
					return JSON.parse(row.doc) as Doc;
				}
				if (!inSql.guarded) return null;
			}
			const [doc] = this.findSync({ query, limit: 1 });
			return doc ? this.modify(doc, update) : null;
		}, ONE_WRITE);
	}

	updateMany(query: Doc, update: Doc): Promise<number> {
		return this.database.operation(() => {
			const inSql = this.setInSql(query, update);
			if (inSql) return this.runSet(inSql);
			// One document by a unique field: updateOne's UPDATE, with nothing read back.
			const one = this.changeInSql(query, update);
			if (one) {
				const changed = this.runSet(one);
				if (changed > 0 || !one.guarded) return changed;
			}
			const docs = this.findSync({ query });
			this.atomically(docs.length, () => docs.forEach(doc => this.modify(doc, update)));
			return docs.length;
		}, ONE_WRITE);
	}

	updateById(id: unknown, update: Doc): Promise<Doc | null> {
		return this.updateOne({ _id: id }, update);
	}

	removeMany(query: Doc): Promise<number> {
		return this.database.operation(() => {
			const ids = [...this.stored(this.withSearch({ query }), [])].map(doc => doc._id);
			const remove = this.database.statement(`DELETE FROM ${this.tableSql} WHERE id = ?`);
			this.atomically(ids.length, () => {
				for (const id of ids) remove.run(id);
			});
			return ids.length;
		}, ONE_WRITE);
	}

	removeById(id: unknown): Promise<Doc | null> {
		return this.database.operation(() => {
			const doc =
				typeof id === "string" ? this.findSync({ query: { _id: id } })[0] : undefined;
			if (!doc) return null;
			this.database.statement(`DELETE FROM ${this.tableSql} WHERE id = ?`).run(doc._id);
			return doc;
		}, ONE_WRITE);
	}

	clear(): Promise<number> {
		return this.database.operation(() => {
			const { changes } = this.database.statement(`DELETE FROM ${this.tableSql}`).run();
			return Number(changes);
		}, ONE_WRITE);
	}

	// ---- moleculer-db's entity hooks ----

	entityToObject(entity: Doc): Doc {
		return { ...entity };
	}

	beforeSaveTransformID(entity: Doc, idField: string): Doc {
		if (idField !== "_id" && entity[idField] !== undefined) {
			const { [idField]: id, ...rest } = entity;
			return { ...rest, _id: id };
		}
		return entity;
	}

	afterRetrieveTransformID(entity: Doc, idField: string): Doc {
		if (idField !== "_id" && entity._id !== undefined) {
			const { _id, ...rest } = entity;
			return { ...rest, [idField]: _id };
		}
		return entity;
	}

	// ---- the engine ----

	/** Run `writes` (`n` statements) undone whole should one fail: in a savepoint when n > 1. */
	private atomically<T>(n: number, writes: () => T): T {
		return n > 1 ? this.database.transaction(writes) : writes();
	}

	private findSync(filters: FindFilters): Doc[] {
		const query = this.withSearch(filters);
		const offset = Math.max(0, filters.offset ?? 0);
		const limit = filters.limit != null && filters.limit >= 0 ? filters.limit : Infinity;
		const out: Doc[] = [];
		if (limit === 0) return out;
		let skipped = 0;
		for (const doc of this.stored(query, sortKeys(filters.sort))) {
			if (skipped < offset) {
				skipped++;
				continue;
			}
			out.push(doc);
			if (out.length >= limit) break;
		}
		return out;
	}

	/** The stored documents matching `query`, in `sort` order, read lazily. */
	private *stored(query: Doc, sort: [string, 1 | -1][]): Generator<Doc> {
		const plan = this.plan(query);
		const test = plan.exact ? null : new Query(query, QUERY_OPTIONS);
		if (plan.where === ID_ONLY && typeof plan.params[0] === "string") {
			// One document at most, by id: SQL has nothing else to decide.
			const doc = this.byId(plan.params[0]);
			if (doc && (!test || test.test(doc))) yield doc;
			return;
		}
		const order = sort.length
			? ` ORDER BY ${sort.map(([field, dir]) => `${this.expression(field)} ${dir < 0 ? "DESC" : "ASC"}`).join(", ")}`
			: "";
		const stmt = this.database.statement(
			`SELECT doc FROM ${this.tableSql}${plan.where}${order}`
		);
		// Equality on a unique column: one row at most (get() costs less than an iterator).
		const rows = plan.single ? [stmt.get(...plan.params)] : stmt.iterate(...plan.params);
		for (const row of rows) {
			if (!row) break;
			const doc = JSON.parse(row.doc as string) as Doc;
			if (!test || test.test(doc)) yield doc;
		}
	}

	/** The stored document with this id, or undefined. */
	private byId(id: string): Doc | undefined {
		const row = this.database
			.statement(`SELECT doc FROM ${this.tableSql} WHERE id = ?`)
			.get(id);
		return row ? (JSON.parse(row.doc as string) as Doc) : undefined;
	}

	/** The SQL for a field: the id column, an indexed field's column, or a JSON extraction. */
	private expression(field: string): string {
		if (field === "_id") return "id";
		const idx = this.indexed.get(field);
		if (idx) return ident(idx.column);
		if (!FIELD.test(field)) throw new Error(`SqliteAdapter: cannot sort by '${field}'`);
		return `json_extract(doc, '${jsonPath(field)}')`;
	}

	/**
	 * The SQL conditions that select a superset of what `query` matches, from its top-level
	 * conditions on `_id` and indexed fields. `exact` when SQL alone decides the whole query: an
	 * indexed column holds exactly the field's string or number (NULL when missing or null), so
	 * equality, `null`, `$in` and same-type ranges on it mean in SQL what they mean in MongoDB.
	 */
	private plan(query: Doc): {
		where: string;
		params: SQLValue[];
		exact: boolean;
		single: boolean;
	} {
		const terms: string[] = [];
		const params: SQLValue[] = [];
		let exact = true;
		let single = false;
		for (const [key, cond] of Object.entries(query)) {
			const index = key === "_id" ? { column: "id", unique: true } : this.indexed.get(key);
			const column = index?.column;
			if (!column) {
				exact = false;
				continue;
			}
			const isId = column === "id";
			const col = isId ? "id" : ident(column);
			if (isScalar(cond)) {
				terms.push(`${col} = ?`);
				params.push(cond);
				if (!decides(isId, cond)) exact = false;
				if (index.unique) single = true;
			} else if (cond === null) {
				terms.push(`${col} IS NULL`);
				if (isId) exact = false;
			} else if (typeof cond === "object" && !Array.isArray(cond)) {
				for (const [op, value] of Object.entries(cond)) {
					if (op === "$in" && Array.isArray(value) && value.every(isScalar)) {
						terms.push(
							value.length ? `${col} IN (${value.map(() => "?").join(", ")})` : "0"
						);
						params.push(...(value as SQLValue[]));
						if (!value.every(v => decides(isId, v))) exact = false;
					} else if (op in RANGE && isScalar(value)) {
						terms.push(`${col} ${RANGE[op]} ? AND ${SAME_TYPE(col, value)}`);
						params.push(value);
						if (!decides(isId, value)) exact = false;
					} else if (op === "$exists" && value === false) {
						terms.push(`${col} IS NULL`);
						exact = false;
					} else exact = false;
				}
			} else exact = false;
		}
		return {
			where: terms.length ? ` WHERE ${terms.join(" AND ")}` : "",
			params,
			exact,
			single
		};
	}

	/** moleculer-db's `search`/`searchFields`: a literal, case-insensitive substring match. */
	private withSearch({ query = {}, search, searchFields }: FindFilters): Doc {
		if (!search || !searchFields) return query;
		const fields =
			typeof searchFields === "string" ? searchFields.split(/[\s,]+/) : searchFields;
		const regex = { $regex: escapeRegExp(search), $options: "i" };
		const anyField = { $or: fields.filter(Boolean).map(f => ({ [f]: regex })) };
		return query.$or ? { $and: [query, anyField] } : { ...query, ...anyField };
	}

	/** Store a new document as plain JSON with a string `_id`, and return it as read back. */
	private insertSync(entity: Doc): Doc {
		const _id = entity._id == null ? newId() : String(entity._id);
		const fresh = { ...entity, _id };
		const json = JSON.stringify(fresh);
		const doc: Doc = jsonCopy(fresh);
		const columns = ["id", "doc"];
		const params: SQLValue[] = [_id, json];
		for (const [field, { column }] of this.indexed) {
			columns.push(ident(column));
			params.push(columnValue(doc, field));
		}
		const sql = `INSERT INTO ${this.tableSql} (${columns.join(", ")}) VALUES (${columns.map(() => "?").join(", ")})`;
		this.run(sql, params, doc);
		return doc;
	}

	/** Apply a MongoDB update to a document read in this transaction and write it back. */
	private modify(doc: Doc, update: Doc): Doc {
		const id = doc._id;
		const before = [...this.indexed].map(([field]) => columnValue(doc, field));
		applyUpdate(doc, update);
		if (doc._id !== id) throw new Error("SqliteAdapter: an update cannot change _id");
		const sets = ["doc = ?"];
		const json = JSON.stringify(doc);
		const params: SQLValue[] = [json];
		let i = 0;
		for (const [field, { column }] of this.indexed) {
			const value = columnValue(doc, field);
			if (value !== before[i++]) {
				sets.push(`${ident(column)} = ?`);
				params.push(value);
			}
		}
		params.push(id);
		this.run(`UPDATE ${this.tableSql} SET ${sets.join(", ")} WHERE id = ?`, params, doc);
		return doc;
	}

	/**
	 * An updateMany that SQL makes alone, no document read into JavaScript: a `$set` of top-level
	 * fields (json_set; a new field goes last, as in MongoDB) on every document of a query SQL
	 * decides exactly. Undefined for any other update (one document: changeInSql).
	 */
	private setInSql(query: Doc, update: Doc): SetInSql | undefined {
		const keys = Object.keys(update);
		if (keys.length !== 1 || keys[0] !== "$set") return undefined;
		const set = update.$set as Doc;
		const fields = Object.keys(set);
		if (fields.length === 0 || fields.some(f => f === "_id" || !FIELD_NAME.test(f)))
			return undefined;
		const plan = this.plan(query);
		if (!plan.exact) return undefined;
		const texts: string[] = [];
		for (const field of fields) {
			const text = JSON.stringify(set[field]);
			if (text === undefined) return undefined; // undefined, a function: left to mingo
			texts.push(text);
		}
		const sets = [`doc = json_set(doc${fields.map(() => ", ?, jsonb(?)").join("")})`];
		const params: SQLValue[] = fields.flatMap((f, i) => [jsonPath(f), texts[i]]);
		for (const [field, { column }] of this.indexed) {
			const top = field.split(".", 1)[0];
			if (!Object.hasOwn(set, top)) continue;
			sets.push(`${ident(column)} = ?`);
			params.push(columnValue({ [top]: JSON.parse(texts[fields.indexOf(top)]) }, field));
		}
		params.push(...plan.params);
		return {
			sql: `UPDATE ${this.tableSql} SET ${sets.join(", ")}${plan.where}`,
			params,
			set
		};
	}

	/**
	 * One document by a unique field, changed by SQL alone: `$set`, `$inc`, `$unset` and `$push`
	 * (of one value) of plain paths, under conditions on other paths (jsonConditions); an indexed
	 * field changes only with a `$set` or `$unset` of its whole top-level field, its column with
	 * it. When the WHERE holds more than the plan's exact terms (conditions on other paths, shape
	 * guards), a document it leaves unchanged, unmatched or of a shape SQL does not decide, is left
	 * to mingo. Undefined for any other update or query, and for one that changes the unique field.
	 */
	private changeInSql(query: Doc, update: Doc): ChangeInSql | undefined {
		const edits: Edit[] = [];
		for (const [op, fields] of Object.entries(update)) {
			if (!CHANGES_IN_SQL.has(op) || !isPlainObject(fields)) return undefined;
			for (const [path, value] of Object.entries(fields)) {
				if (!PLAIN_PATH.test(path) || overlaps(path, "_id")) return undefined;
				for (const edit of edits) if (overlaps(path, edit.path)) return undefined;
				const indexed: IndexedField[] = [];
				for (const entry of this.indexed) if (overlaps(path, entry[0])) indexed.push(entry);
				if (indexed.length && (path.includes(".") || (op !== "$set" && op !== "$unset")))
					return undefined;
				edits.push({ op, path, value, indexed });
			}
		}
		if (edits.length === 0) return undefined;

		const indexedPart: Doc = {};
		const rest: Doc = {};
		for (const [key, cond] of Object.entries(query))
			(key === "_id" || this.indexed.has(key) ? indexedPart : rest)[key] = cond;
		const plan = this.plan(indexedPart);
		if (!plan.exact || !plan.single) return undefined;
		const reread = this.rereadOf(indexedPart, edits);
		if (!reread) return undefined;
		const where = [plan.where.slice(" WHERE ".length)];
		const whereParams: (SQLValue | bigint)[] = [...plan.params];
		const matched = jsonConditions(rest, whereParams);
		if (!matched) return undefined;
		where.push(...matched);

		const pairs: string[] = [];
		const pairParams: (SQLValue | bigint)[] = [];
		const removed: string[] = [];
		const columns: string[] = [];
		const columnParams: SQLValue[] = [];
		const set: Doc = {};
		for (const { op, path, value, indexed } of edits) {
			// MongoDB makes missing parents; SQLite does not: those documents are left to mingo.
			where.push(...parentsAreObjects(path, whereParams));
			const at = quotedPath(path);
			if (op === "$unset") {
				removed.push(at);
				for (const [, { column }] of indexed) columns.push(`${ident(column)} = NULL`);
				continue;
			}
			if (op === "$inc") {
				if (typeof value !== "number" || !Number.isFinite(value)) return undefined;
				where.push(`json_type(doc, ?) ${JSON_TYPE(value)}`);
				whereParams.push(at);
				pairs.push(`?, json_extract(doc, ?) + ?`);
				pairParams.push(at, at, sqlNumber(value));
				continue;
			}
			// $each, $slice and the other modifiers are left to mingo.
			if (
				op === "$push" &&
				isPlainObject(value) &&
				Object.keys(value).some(k => k[0] === "$")
			)
				return undefined;
			const text = JSON.stringify(value);
			if (text === undefined) return undefined;
			if (op === "$push") {
				// Onto an array, or a new one where the field is missing.
				where.push(`COALESCE(json_type(doc, ?), 'array') = 'array'`);
				whereParams.push(at);
				// Values go in as JSONB: json_set embeds them without parsing their text again.
				pairs.push(
					`?, jsonb_insert(COALESCE(jsonb_extract(doc, ?), jsonb('[]')), '$[#]', jsonb(?))`
				);
				pairParams.push(at, at, text);
				continue;
			}
			pairs.push(`?, jsonb(?)`);
			pairParams.push(at, text);
			set[path] = value;
			for (const [field, { column }] of indexed) {
				let held: SQLValue;
				try {
					held = columnValue({ [path]: JSON.parse(text) }, field);
				} catch {
					return undefined; // mingo refuses it, if the document matches
				}
				columns.push(`${ident(column)} = ?`);
				columnParams.push(held);
			}
		}
		let expression = pairs.length ? `json_set(doc, ${pairs.join(", ")})` : "doc";
		if (removed.length)
			expression = `json_remove(${expression}${removed.map(() => ", ?").join("")})`;
		return {
			sql:
				`UPDATE ${this.tableSql} SET ${[`doc = ${expression}`, ...columns].join(", ")}` +
				` WHERE ${where.join(" AND ")}`,
			params: [...pairParams, ...removed, ...columnParams, ...whereParams],
			set,
			guarded: where.length > 1,
			reread
		};
	}

	/** The read of the document by a unique field of `indexedPart` no edit touches, if any. */
	private rereadOf(indexedPart: Doc, edits: Edit[]): ChangeInSql["reread"] | undefined {
		for (const [key, cond] of Object.entries(indexedPart)) {
			const index = key === "_id" ? { column: "id", unique: true } : this.indexed.get(key);
			if (!index?.unique || typeof cond !== "string") continue;
			if (edits.some(e => e.indexed.some(([field]) => field === key))) continue;
			const column = key === "_id" ? "id" : ident(index.column);
			return { sql: `SELECT doc FROM ${this.tableSql} WHERE ${column} = ?`, params: [cond] };
		}
		return undefined;
	}

	/**
	 * Run an update setInSql or changeInSql made: the number of documents it changed. A unique
	 * index's refusal names its field.
	 */
	private runSet({ sql, params, set }: SetInSql): number {
		try {
			return Number(this.database.statement(sql).run(...params).changes);
		} catch (err) {
			throw this.duplicateOf(err, { _id: undefined, ...set }) ?? err;
		}
	}

	/** Run an insert or update of `doc`; a unique index's refusal names its field. */
	private run(sql: string, params: SQLValue[], doc: Doc): void {
		try {
			this.database.statement(sql).run(...params);
		} catch (err) {
			throw this.duplicateOf(err, doc) ?? err;
		}
	}

	private duplicateOf(err: unknown, doc: Doc): DuplicateKeyError | undefined {
		const e = err as { errcode?: number; message?: string };
		// SQLITE_CONSTRAINT_PRIMARYKEY (1555) and SQLITE_CONSTRAINT_UNIQUE (2067)
		if (e?.errcode !== 1555 && e?.errcode !== 2067) return undefined;
		const column = /failed: [^.]+\.(\S+)/.exec(e.message ?? "")?.[1];
		if (!column || column === "id") return new DuplicateKeyError("_id", doc._id);
		const field = [...this.indexed].find(([, idx]) => idx.column === column)?.[0] ?? column;
		return new DuplicateKeyError(field, columnValue(doc, field));
	}
}
