import { newEventId, newId, newObjectIdHex } from "../../../../platform/persistence/ids";
import { IdParam } from "../../../../contracts/params";

afterEach(() => jest.useRealTimers());

const idPattern = new RegExp(IdParam.pattern);

describe("newId", () => {
	it("is 28 hex characters: the millisecond, then 64 random bits", () => {
		jest.useFakeTimers({ now: Date.UTC(2026, 11, 2, 9, 30, 0, 123) });
		const id = newId();
		expect(id).toMatch(/^[0-9a-f]{28}$/);
		expect(parseInt(id.slice(0, 12), 16)).toBe(Date.UTC(2026, 11, 2, 9, 30, 0, 123));
		expect(id.length).toBeLessThanOrEqual(IdParam.max);
		expect(id).toMatch(idPattern);
	});

	it("stays unique across refills of the random pool, within one millisecond", () => {
		jest.useFakeTimers({ now: Date.UTC(2026, 11, 2) });
		const ids = Array.from({ length: 5000 }, () => newId()); // 512 ids use up one pool
		expect(new Set(ids).size).toBe(ids.length);
		expect(new Set(ids.map(id => id.slice(12))).size).toBe(ids.length);
	});

	it("sorts an id made later after one made earlier", () => {
		jest.useFakeTimers({ now: Date.UTC(2026, 11, 2, 9, 30) });
		const ids: string[] = [];
		for (let i = 0; i < 50; i++) {
			ids.push(newId());
			jest.advanceTimersByTime(1 + (i % 3) * 997);
		}
		expect([...ids].sort()).toEqual(ids);
	});

	it("can start with a prefix", () => {
		const id = newId("shp_");
		expect(id).toMatch(/^shp_[0-9a-f]{28}$/);
		expect(id).toMatch(idPattern);
	});
});

describe("newObjectIdHex", () => {
	it("is a MongoDB ObjectId: the second in 4 bytes, then 8 random bytes", () => {
		jest.useFakeTimers({ now: Date.UTC(2026, 11, 2, 9, 30, 5, 999) });
		const id = newObjectIdHex();
		expect(id).toMatch(/^[0-9a-f]{24}$/);
		expect(parseInt(id.slice(0, 8), 16)).toBe(Date.UTC(2026, 11, 2, 9, 30, 5) / 1000);
		const ids = Array.from({ length: 2000 }, () => newObjectIdHex());
		expect(new Set(ids).size).toBe(ids.length);
	});
});

describe("newEventId", () => {
	it("is a UUID version 7 with the millisecond first", () => {
		jest.useFakeTimers({ now: Date.UTC(2026, 11, 2, 9, 30, 0, 456) });
		const id = newEventId();
		expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
		expect(parseInt(id.replace(/-/g, "").slice(0, 12), 16)).toBe(
			Date.UTC(2026, 11, 2, 9, 30, 0, 456)
		);
	});

	it("is unique, and ordered by time", () => {
		jest.useFakeTimers({ now: Date.UTC(2026, 11, 2) });
		const ids = Array.from({ length: 3000 }, () => newEventId());
		expect(new Set(ids).size).toBe(ids.length);
		jest.advanceTimersByTime(1);
		const later = newEventId();
		expect(ids.every(id => id < later)).toBe(true);
	});
});
