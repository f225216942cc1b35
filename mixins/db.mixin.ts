/**
 * Database mixin: every service owns its own database.
 *
 * - MongoDB through moleculer-db-adapter-mongo when MONGO_URI is set: one database per service,
 *   named after the service (`orders`, `inventory`, ...).
 * - NeDB files under DATA_DIR/<service>/ otherwise, guarded by a lock file so a second process of
 *   the same service on the same data directory refuses to start instead of forking the data.
 * - In-memory NeDB under NODE_ENV=test.
 *
 * Besides the primary collection (moleculer-db's `this.adapter`), a service may declare secondary
 * collections in the same database; they are opened as `this.stores.<name>`.
 */
import fs from "node:fs";
import path from "node:path";
import type { Context, ServiceSchema } from "moleculer";
import DbService from "moleculer-db";
import MongoDbAdapter from "moleculer-db-adapter-mongo";
import { processCommit, recoverJournal } from "../lib/group-commit";
import { newId, newObjectIdHex } from "../lib/ids";
import { appendSynchronously, DEFAULT_COMPACTION, type Datafile } from "../lib/nedb-datafile";
import { modifyTouchedFields, type Modify } from "../lib/nedb-modify";
import { installFastIndexTrees } from "../lib/nedb-trees";
import { settings } from "../lib/settings";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const nedbModel = require("@seald-io/nedb/lib/model.js") as {
	getDotValue(doc: unknown, field: string): unknown;
	modify: Modify;
};
// eslint-disable-next-line @typescript-eslint/no-require-imports
const NedbIndex = require("@seald-io/nedb/lib/indexes.js") as { prototype: NedbIndexLike };

interface NedbIndexLike {
	fieldName: string;
	tree: { search(key: unknown): unknown[] };
	update(oldDoc: unknown, newDoc?: unknown): void;
}
type DocPair = { oldDoc: unknown; newDoc: unknown };

/** The key of a document in an index, when it is one scalar (not an array, object or date). */
function scalarKey(index: NedbIndexLike, doc: unknown): string | number | boolean | undefined {
	const key = nedbModel.getDotValue(doc, index.fieldName);
	const type = typeof key;
	return type === "string" || type === "number" || type === "boolean"
		? (key as string | number | boolean)
		: undefined;
}

/**
 * NeDB updates a document in every index by deleting it from the index's AVL tree and inserting
 * it again, even when the indexed field did not change, which is nearly always (`_id`, `orderId`,
 * `userId` never change): the order path's profile showed these tree operations at about 15% of
 * all CPU. When each document's key is the same scalar before and after, swap the document in the
 * key's node instead; it cannot break a unique constraint. Anything else takes NeDB's own way.
 */
function installInPlaceIndexUpdates(): void {
	const original = NedbIndex.prototype.update;
	NedbIndex.prototype.update = function update(this: NedbIndexLike, oldDoc, newDoc) {
		const pairs: DocPair[] = Array.isArray(oldDoc) ? oldDoc : [{ oldDoc, newDoc }];
		const slots: { docs: unknown[]; at: number }[] = [];
		for (const pair of pairs) {
			const key = scalarKey(this, pair.oldDoc);
			if (key === undefined || key !== scalarKey(this, pair.newDoc))
				return original.call(this, oldDoc, newDoc);
			const docs = this.tree.search(key);
			const at = docs.indexOf(pair.oldDoc);
			if (at < 0) return original.call(this, oldDoc, newDoc);
			slots.push({ docs, at });
		}
		pairs.forEach((pair, i) => (slots[i].docs[slots[i].at] = pair.newDoc));
	};
}
installInPlaceIndexUpdates();

// An update copies and checks only the fields it changes (lib/nedb-modify.ts).
nedbModel.modify = modifyTouchedFields(nedbModel.modify);

// Index searches and inserts compare keys once per level, strings at once (lib/nedb-trees.ts).
installFastIndexTrees();

/**
 * NeDB makes each new `_id` from crypto.randomBytes, a call into OpenSSL per document (about 3% of
 * the order path's CPU), and random: ids are made by lib/ids.ts instead, from a pool of random
 * bytes, and in time order, which keeps the walks of NeDB's index trees in cache.
 */
