/**
 * moleculer-web's HTTP handler (`api.rest`) is called directly for every request: a circuit
 * breaker on it would count the failures of every routed service against the gateway itself.
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
