/**
 * The db mixin: indexes stay right when documents change in place, new ids are unique, caches
 * are cleaned across nodes, and owned documents are found only by their owner (or an admin).
 */
import { ServiceBroker, type ServiceSchema } from "moleculer";
import * as ids from "../../../../platform/persistence/ids";

jest.mock("../../../../platform/persistence/ids", () => {
	const actual = jest.requireActual("../../../../platform/persistence/ids");
	return { ...actual, newId: jest.fn(actual.newId) };
});
import {
	DbMixin,
	isDuplicateKeyError,
	ownedBy,
	withIdTiebreak
} from "../../../../platform/persistence/db.mixin";

let broker: ServiceBroker;
let svc: any;

beforeAll(async () => {
	broker = new ServiceBroker({ logger: false });
	svc = broker.createService({
		name: "ledger",
		mixins: [
			DbMixin({
				indexes: [
					{ field: "orderId", unique: true },
					{ field: "userId" },
					{ field: "key", unique: true, sparse: true }
				]
			})
		]
	} as ServiceSchema);
	await broker.start();
});

afterAll(() => broker.stop());

const byOrder = (orderId: string) => svc.adapter.findOne({ orderId });

describe("documents changed in place", () => {
	it("are found through every index with their new content", async () => {
		const doc = await svc.adapter.insert({ orderId: "o1", userId: "u1", n: 0 });
		for (let n = 1; n <= 5; n++)
			await svc.updateOne(svc.adapter, { orderId: "o1" }, { $set: { n } });
		expect((await byOrder("o1")).n).toBe(5);
		expect((await svc.adapter.findOne({ _id: doc._id })).n).toBe(5);
		expect((await svc.adapter.find({ query: { userId: "u1" } })).map((d: any) => d.n)).toEqual([
			5
		]);
	});

	it("keep the other documents of a shared key", async () => {
		await svc.adapter.insert({ orderId: "o2", userId: "shared", n: 0 });
		await svc.adapter.insert({ orderId: "o3", userId: "shared", n: 0 });
		await svc.updateOne(svc.adapter, { orderId: "o2" }, { $set: { n: 2 } });
		await svc.updateOne(svc.adapter, { orderId: "o3" }, { $set: { n: 3 } });
		const rows = await svc.adapter.find({ query: { userId: "shared" }, sort: ["orderId"] });
		expect(rows.map((d: any) => [d.orderId, d.n])).toEqual([
			["o2", 2],
			["o3", 3]
		]);
	});

	it("move to their new key when the indexed field changes", async () => {
		await svc.adapter.insert({ orderId: "o4", userId: "u4" });
		await svc.updateOne(svc.adapter, { orderId: "o4" }, { $set: { userId: "u5" } });
		expect(await svc.adapter.find({ query: { userId: "u4" } })).toEqual([]);
		expect(
			(await svc.adapter.find({ query: { userId: "u5" } })).map((d: any) => d.orderId)
		).toEqual(["o4"]);
	});

	it("still refuse a unique key taken by another document, and change nothing", async () => {
		await svc.adapter.insert({ orderId: "o6", userId: "u6", n: 0 });
		await svc.adapter.insert({ orderId: "o7", userId: "u7", n: 0 });
		const err = await svc
			.updateOne(svc.adapter, { orderId: "o7" }, { $set: { orderId: "o6", n: 1 } })
			.catch((e: unknown) => e);
		expect(isDuplicateKeyError(err)).toBe(true);
		expect((await byOrder("o7")).n).toBe(0);
		expect((await byOrder("o6")).userId).toBe("u6");
	});

	it("enter and leave a sparse index as the field appears and disappears", async () => {
		await svc.adapter.insert({ orderId: "o8", userId: "u8" });
		await svc.updateOne(svc.adapter, { orderId: "o8" }, { $set: { key: "k8" } });
		expect((await svc.adapter.findOne({ key: "k8" })).orderId).toBe("o8");
		await svc.updateOne(svc.adapter, { orderId: "o8" }, { $unset: { key: true } });
		expect(await svc.adapter.findOne({ key: "k8" })).toBeNull();
	});

	it("change in place together in a multi-document update", async () => {
		await svc.adapter.insert({ orderId: "m1", userId: "multi", n: 0 });
		await svc.adapter.insert({ orderId: "m2", userId: "multi", n: 0 });
		expect(await svc.adapter.updateMany({ userId: "multi" }, { $inc: { n: 1 } })).toBe(2);
		const rows = await svc.adapter.find({ query: { userId: "multi" } });
		expect(rows.map((d: any) => d.n)).toEqual([1, 1]);
		expect((await byOrder("m1")).n).toBe(1);
	});
});