function fastIds(db: any): void {
	db._createNewId = newId;
	// Not looked up in the `_id` index first, as NeDB does (a tree search per insert, ~2% of the
	// order path): the insert itself refuses a taken `_id` (unique index), and only then is the
	// document given a new one. Only ids of the same millisecond can collide (lib/ids.ts), each
	// pair once in 2^64.
	const insert = db._insertAsync;
	db._insertAsync = async function insertWithFreeId(this: unknown, newDoc: unknown) {
		for (let attempt = 1; ; attempt++) {
			try {
				return await insert.call(this, newDoc);
			} catch (err) {
				if (attempt >= 3 || !drawnIdWasTaken(db, err, newDoc)) throw err;
			}
		}
	};
}

/** Whether an insert failed because the `_id` drawn for one of its documents was taken. */
function drawnIdWasTaken(db: any, err: unknown, newDoc: unknown): boolean {
	const { errorType, key } = (err ?? {}) as { errorType?: string; key?: unknown };
	return (
		errorType === "uniqueViolated" &&
		typeof key === "string" &&
		[newDoc].flat().some(doc => (doc as { _id?: unknown } | null)?._id === undefined) &&
		db.indexes._id.getMatching(key).length > 0
	);
}

/** Whether an insert failed because the `_id` it gave (`id`, as a string) was taken. */
function idWasTaken(err: unknown, id: string): boolean {
	const e = (err ?? {}) as { errorType?: string; key?: unknown; code?: number; keyValue?: any };
	if (e.errorType === "uniqueViolated") return e.key === id; // NeDB
	return e.code === 11000 && e.keyValue?._id !== undefined && String(e.keyValue._id) === id;
}

/**
 * An index of a collection. Index selective fields only (ids, emails, SKUs): NeDB keeps the
 * documents of one key in an array, so an index on a field with few values (a status) makes every
 * update of it O(n): profiling the order path showed it as the top cost.
 */
export interface IndexSpec {
	field: string;
	unique?: boolean;
	sparse?: boolean;
}

export interface DbMixinOptions {
	/** Primary collection; defaults to the service name. */
	collection?: string;
	indexes?: IndexSpec[];
	/** Secondary collections in the service's database, by name, with their indexes. */
	stores?: Record<string, IndexSpec[]>;
}

/** The subset of a moleculer-db adapter the services use. */
export interface Store {
	find(filters: {
		query?: Record<string, unknown>;
		limit?: number;
		offset?: number;
		sort?: string[];
	}): Promise<any[]>;
	findOne(query: Record<string, unknown>): Promise<any>;
	findById(id: unknown): Promise<any>;
	count(filters?: { query?: Record<string, unknown> }): Promise<number>;
	insert(entity: Record<string, unknown>): Promise<any>;
	updateMany(query: Record<string, unknown>, update: Record<string, unknown>): Promise<number>;
	removeMany(query: Record<string, unknown>): Promise<number>;
	entityToObject(entity: any): any;
	/** MongoDB only. */
	stringToObjectID?(id: string): unknown;
	connect(): Promise<void>;
	disconnect(): Promise<void>;
	init(broker: unknown, service: unknown): void;
	db?: any;
	collection?: any;
}

export interface DbMethods {
	stores: Record<string, Store>;
	/** Atomically update the first document matching `query`; the updated document, or null. */
	updateOne(
		store: Store,
		query: Record<string, unknown>,
		update: Record<string, unknown>
	): Promise<any>;
	toJSON<T = any>(store: Store, doc: any): T;
	/**
	 * Insert a document some of whose fields name its own id (an event written with it): the id is
	 * drawn first and given to `build` as a string; drawn again should it be taken.
	 */
	insertWithNewId(store: Store, build: (id: string) => Record<string, unknown>): Promise<any>;
	/** One page of a listing, with the paging fields every list action answers with. */
	findPage<T>(
		store: Store,
		query: Record<string, unknown>,
		paging: { page: number; pageSize: number; sort?: string[] },
		toView: (doc: any) => T
	): Promise<Page<T>>;
}

/**
 * A listing's sort with `_id` last (in the direction of the last key): documents that tie on the
 * sort keys (created in the same millisecond, say) keep one order from page to page, so paging
 * through shows each exactly once. Ids are time-ordered (lib/ids.ts), so ties also come in the
 * order they were made.
 */
export function withIdTiebreak(sort: readonly string[]): string[] {
	if (sort.some(key => key.replace(/^-/, "") === "_id")) return [...sort];
	return [...sort, sort.at(-1)?.startsWith("-") ? "-_id" : "_id"];
}

export interface Page<T> {
	rows: T[];
	total: number;
	page: number;
	pageSize: number;
	totalPages: number;
}

/** True when an insert failed on a unique index (NeDB or MongoDB). */
export function isDuplicateKeyError(err: unknown): boolean {
	const e = err as { errorType?: string; code?: number } | null;
	return e?.errorType === "uniqueViolated" || e?.code === 11000;
}

