import { ServiceBroker, type Context } from "moleculer";
import {
	jsonLogFormatter,
	printObject,
	RequestLogContextMiddleware
} from "../../../../platform/runtime/logging";

describe("structured JSON logs", () => {
	let broker: ServiceBroker | undefined;
	let lines: string[];
	let spies: jest.SpyInstance[];

	beforeEach(() => {
		lines = [];
		spies = (["log", "warn", "error"] as const).map(m =>
			jest.spyOn(console, m).mockImplementation((...args: unknown[]) => {
				lines.push(args.join(" "));
			})
		);
	});
	afterEach(async () => {
		await broker?.stop();
		spies.forEach(s => s.mockRestore());
	});

	function start() {
		broker = new ServiceBroker({
			nodeID: "node-1",
			logger: {
				type: "Console",
				options: {
					level: "info",
					colors: false,
					formatter: jsonLogFormatter,
					objectPrinter: printObject
				}
			},
			middlewares: [RequestLogContextMiddleware()]
		});
		broker.createService({
			name: "orders",
			actions: {
				async place(this: any, ctx: Context) {
					this.logger.info("placing", { items: 2 });
					await new Promise(r => setTimeout(r, 5)); // the scope survives awaits
					await ctx.call("payments.charge");
					await ctx.emit("order.confirmed", { orderId: "o1" });
					this.logger.warn("placed");
					return "ok";
				}
			}
		});
		broker.createService({
			name: "payments",
			actions: {
				charge(this: any) {
					this.logger.error("charging failed once", new Error("card reader on fire"));
					return true;
				}
			},
			events: {
				"order.confirmed"(this: any) {
					this.logger.info("confirmed event seen");
				}
			}
		});
		return broker;
	}

	const parsed = () =>
		lines.map(l => {
			try {
				return JSON.parse(l) as Record<string, any>;
			} catch {
				throw new Error(`not one JSON object: ${l}`);
			}
		});
	const byMsg = (msg: string) => parsed().find(l => String(l.msg).startsWith(msg));

	it("writes one JSON object per line with the request id of the handled call", async () => {
		const b = start();
		await b.start();
		await b.call("orders.place", {}, { requestID: "req-42" });
		await new Promise(r => setTimeout(r, 20));

		expect(byMsg("placing")).toMatchObject({
			level: "info",
			nodeID: "node-1",
			mod: "orders",
			requestID: "req-42",
			action: "orders.place"
		});
		expect(byMsg("placing")!.msg).toContain("items: 2");
		expect(byMsg("placed")).toMatchObject({ level: "warn", requestID: "req-42" });
		// Nested call and the event it led to keep the same request id.
		const failed = byMsg("charging failed once")!;
		expect(failed).toMatchObject({ requestID: "req-42", action: "payments.charge" });
		expect(failed.msg).toContain("card reader on fire");
		expect(byMsg("confirmed event seen")).toMatchObject({
			requestID: "req-42",
			event: "order.confirmed"
		});
		// Outside any handler there is no request id.
		const startedLine = parsed().find(l => l.mod === "broker" && /started/.test(l.msg));
		expect(startedLine).toBeDefined();
		expect(startedLine!.requestID).toBeUndefined();
	});

	it("formats without a broker too (no context: no request id)", () => {
		const [line] = jsonLogFormatter("info", ["hello", { a: 1 }], { nodeID: "n", mod: "x" });
		expect(JSON.parse(line)).toMatchObject({ level: "info", msg: "hello { a: 1 }", mod: "x" });
		expect(JSON.parse(line).requestID).toBeUndefined();
	});
});
