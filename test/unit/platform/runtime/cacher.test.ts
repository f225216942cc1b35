/**
 * The scoped memory cacher cleans exactly what moleculer's memory cacher cleans, looking only at
 * the keys of the pattern's service when the pattern names one.
 */
import { Cachers, ServiceBroker, Utils } from "moleculer";
import { SCOPED_MEMORY_CACHER, ScopedMemoryCacher } from "../../../../platform/runtime/cacher";

const brokers: ServiceBroker[] = [];
function cacherOf(type: string): any {
	const broker = new ServiceBroker({ logger: false, cacher: { type } as any });
	brokers.push(broker);
	return broker.cacher;
}
afterAll(() => Promise.all(brokers.map(b => b.stop())));

const keysOf = async (cacher: any) =>
	((await cacher.getCacheKeys()) as { key: string }[]).map(k => k.key).sort();

/** Action cache keys of several services, as moleculer writes them. */
const KEYS = [
	"users.resolveSession:u1|0",
	"users.resolveSession:u2|0",
	"users.contact:u1",
	"inventory.getProduct:p1",
	"inventory.getProduct:p2",
	"inventory.listProducts:1|20",
	"inventory.shipments.get:s1",
	"inventoryx.get:1",
	"orders.get:o1",
	"plain-key",
	"v2.orders.get:o1"
];

describe("the scoped memory cacher", () => {
	it("is what CACHER=Memory resolves to, one instance per broker", () => {
		const a = cacherOf(SCOPED_MEMORY_CACHER);
		const b = cacherOf(SCOPED_MEMORY_CACHER);
		expect(a).toBeInstanceOf(ScopedMemoryCacher);
		expect(a).toBeInstanceOf(Cachers.Memory);
		expect(a).not.toBe(b);
	});

	it.each([
		"inventory.**",
		"inventory.*",
		"inventory.getProduct:*",
		"inventory.getProduct:p1",
		"users.resolveSession:u?*",
		"orders.**",
		"v2.**",
		"nothing.**",
		"**",
		"*.getProduct:*",
		"inv*.**",
		"plain-key",
		"users"
	])("cleans what the memory cacher cleans: %s", async pattern => {
		const scoped = cacherOf(SCOPED_MEMORY_CACHER);
		const memory = cacherOf("Memory");
		for (const c of [scoped, memory]) {
			for (const key of KEYS) await c.set(key, { key });
			await c.clean(pattern);
		}
		expect(await keysOf(scoped)).toEqual(await keysOf(memory));
		for (const key of await keysOf(scoped)) expect(await scoped.get(key)).toEqual({ key });
	});

	it("cleans several patterns at once, as the memory cacher does", async () => {
		const scoped = cacherOf(SCOPED_MEMORY_CACHER);
		const memory = cacherOf("Memory");
		for (const c of [scoped, memory]) {
			for (const key of KEYS) await c.set(key, { key });
			await c.clean(["inventory.getProduct:*", "users.**"]);
		}
		expect(await keysOf(scoped)).toEqual(await keysOf(memory));
		expect(await keysOf(scoped)).toContain("inventory.listProducts:1|20");
	});

	it("looks only at the keys of the service a pattern names", async () => {
		const scoped = cacherOf(SCOPED_MEMORY_CACHER);
		for (let i = 0; i < 1000; i++) await scoped.set(`users.resolveSession:u${i}|0`, i);
		await scoped.set("inventory.getProduct:p1", 1);
		const match = jest.spyOn(Utils, "match");
		try {
			await scoped.clean("inventory.**");
			expect(match).toHaveBeenCalledTimes(1);
		} finally {
			match.mockRestore();
		}
		expect(await scoped.get("inventory.getProduct:p1")).toBeUndefined();
		expect(await scoped.get("users.resolveSession:u7|0")).toBe(7);
	});

	it("forgets keys that expire, are deleted or cleaned", async () => {
		const scoped = cacherOf(SCOPED_MEMORY_CACHER);
		await scoped.set("inventory.a:1", 1, 0.001);
		await scoped.set("inventory.b:1", 1, 0.001);
		await scoped.set("orders.get:1", 1);
		await scoped.set("users.get:1", 1);
		await new Promise(r => setTimeout(r, 10));
		expect(await scoped.get("inventory.a:1")).toBeUndefined(); // expired on read
		scoped.checkTTL(); // expired by the timer
		await scoped.del("orders.get:1");
		await scoped.clean("users.**");
		expect([...scoped.cache.bySegment.keys()]).toEqual([]);
		expect(scoped.cache.size).toBe(0);
	});

	it("serves a cached action and drops it when its service cleans", async () => {
		const broker = new ServiceBroker({
			logger: false,
			cacher: { type: SCOPED_MEMORY_CACHER } as any
		});
		brokers.push(broker);
		let calls = 0;
		broker.createService({
			name: "catalog",
			actions: { get: { cache: true, handler: () => ++calls } }
		});
		await broker.start();
		expect(await broker.call("catalog.get", { id: 1 })).toBe(1);
		expect(await broker.call("catalog.get", { id: 1 })).toBe(1);
		await broker.cacher!.clean("catalog.**");
		expect(await broker.call("catalog.get", { id: 1 })).toBe(2);
	});
});
