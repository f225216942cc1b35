/**
 * Database mixin: every service owns its own database.
 *
 * - SQLite (node:sqlite) by default: one file per service, DATA_DIR/<service>.sqlite, its
 *   collections as tables (platform/persistence/). Every process of the service on the host opens
 *   the same file, so a second instance is a real second instance.
 * - MongoDB through moleculer-db-adapter-mongo when MONGO_URI is set: one database per service,
 *   named after the service (`orders`, `inventory`, ...), shared across hosts.
 * - A private in-memory SQLite database per service under NODE_ENV=test without DATA_DIR.
 *
 * Besides the primary collection (moleculer-db's `this.adapter`), a service may declare secondary
 * collections in the same database; they are opened as `this.stores.<name>`.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Context, ServiceSchema } from "moleculer";
import DbService from "moleculer-db";
import MongoDbAdapter from "moleculer-db-adapter-mongo";
import { newId, newObjectIdHex } from "./ids";
import { settings } from "../runtime/settings";
import { SqliteDatabase, type SqliteOptions } from "./sqlite";
import { SqliteAdapter, type IndexSpec } from "./sqlite-adapter";
import type { AuthUser } from "../../types/moleculer";

export type { IndexSpec };

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
	insertMany(entities: Record<string, unknown>[]): Promise<any[]>;
	updateMany(query: Record<string, unknown>, update: Record<string, unknown>): Promise<number>;
	removeMany(query: Record<string, unknown>): Promise<number>;
	entityToObject(entity: any): any;
	/** MongoDB only. */
	stringToObjectID?(id: string): unknown;
	/** SQLite only. */
	ensureIndex?(index: IndexSpec): Promise<void>;
	updateOne?(query: Record<string, unknown>, update: Record<string, unknown>): Promise<any>;
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
	 * drawn first and given to `build` as a string; drawn again should it be taken. An `_id` that
	 * `build` returns is used instead (build draws its own again on a retry).
	 */
	insertWithNewId(store: Store, build: (id: string) => Record<string, unknown>): Promise<any>;
	/** One page of a listing, with the paging fields every list action answers with. */
	findPage<T>(
		store: Store,
		query: Record<string, unknown>,
		paging: { page: number; pageSize: number; sort?: string[] },
		toView: (doc: any) => T
	): Promise<Page<T>>;
	/**
	 * The document `id` of `store` if `user` owns it (its `userId`) or, unless `adminReads` is
	 * false, is an admin; `notFound()` otherwise, so another's document is indistinguishable from
	 * a missing one.
	 */
	findOwned<T>(
		store: Store,
		id: string,
		user: AuthUser | undefined,
		notFound: () => Error,
		options?: { adminReads?: boolean }
	): Promise<T>;
}

/** A listing's query scoped to the caller: an admin sees every owner's documents. */
export function ownedBy(user: AuthUser, query: Record<string, unknown> = {}) {
	return user.role === "admin" ? query : { ...query, userId: user.id };
}

/**
 * A listing's sort with `_id` last (in the direction of the last key): documents that tie on the
 * sort keys (created in the same millisecond, say) keep one order from page to page, so paging
 * through shows each exactly once. Ids are time-ordered (platform/persistence/ids.ts), so ties also come in the
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

/** True when an insert failed on a unique index (SQLite or MongoDB). */
export function isDuplicateKeyError(err: unknown): boolean {
	const e = err as { errorType?: string; code?: number } | null;
	return e?.errorType === "uniqueViolated" || e?.code === 11000;
}

/** The SQLite database of a service in this process (its stores' tables share it). */
export function openServiceDatabase(
	service: string,
	logger?: SqliteOptions["logger"]
): SqliteDatabase {
	const { sqlite, dataDir } = settings();
	return new SqliteDatabase({
		file: sqlite.inMemory ? ":memory:" : path.join(dataDir, `${service}.sqlite`),
		synchronous: sqlite.synchronous,
		busyTimeoutMs: sqlite.busyTimeoutMs,
		fenceStoppedMs: sqlite.fenceStoppedMs,
		checkpointMs: sqlite.checkpointMs,
		logger,
		groupCommit: sqlite.groupCommit
	});
}

function newAdapter(service: string, collection: string, database?: SqliteDatabase): Store {
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
	return new SqliteAdapter(database!, collection) as unknown as Store;
}

/**
 * Data of an earlier version (NeDB, DATA_DIR/<service>/<collection>.db) is never read silently as
 * empty: the process stops and names the command that imports it.
 */
