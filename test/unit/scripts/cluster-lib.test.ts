import { RESTART_LIMIT, shouldRestart } from "../../../scripts/cluster-lib";

describe("shouldRestart (npm run cluster's supervision)", () => {
	const limit = { exits: 3, windowMs: 10_000 };

	it("starts a node again after its first exits", () => {
		expect(shouldRestart([1000], limit)).toBe(true);
		expect(shouldRestart([1000, 2000], limit)).toBe(true);
	});

	it("gives up on the limit-th exit within the window: a crash loop", () => {
		expect(shouldRestart([1000, 2000, 3000], limit)).toBe(false);
	});

	it("counts only the exits within the window before the last one", () => {
		expect(shouldRestart([1000, 2000, 12_500], limit)).toBe(true);
		expect(shouldRestart([1000, 2000, 12_500, 13_000], limit)).toBe(true);
		expect(shouldRestart([1000, 2000, 12_500, 13_000, 14_000], limit)).toBe(false);
	});

	it("defaults to 5 exits within 60 s", () => {
		expect(RESTART_LIMIT).toEqual({ exits: 5, windowMs: 60_000 });
		expect(shouldRestart([0, 1, 2, 3], RESTART_LIMIT)).toBe(true);
		expect(shouldRestart([0, 1, 2, 3, 4])).toBe(false);
	});
});
