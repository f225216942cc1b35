import { ServiceBroker } from "moleculer";
import { faultInjection } from "../../../../platform/runtime/fault-injection";

describe("fault injection", () => {
	let kill: jest.SpyInstance;
	beforeEach(() => {
		kill = jest.spyOn(process, "kill").mockImplementation(() => true);
	});
	afterEach(() => kill.mockRestore());

	it("is absent unless a switch is set, and always in production", () => {
		expect(faultInjection({})).toEqual([]);
		expect(
			faultInjection({ NODE_ENV: "production", ORDERS_FAULT_BEFORE_STEP: "capture" })
		).toEqual([]);
		expect(() => faultInjection({ ORDERS_FAULT_BEFORE_STEP: "captur" })).toThrow(/captur/);
		expect(() => faultInjection({ PAYMENTS_FAULT_AFTER_OPERATION: "x" })).toThrow(/'x'/);
		for (const bad of ["capture", "capture:", "captur:100", "capture:-5"])
			expect(() => faultInjection({ ORDERS_DELAY_BEFORE_STEP: bad })).toThrow(bad);
	});

	it("holds the saga's call of the step, in the orders process only", async () => {
		const broker = new ServiceBroker({
			logger: false,
			middlewares: faultInjection({ ORDERS_DELAY_BEFORE_STEP: "capture:150" })
		});
		broker.createService({ name: "orders" });
		broker.createService({
			name: "payments",
			actions: { authorize: () => "authorized", capture: () => "captured" }
		});
		await broker.start();
		try {
			const timed = async (action: string) => {
				const t0 = Date.now();
				expect(await broker.call(action)).toBe(action.split(".")[1] + "d");
				return Date.now() - t0;
			};
			expect(await timed("payments.authorize")).toBeLessThan(100);
			expect(await timed("payments.capture")).toBeGreaterThanOrEqual(145);
		} finally {
			await broker.stop();
		}
		expect(kill).not.toHaveBeenCalled();
	});

	it("kills the orders process as its saga calls the step, before the call leaves", async () => {
		const reached: string[] = [];
		const broker = new ServiceBroker({
			logger: false,
			middlewares: faultInjection({ ORDERS_FAULT_BEFORE_STEP: "capture" })
		});
		broker.createService({ name: "orders" });
		broker.createService({
			name: "payments",
			actions: {
				authorize: () => reached.push("authorize"),
				capture: () => reached.push("capture")
			}
		});
		await broker.start();
		try {
			await broker.call("payments.authorize");
			expect(() => broker.call("payments.capture")).toThrow(/killed/);
			expect(reached).toEqual(["authorize"]);
			expect(kill).toHaveBeenCalledWith(process.pid, "SIGKILL");
		} finally {
			await broker.stop();
		}
	});

	it("kills the payments process when the processor is asked for the operation", async () => {
		const broker = new ServiceBroker({
			logger: false,
			middlewares: faultInjection({ PAYMENTS_FAULT_AFTER_OPERATION: "void" })
		});
		const service: any = broker.createService({
			name: "payments",
			created(this: any) {
				this.processor = { capture: () => "captured", void: () => "voided" };
			}
		});
		expect(service.processor.capture()).toBe("captured");
		expect(kill).not.toHaveBeenCalled();
		expect(() => service.processor.void()).toThrow(/killed/);
		expect(kill).toHaveBeenCalledWith(process.pid, "SIGKILL");
	});
});