export function nedbLeftovers(dataDir: string, service: string): string[] {
	const dir = path.join(dataDir, service);
	try {
		return fs
			.readdirSync(dir)
			.filter(f => f.endsWith(".db"))
			.map(f => path.join(dir, f));
	} catch {
		return [];
	}
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

/** Create the indexes a store lacks (each adapter's own call; an existing index is kept). */
export async function ensureIndexes(store: Store, indexes: IndexSpec[]): Promise<void> {
	for (const idx of indexes) {
		if (store.collection) {
			await store.collection.createIndex(
				{ [idx.field]: 1 },
				{ unique: Boolean(idx.unique), sparse: Boolean(idx.sparse) }
			);
		} else {
			await store.ensureIndex!(idx);
		}
	}
}

/**
 * Whether an insert failed because the `_id` it gave (`id`, as a string) was taken. SQLite names
 * only one of the unique indexes a document violates, so the id itself is looked up.
 */
async function idWasTaken(store: Store, err: unknown, id: string): Promise<boolean> {
	if (!isDuplicateKeyError(err)) return false;
	const e = err as { code?: number; keyValue?: any };
	if (e.code === 11000) return e.keyValue?._id !== undefined && String(e.keyValue._id) === id;
	return (await store.findById(id)) != null;
}

export function DbMixin(options: DbMixinOptions = {}): Partial<ServiceSchema<any>> {
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
			if (!cfg.mongoUri) {
				const left = cfg.sqlite.inMemory ? [] : nedbLeftovers(cfg.dataDir, service);
				if (left.length)
					throw new Error(
						`${path.join(cfg.dataDir, service)} holds NeDB data of an earlier version: ` +
							`run \`npm run import:nedb\` (DATA_DIR=${cfg.dataDir}) to move it into SQLite`
					);
				this.database = openServiceDatabase(service, this.logger);
			}
			// Announced to the cluster, so instances of one service can tell whether they share data.
			Object.assign(this.metadata, {
				store: cfg.mongoUri ? "mongodb" : cfg.sqlite.inMemory ? "memory" : "sqlite",
				dataHost: os.hostname(),
				dataFile: this.database?.options.file
			});

			this.schema.collection = options.collection ?? service;
			this.adapter = newAdapter(service, this.schema.collection, this.database);
			// moleculer-db reads `this.schema.adapter` in its own created(), which runs before ours
			this.adapter.init(this.broker, this);

			this.stores = {} as Record<string, Store>;
			for (const name of Object.keys(options.stores ?? {})) {
				const store = newAdapter(service, name, this.database);
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
				// Two instances starting together on one database: the second meets the first's seed.
				await this.seedDB().catch((err: unknown) => {
					if (!isDuplicateKeyError(err)) throw err;
				});
			}
		},

		async stopped(this: any) {
			for (const store of Object.values<Store>(this.stores ?? {})) await store.disconnect();
			await this.adapter?.disconnect();
			await this.database?.close();
		},

		/**
		 * moleculer-db broadcasts `cache.clean.<service>` on every change (and cleans its own node's
		 * cacher first): every other instance of the service drops its cached answers. Only the
		 * service itself listens, so the broadcast does not reach the nodes of other services.
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
			 * Instances of a service share data through one MongoDB, or one SQLite file on one host.
			 * Another instance with an in-memory database, or on another host or file without
			 * MongoDB, has different data: say so loudly (once per peer).
			 */
			warnIfForked(this: any) {
				if (this.metadata.store === "mongodb") return;
				this.forkWarned ??= new Set<string>();
				const peers = this.broker.registry
					.getServiceList({ onlyAvailable: true, skipInternal: true, withActions: false })
					.filter((s: any) => s.name === this.name && s.nodeID !== this.broker.nodeID);
				for (const peer of peers) {
					if (this.forkWarned.has(peer.nodeID)) continue;
					const theirs = peer.metadata ?? {};
					const shared =
						this.metadata.store === "sqlite" &&
						theirs.store === "sqlite" &&
						theirs.dataHost === this.metadata.dataHost &&
						theirs.dataFile === this.metadata.dataFile;
					if (shared) continue;
					this.forkWarned.add(peer.nodeID);
					this.logger.error(
						`DATA FORK: another '${this.name}' instance runs on node '${peer.nodeID}' ` +
							`(${theirs.store ?? "?"} on ${theirs.dataHost ?? "?"}) while this one keeps its data in ` +
							`${this.metadata.dataFile ?? this.metadata.store} on ${this.metadata.dataHost}. ` +
							`Each has different data: run instances on one host with one DATA_DIR, or set MONGO_URI.`
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
						{ returnOriginal: false }
					);
					return res.value ?? null;
				}
				return store.updateOne!(query, update);
			},

			async insertWithNewId(store: Store, build: (id: string) => Record<string, unknown>) {
				for (let attempt = 1; ; attempt++) {
					const id = store.collection ? newObjectIdHex() : newId();
					const _id = store.collection ? store.stringToObjectID!(id) : id;
					try {
						return await store.insert({ _id, ...build(id) });
					} catch (err) {
						if (attempt >= 3 || !(await idWasTaken(store, err, id))) throw err;
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
			},

			async findOwned(
				this: any,
				store: Store,
				id: string,
				user: AuthUser | undefined,
				notFound: () => Error,
				{ adminReads = true }: { adminReads?: boolean } = {}
			) {
				const doc = user && (await store.findById(id).catch(() => null));
				const owned =
					doc && (doc.userId === user.id || (adminReads && user.role === "admin"));
				if (!owned) throw notFound();
				return store.entityToObject(doc);
			}
		}
	};
}