function newAdapter(service: string, collection: string): Store {
	const cfg = settings();
	if (cfg.mongoUri) {
		// mongodb 3.x driver inside the adapter; the third argument is the database name.
		const store = new MongoDbAdapter(
			cfg.mongoUri,
			{ useUnifiedTopology: true },
			service
		) as unknown as Store;
		return withObjectIdQueries(store);
	}
	const store = new DbService.MemoryAdapter(
		cfg.env === "test" ? {} : { filename: path.join(cfg.dataDir, service, `${collection}.db`) }
	) as unknown as Store;
	return withNativePromises(store);
}

/**
 * moleculer-db's NeDB adapter wraps NeDB's callback API with util.promisify, and NeDB 3 builds
 * that callback API on its promises with util.callbackify: every operation went promise ->
 * callback -> promise (`callbackify` alone showed at ~2% of the order path), and for `update`
 * Node 22 printed DEP0174 on every call. Call NeDB's own promise API instead, with the same
 * results (`update` as [numAffected, affectedDocuments]).
 */
function withNativePromises(store: Store): Store {
	const connect = store.connect;
	const disconnect = store.disconnect;
	let datafile: Datafile | undefined;
	store.disconnect = async function disconnectAndClose() {
		datafile?.close();
		return disconnect.call(store);
	};
	store.connect = async function connectWithNativePromises() {
		await connect.call(store);
		const db = store.db;
		db.findOne = (query: unknown, projection?: unknown) =>
			db.findOneAsync(query, projection ?? {}).execAsync();
		db.count = (query: unknown) => db.countAsync(query).execAsync();
		db.insert = (docs: unknown) => db.insertAsync(docs);
		db.remove = (query: unknown, options?: unknown) => db.removeAsync(query, options ?? {});
		// Its find() and count() run a cursor through its callback API.
		const cursor = (filters: unknown) => (store as any).createCursor(filters).execAsync();
		store.find = filters => cursor(filters);
		store.count = (filters = {}) => cursor(filters).then((docs: unknown[]) => docs.length);
		db.update = (query: unknown, update: unknown, options: Record<string, unknown> = {}) =>
			db
				.updateAsync(query, update, options)
				.then((r: { numAffected: number; affectedDocuments: unknown }) => [
					r.numAffected,
					r.affectedDocuments
				]);
		fastIds(db);
		if (!db.inMemoryOnly)
			datafile = appendSynchronously(
				db,
				DEFAULT_COMPACTION,
				err =>
					(
						store as { service?: { logger?: { error(...a: unknown[]): void } } }
					).service?.logger?.error(
						`Rewriting ${db.persistence.filename} failed (retried after more changes):`,
						err.message
					),
				// The changes of one event-loop turn, of every collection of the process, are
				// written together at its end (lib/group-commit.ts).
				processCommit
			);
	};
	return store;
}

/**
 * Services query by the string ids they hand out (`{ _id: "..." }`, `{ _id: { $in: [...] } }`);
 * MongoDB stores ObjectIds. Convert such queries, so the same service code works on both stores.
 * A string that is no ObjectId stays a string and simply matches nothing.
 */
export function toObjectIdQuery(store: Store, query: any): any {
	if (query == null || query._id === undefined) return query;
	const convert = (v: unknown) =>
		typeof v === "string" && /^[0-9a-f]{24}$/i.test(v) ? store.stringToObjectID!(v) : v;
	const id = query._id;
	if (typeof id === "string") return { ...query, _id: convert(id) };
	if (id && Array.isArray(id.$in)) return { ...query, _id: { ...id, $in: id.$in.map(convert) } };
	return query;
}

function withObjectIdQueries(store: Store): Store {
	const { find, findOne, count, updateMany, removeMany } = store;
	return Object.assign(store, {
		find: (filters: any) =>
			find.call(store, { ...filters, query: toObjectIdQuery(store, filters?.query) }),
		findOne: (query: any) => findOne.call(store, toObjectIdQuery(store, query)),
		count: (filters: any = {}) =>
			count.call(store, { ...filters, query: toObjectIdQuery(store, filters.query) }),
		updateMany: (query: any, update: any) =>
			updateMany.call(store, toObjectIdQuery(store, query), update),
		removeMany: (query: any) => removeMany.call(store, toObjectIdQuery(store, query))
	});
}

/**
 * Documents found through an index on an array field (`pendingActions`) come once per element
 * that matched (NeDB): each once, in the order found.
 */
