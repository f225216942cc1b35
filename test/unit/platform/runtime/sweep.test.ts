import { startSweep } from "../../../../platform/runtime/sweep";

describe("startSweep", () => {
	beforeEach(() => jest.useFakeTimers());
	afterEach(() => jest.useRealTimers());

	it("runs a round every interval, logs a failed one and goes on", async () => {
		const warn = jest.fn();
		let n = 0;
		const round = jest.fn(async () => {
			if (++n === 2) throw new Error("db down");
			return n;
		});
		const timer = startSweep({ warn }, "Test sweep", 1000, round);
		try {
			await jest.advanceTimersByTimeAsync(999);
			expect(round).not.toHaveBeenCalled();
			await jest.advanceTimersByTimeAsync(2001);
			expect(round).toHaveBeenCalledTimes(3);
			expect(warn).toHaveBeenCalledTimes(1);
			expect(warn).toHaveBeenCalledWith("Test sweep failed:", "db down");
		} finally {
			clearInterval(timer);
		}
		await jest.advanceTimersByTimeAsync(5000);
		expect(round).toHaveBeenCalledTimes(3);
	});

	it("does not keep the process alive", () => {
		const timer = startSweep({ warn: jest.fn() }, "Test sweep", 1000, async () => undefined);
		try {
			expect(timer.hasRef()).toBe(false);
		} finally {
			clearInterval(timer);
		}
	});
});
