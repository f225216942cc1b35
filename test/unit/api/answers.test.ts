/**
 * The gateway writes the answers of routed actions after the poll phase, together with the
 * others of the same event-loop turn (platform/messaging/coalesce.ts), and an answer that cannot be written is
 * still answered: as a shaped 500, the gateway serving on.
 */
import { IncomingMessage, ServerResponse } from "node:http";
import { Socket } from "node:net";
import type { Service } from "moleculer";
import { nextTurn } from "../../../platform/messaging/fair-scheduling";
import { INTERNAL_ERROR_BODY, startSystem, type System } from "../../helpers/system";

let sys: System;

beforeAll(async () => {
	sys = await startSystem([
		{
			name: "inventory",
			actions: {
				getProduct(ctx: { params: { id: string } }) {
					if (ctx.params.id !== "loop") return { id: ctx.params.id };
					const product: Record<string, unknown> = { id: "loop" };
					product.self = product; // cannot be serialized
					return product;
				}
			}
		}
	]);
});
afterAll(() => sys.stop());

function exchange() {
	const req = Object.assign(new IncomingMessage(new Socket()), {
		method: "GET",
		url: "/api/products/p1",
		$ctx: { meta: {} },
		$route: {}
	});
	return { req, res: new ServerResponse(req) };
}

it("writes the answers of one turn after it, in the order they were given", async () => {
	const api = sys.broker.getLocalService("api") as Service & {
		sendResponse(req: unknown, res: unknown, data: unknown): void;
	};
	const ended: string[] = [];
	const [a, b] = [exchange(), exchange()];
	for (const [name, { res }] of [
		["a", a],
		["b", b]
	] as const) {
		const end = res.end.bind(res) as (...args: unknown[]) => unknown;
		res.end = ((...args: unknown[]) => {
			ended.push(name);
			return end(...args);
		}) as never;
	}

	api.sendResponse(a.req, a.res, { id: "a" });
	api.sendResponse(b.req, b.res, { id: "b" });
	expect(ended).toEqual([]);
	await nextTurn();
	expect(ended).toEqual(["a", "b"]);
	expect(a.res.getHeader("Content-Type")).toBe("application/json; charset=utf-8");
});

it("answers a result that cannot be serialized with a shaped 500, and serves on", async () => {
	const failed = await sys.http.get("/api/products/loop");
	expect(failed.status).toBe(500);
	expect(failed.body).toEqual(INTERNAL_ERROR_BODY);
	expect(failed.headers["x-content-type-options"]).toBe("nosniff");

	const next = await sys.http.get("/api/products/p2");
	expect(next.status).toBe(200);
	expect(next.body).toEqual({ id: "p2" });
});