export function eachOnce<T extends { _id: unknown }>(docs: readonly T[]): T[] {
	const seen = new Set<string>();
	return docs.filter(doc => {
		const id = String(doc._id);
		if (seen.has(id)) return false;
		seen.add(id);
		return true;
	});
}

/** Create the indexes a store lacks (each adapter's own call; an existing index is kept). */
export async function ensureIndexes(store: Store, indexes: IndexSpec[]): Promise<void> {
	for (const idx of indexes) {
		if (store.collection) {
			await store.collection.createIndex(
				{ [idx.field]: 1 },
				{ unique: Boolean(idx.unique), sparse: Boolean(idx.sparse) }
			);
		} else {
			await store.db.ensureIndex({
				fieldName: idx.field,
				unique: Boolean(idx.unique),
				sparse: Boolean(idx.sparse)
			});
		}
	}
}

/**
 * One process owns a service's NeDB files. A second process of the same service on the same
 * DATA_DIR would silently fork the data (each keeps its own copy in memory), so it refuses to start.
 */
function acquireLock(dir: string, service: string): () => void {
	fs.mkdirSync(dir, { recursive: true });
	const lockFile = path.join(dir, ".lock");
	const take = () => fs.writeFileSync(lockFile, String(process.pid), { flag: "wx" });
	try {
		take();
	} catch (err) {
		if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
		const owner = otherLiveOwner(dir);
		if (owner) {
			throw new Error(
				`The NeDB data of '${service}' in ${dir} is already used by process ${owner}. ` +
					`NeDB cannot be shared between processes: run a second instance with MONGO_URI ` +
					`(shared MongoDB) or with its own DATA_DIR.`
			);
		}
		fs.rmSync(lockFile, { force: true }); // stale lock of a dead process
		take();
	}
	return () => {
		try {
			if (Number(fs.readFileSync(lockFile, "utf8")) === process.pid) fs.rmSync(lockFile);
		} catch {
			/* already gone */
		}
	};
}

/** The pid of another live process that holds the lock of a data directory, if any. */
function otherLiveOwner(dir: string): number | undefined {
	let owner: number;
	try {
		owner = Number(fs.readFileSync(path.join(dir, ".lock"), "utf8"));
	} catch {
		return undefined; // no lock
	}
	return owner && owner !== process.pid && isAlive(owner) ? owner : undefined;
}

const lockedByOther = (dir: string) => otherLiveOwner(dir) !== undefined;

function isAlive(pid: number): boolean {
	try {
		process.kill(pid, 0);
		return true;
	} catch (err) {
		return (err as NodeJS.ErrnoException).code === "EPERM";
	}
}