describe("new ids", () => {
	it("are unique, in time order, and of the form a route's id pattern accepts", async () => {
		const ids: string[] = [];
		for (let i = 0; i < 500; i++)
			ids.push(String((await svc.adapter.insert({ orderId: `id-${i}`, userId: "ids" }))._id));
		expect(new Set(ids).size).toBe(500);
		for (const id of ids) expect(id).toMatch(/^[0-9a-f]{28}$/);
		// The first 12 characters are the millisecond: never earlier than the id before.
		for (let i = 1; i < ids.length; i++)
			expect(ids[i].slice(0, 12) >= ids[i - 1].slice(0, 12)).toBe(true);
	});

	it("refuse a taken id given by the caller, and a taken key of another unique index", async () => {
		const taken = String((await svc.adapter.insert({ orderId: "first", userId: "u" }))._id);
		const refused = (doc: object) =>
			svc.adapter.insert(doc).then(
				() => "inserted",
				(err: unknown) => isDuplicateKeyError(err)
			);
		expect(await refused({ _id: taken, orderId: "third", userId: "u" })).toBe(true);
		expect(await refused({ orderId: "first", userId: "v" })).toBe(true);
		expect((await svc.adapter.findById(taken)).orderId).toBe("first");
	});

	it("are drawn before the insert for a document that names its own id, and drawn again if taken", async () => {
		const build = (id: string) => ({ orderId: `names-${id}`, userId: "self" });
		const doc = await svc.insertWithNewId(svc.adapter, build);
		expect(doc.orderId).toBe(`names-${doc._id}`);
		expect((await svc.adapter.findById(doc._id)).orderId).toBe(doc.orderId);

		const built: string[] = [];
		(ids.newId as jest.Mock).mockImplementationOnce(() => String(doc._id));
		{
			const next = await svc.insertWithNewId(svc.adapter, (id: string) => {
				built.push(id);
				return build(id);
			});
			expect(built).toEqual([String(doc._id), String(next._id)]);
			expect(next.orderId).toBe(`names-${next._id}`);
		}
		// Another unique key is refused, not drawn again.
		built.length = 0;
		const err = await svc
			.insertWithNewId(svc.adapter, (id: string) => {
				built.push(id);
				return { orderId: doc.orderId, userId: "self" };
			})
			.catch((e: unknown) => e);
		expect(isDuplicateKeyError(err)).toBe(true);
		expect(built).toHaveLength(1);
	});

	it("are kept when the caller gives one", async () => {
		const doc = await svc.adapter.insert({ _id: "shp_given", orderId: "given", userId: "u" });
		expect(doc._id).toBe("shp_given");
	});
});

