/**
 * moleculer-web's HTTP handler (`api.rest`) is called directly for every request: a circuit
 * breaker on it would count the failures of every routed service against the gateway itself,
 * and a bulkhead on it would hold every route back behind one slow service.
 */
import { Errors } from "moleculer";
import { startSystem, type System } from "../../helpers/system";

let sys: System;
const opened: { action?: string }[] = [];

beforeAll(async () => {
	sys = await startSystem([
		{
			// inventory's product read, failing every time
			name: "inventory",
			actions: {
				getProduct() {
					throw new Errors.MoleculerServerError("boom", 500, "BOOM");
				}
			}
		},
		{
			name: "breaker-watch",
			events: {
				"$circuit-breaker.opened"(ctx: { params: { action?: string } }) {
					opened.push(ctx.params);
				}
			}
		}
	]);
});
afterAll(() => sys.stop());

it("opens no breaker on the gateway's own handler when a routed service fails", async () => {
	const answers: number[] = [];
	for (let i = 0; i < 12; i++) answers.push((await sys.http.get("/api/products/p1")).status);
	// 500 until the failing action's breaker opens (5 calls, all failed), then 503 at once.
	expect(answers).toEqual([...Array(5).fill(500), ...Array(7).fill(503)]);
	expect(opened.map(o => o.action)).not.toContain("api.rest");
	// The failing action's own breaker is what opens.
	expect(opened.map(o => o.action)).toContain("inventory.getProduct");
});

it("answers with the request id: the client's own, or a new one", async () => {
	const own = await sys.http.get("/api/products/p1").set("X-Request-ID", "req-42");
	expect(own.headers["x-request-id"]).toBe("req-42");
	const fresh = await sys.http.get("/api/health");
	expect(fresh.headers["x-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
});

describe("with a slow service", () => {
	let slowSys: System;
	let release: () => void = () => undefined;
	const held = new Promise<void>(resolve => (release = resolve));

	beforeAll(async () => {
		slowSys = await startSystem([
			{
				name: "inventory",
				actions: {
					// The product list hangs until released; a product answers at once.
					async listProducts() {
						await held;
						return [];
					},
					getProduct: (ctx: { params: { id: string } }) => ({ id: ctx.params.id })
				}
			}
		]);
	});
	afterAll(() => {
		release();
		return slowSys.stop();
	});

	it("answers other routes while more requests than a bulkhead holds wait on it", async () => {
		// More than BULKHEAD_CONCURRENCY (64) requests waiting on the slow action.
		const waiting = Array.from({ length: 80 }, () =>
			slowSys.http.get("/api/products").then(res => res.status)
		);
		await new Promise(resolve => setTimeout(resolve, 200));

		const within = <T>(p: Promise<T>) =>
			Promise.race([p, new Promise(resolve => setTimeout(() => resolve("no answer"), 3000))]);
		expect(await within(slowSys.http.get("/api/health").then(res => res.status))).toBe(200);
		expect(await within(slowSys.http.get("/api/products/p1").then(res => res.body))).toEqual({
			id: "p1"
		});

		release();
		expect(await Promise.all(waiting)).toEqual(Array(80).fill(200));
	});
});
