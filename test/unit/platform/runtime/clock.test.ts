import { nowIso } from "../../../../platform/runtime/clock";

afterEach(() => jest.useRealTimers());

it("is the current time as an ISO string", () => {
	const before = Date.now();
	const iso = nowIso();
	expect(iso).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
	expect(Date.parse(iso)).toBeGreaterThanOrEqual(before);
	expect(Date.parse(iso)).toBeLessThanOrEqual(Date.now());
});

it("follows the clock from one millisecond to the next", () => {
	jest.useFakeTimers({ now: Date.UTC(2026, 11, 2, 9, 30, 0, 999) });
	expect(nowIso()).toBe("2026-12-02T09:30:00.999Z");
	expect(nowIso()).toBe("2026-12-02T09:30:00.999Z");
	jest.advanceTimersByTime(1);
	expect(nowIso()).toBe("2026-12-02T09:30:01.000Z");
	jest.setSystemTime(Date.UTC(2025, 0, 1)); // and backwards, as a corrected clock may go
	expect(nowIso()).toBe("2025-01-01T00:00:00.000Z");
});