describe("cache invalidation across nodes", () => {
	// Three nodes on moleculer's in-process Fake transporter: two instances of `shelf`, one `desk`.
	const brokers: ServiceBroker[] = [];
	let reads = 0;
	const shelf = (): ServiceSchema => ({
		name: "shelf",
		mixins: [DbMixin()],
		actions: {
			count: {
				cache: { keys: [], ttl: 30 },
				handler() {
					reads++;
					return reads;
				}
			},
			change: {
				handler(this: any) {
					return this.clearCache();
				}
			}
		}
	});

	beforeAll(async () => {
		const node = (nodeID: string) =>
			new ServiceBroker({
				namespace: "db-cache",
				nodeID,
				transporter: "Fake",
				cacher: "Memory",
				logger: false
			});
		const [a, b, c] = ["shelf-a", "shelf-b", "desk-c"].map(node);
		a.createService(shelf());
		b.createService(shelf());
		c.createService({ name: "desk", mixins: [DbMixin()] } as ServiceSchema);
		brokers.push(a, b, c);
		await Promise.all(brokers.map(br => br.start()));
		await Promise.all(brokers.map(br => br.waitForServices(["shelf", "desk"])));
	});

	afterAll(() => Promise.all(brokers.map(br => br.stop())));

	it("drops the cached answers of every instance of the changed service", async () => {
		const [a, b] = brokers;
		const onB = { nodeID: "shelf-b" };
		const first = await b.call("shelf.count", {}, onB);
		expect(await b.call("shelf.count", {}, onB)).toBe(first); // cached on shelf-b
		await a.call("shelf.change", {}, { nodeID: "shelf-a" });
		const fresh = async () => (await b.call("shelf.count", {}, onB)) !== first;
		for (let i = 0; i < 50 && !(await fresh()); i++) await new Promise(r => setTimeout(r, 10));
		expect(await b.call("shelf.count", {}, onB)).not.toBe(first);
	});

	it("reaches only the nodes that run the service", () => {
		const listeners = brokers[0].registry.events
			.getAllEndpoints("cache.clean.shelf")
			.map((ep: any) => ep.id)
			.sort();
		expect(listeners).toEqual(["shelf-a", "shelf-b"]);
	});
});

describe("withIdTiebreak", () => {
	it("ends a listing's sort with _id, in the direction of its last key", () => {
		expect(withIdTiebreak(["-createdAt"])).toEqual(["-createdAt", "-_id"]);
		expect(withIdTiebreak(["name"])).toEqual(["name", "_id"]);
		expect(withIdTiebreak(["status", "-createdAt"])).toEqual(["status", "-createdAt", "-_id"]);
		expect(withIdTiebreak([])).toEqual(["_id"]);
	});

	it("leaves a sort that already has _id as it is, without changing the caller's array", () => {
		const sort = ["-_id"];
		expect(withIdTiebreak(sort)).toEqual(["-_id"]);
		expect(withIdTiebreak(["_id", "name"])).toEqual(["_id", "name"]);
		const mine = ["-createdAt"];
		withIdTiebreak(mine);
		expect(mine).toEqual(["-createdAt"]);
	});
});

describe("owned documents", () => {
	const alice = { id: "alice", role: "customer" } as const;
	const admin = { id: "root", role: "admin" } as const;
	const missing = () => new Error("not found");

	it("are found by their owner and by an admin, and by no one else", async () => {
		const doc = await svc.adapter.insert({ orderId: "owned-1", userId: "alice" });
		const find = (user: any, options?: any) =>
			svc.findOwned(svc.adapter, doc._id, user, missing, options);
		expect((await find(alice)).orderId).toBe("owned-1");
		expect((await find(admin)).orderId).toBe("owned-1");
		await expect(find({ id: "bob", role: "customer" })).rejects.toThrow("not found");
		await expect(find(undefined)).rejects.toThrow("not found");
		await expect(find(admin, { adminReads: false })).rejects.toThrow("not found");
		await expect(svc.findOwned(svc.adapter, "no-such-id", alice, missing)).rejects.toThrow(
			"not found"
		);
	});

	it("scope a listing to the caller unless the caller is an admin", () => {
		expect(ownedBy(alice, { status: "x" })).toEqual({ status: "x", userId: "alice" });
		expect(ownedBy(admin, { status: "x" })).toEqual({ status: "x" });
	});
});