export function DbMixin(options: DbMixinOptions = {}): Partial<ServiceSchema<any>> {
	let releaseLock: (() => void) | undefined;

	// `merged` is a lifecycle hook of Moleculer the typings do not list.
	return <Partial<ServiceSchema<any>>>{
		mixins: [DbService as unknown as Partial<ServiceSchema>],

		// moleculer-db's generic CRUD actions carry `rest` routes and would publish every field of
		// every document through the gateway. Services declare their own API instead.
		actions: {
			find: false,
			count: false,
			list: false,
			create: false,
			insert: false,
			get: false,
			update: false,
			remove: false
		},

		settings: {
			// Page size bounds of moleculer-db's list action.
			pageSize: 20,
			maxPageSize: 100,
			maxLimit: 100
		},

		created(this: any) {
			const service: string = this.name;
			const cfg = settings();
			// Announced to the cluster, so instances of one service can tell that they fork NeDB data.
			Object.assign(this.metadata, {
				store: cfg.mongoUri ? "mongodb" : cfg.env === "test" ? "memory" : "nedb"
			});
			if (!cfg.mongoUri && cfg.env !== "test") {
				const dir = path.join(cfg.dataDir, service);
				releaseLock = acquireLock(dir, service);
				// A process that died part-way through writing a turn left a journal: complete
				// the files it names before any of them is loaded (services load in started()).
				const recovery = recoverJournal(dir, lockedByOther);
				if (recovery.completed.length || recovery.skipped.length)
					this.logger.warn(
						`Completed the last writes of a process that died: ${recovery.completed.join(", ") || "none"}` +
							(recovery.skipped.length
								? `; left alone (another process owns them now): ${recovery.skipped.join(", ")}`
								: "")
					);
			}

			this.schema.collection = options.collection ?? service;
			this.adapter = newAdapter(service, this.schema.collection);
			// moleculer-db reads `this.schema.adapter` in its own created(), which runs before ours
			this.adapter.init(this.broker, this);

			this.stores = {} as Record<string, Store>;
			for (const name of Object.keys(options.stores ?? {})) {
				const store = newAdapter(service, name);
				store.init(this.broker, { schema: { collection: name }, logger: this.logger });
				this.stores[name] = store;
			}
		},

		async started(this: any) {
			// moleculer-db's started() has connected the primary adapter by now.
			await ensureIndexes(this.adapter, options.indexes ?? []);
			for (const [name, store] of Object.entries<Store>(this.stores)) {
				await store.connect();
				await ensureIndexes(store, options.stores?.[name] ?? []);
			}
			if (typeof this.seedDB === "function" && (await this.adapter.count()) === 0) {
				this.logger.info(`Seeding '${this.schema.collection}'...`);
				await this.seedDB();
			}
		},

		async stopped(this: any) {
			for (const store of Object.values<Store>(this.stores ?? {})) await store.disconnect();
			releaseLock?.();
		},

		/**
		 * moleculer-db broadcasts `cache.clean.<service>` on every change (and cleans its own node's
		 * cacher first): every other instance of the service drops its cached answers. Only the
		 * service itself listens, so the broadcast does not reach the nodes of other services (it
		 * did, through a `cache.clean.**` listener in each of them: two broadcasts per order, to
		 * every node of the cluster).
		 */
		merged(this: any, schema: any) {
			schema.events = {
				...schema.events,
				[`cache.clean.${schema.name}`](this: any, ctx: Context) {
					if (this.broker.cacher && ctx.nodeID !== this.broker.nodeID)
						return this.broker.cacher.clean(`${this.fullName}.**`);
				}
			};
		},

		events: {
			"$services.changed"(this: any) {
				this.warnIfForked();
			}
		},

		methods: {
			/**
			 * NeDB lives in one process's memory: another instance of this service elsewhere in the
			 * cluster has its own, different data. Say so loudly (once per peer).
			 */
			warnIfForked(this: any) {
				if (this.metadata.store === "mongodb") return;
				this.forkWarned ??= new Set<string>();
				const peers = this.broker.registry
					.getServiceList({ onlyAvailable: true, skipInternal: true })
					.filter((s: any) => s.name === this.name && s.nodeID !== this.broker.nodeID);
				for (const peer of peers) {
					if (this.forkWarned.has(peer.nodeID)) continue;
					this.forkWarned.add(peer.nodeID);
					this.logger.error(
						`DATA FORK: another '${this.name}' instance runs on node '${peer.nodeID}' while this one keeps ` +
							`its data in local NeDB (${this.metadata.store}). Each instance has different data: ` +
							`set MONGO_URI so all instances share one database.`
					);
				}
			},

			async updateOne(
				store: Store,
				query: Record<string, unknown>,
				update: Record<string, unknown>
			) {
				if (store.collection) {
					const res = await store.collection.findOneAndUpdate(
						toObjectIdQuery(store, query),
						update,
						{
							returnOriginal: false
						}
					);
					return res.value ?? null;
				}
				const [count, doc] = await store.db.update(query, update, {
					multi: false,
					returnUpdatedDocs: true
				});
				return count > 0 ? doc : null;
			},

			async insertWithNewId(store: Store, build: (id: string) => Record<string, unknown>) {
				for (let attempt = 1; ; attempt++) {
					// NeDB: drawn as NeDB draws its own; MongoDB: an ObjectId.
					const id = store.collection
						? newObjectIdHex()
						: (store.db._createNewId() as string);
					const _id = store.collection ? store.stringToObjectID!(id) : id;
					try {
						return await store.insert({ ...build(id), _id });
					} catch (err) {
						if (attempt >= 3 || !idWasTaken(err, id)) throw err;
					}
				}
			},

			toJSON(store: Store, doc: any) {
				return doc == null ? doc : store.entityToObject(doc);
			},

			async findPage(
				this: any,
				store: Store,
				query: Record<string, unknown>,
				{
					page,
					pageSize,
					sort = ["-createdAt"]
				}: { page: number; pageSize: number; sort?: string[] },
				toView: (doc: any) => unknown
			) {
				const [docs, total] = await Promise.all([
					store.find({
						query,
						sort: withIdTiebreak(sort),
						limit: pageSize,
						offset: (page - 1) * pageSize
					}),
					store.count({ query })
				]);
				return {
					rows: docs.map(d => toView(store.entityToObject(d))),
					total,
					page,
					pageSize,
					totalPages: Math.ceil(total / pageSize)
				};
			}
		}
	};
}
