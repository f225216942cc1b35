/**
 * Fair scheduling: a call from one local service to another starts from the event loop (as a hop
 * over the network would), so pending I/O runs first; a request from outside starts at once.
 */
import { ServiceBroker, type Context } from "moleculer";
import {
	FROM_IO,
	FairSchedulingMiddleware,
	isNestedLocalCall
} from "../../../../platform/messaging/fair-scheduling";

let broker: ServiceBroker;
let seen: string[] = [];

beforeAll(async () => {
	broker = new ServiceBroker({ logger: false, middlewares: [FairSchedulingMiddleware()] });
	broker.createService({
		name: "front",
		actions: {
			order(ctx: Context) {
				// Stands for I/O that became ready while this handler ran.
				setImmediate(() => seen.push("pending I/O"));
				return ctx.call("back.work");
			}
		}
	});
	broker.createService({
		name: "back",
		actions: {
			work() {
				seen.push("back.work");
				return "done";
			}
		}
	});
	await broker.start();
});

afterAll(() => broker.stop());
beforeEach(() => (seen = []));

it("lets pending I/O run before a nested local call starts", async () => {
	expect(await broker.call("front.order")).toBe("done");
	expect(seen).toEqual(["pending I/O", "back.work"]);
});

it("starts a call from outside (gateway socket, transporter) at once", async () => {
	setImmediate(() => seen.push("pending I/O"));
	expect(await broker.call("back.work")).toBe("done");
	expect(seen[0]).toBe("back.work");
});

it("tells nested local calls from remote and top-level ones", () => {
	const ctx = (level: number, nodeID: string, options = {}) =>
		({ level, nodeID, options }) as Context;
	expect(isNestedLocalCall(ctx(2, "here"), "here")).toBe(true);
	// The gateway's call for an HTTP request: it came from the socket.
	expect(isNestedLocalCall(ctx(2, "here", { [FROM_IO]: true }), "here")).toBe(false);
	expect(isNestedLocalCall(ctx(1, "here"), "here")).toBe(false);
	expect(isNestedLocalCall(ctx(2, "elsewhere"), "here")).toBe(false);
});
