import http from "node:http";
import OpsService from "../../services/api/ops/ops.service";
import { OPS_CSP } from "../../services/api/ops-console";
import { bearer, startSystem, type System } from "../helpers/system";

describe("the operator console's routes", () => {
	let sys: System;
	beforeAll(async () => {
		sys = await startSystem([OpsService as never]);
	});
	afterAll(() => sys.stop());

	it("serves the page to anyone, under the strict CSP, and only its listed assets", async () => {
		const page = await sys.http.get("/api/ops");
		expect(page.status).toBe(200);
		expect(page.headers["content-security-policy"]).toBe(OPS_CSP);
		expect(page.text).toContain('src="/api/ops/assets/uPlot.iife.min.js"');
		const js = await sys.http.get("/api/ops/assets/uPlot.iife.min.js");
		expect(js.status).toBe(200);
		expect(js.headers["content-type"]).toMatch(/javascript/);
		const other = await sys.http.get("/api/ops/assets/..%2Fops.service.ts");
		expect(other.status).toBe(404);
		expect(other.body.type).toBe("NOT_FOUND");
	});

	it("answers the data 401 without a token and 403 to a customer", async () => {
		const none = await sys.http.get("/api/ops/snapshot");
		expect(none.status).toBe(401);
		expect(none.body.type).toBe("UNAUTHORIZED");
		const customer = await sys.customer();
		for (const url of ["/api/ops/snapshot", "/api/ops/stream"]) {
			const res = await sys.http.get(url).set(bearer(customer.token));
			expect(res.status).toBe(403);
			expect(res.body.type).toBe("FORBIDDEN");
		}
	});

	it("gives an admin the snapshot of the system", async () => {
		const admin = await sys.admin();
		const res = await sys.http.get("/api/ops/snapshot").set(bearer(admin.token));
		expect(res.status).toBe(200);
		expect(res.body.services.map((s: { name: string }) => s.name)).toEqual(
			expect.arrayContaining(["api", "ops", "users"])
		);
	});

	it("streams snapshots to an admin as Server-Sent Events, and ends the stream when the gateway drains", async () => {
		const admin = await sys.admin();
		const api = sys.broker.getLocalService("api") as any;
		const res = await new Promise<http.IncomingMessage>((resolve, reject) =>
			http
				.get(
					`http://127.0.0.1:${api.listening.port}/api/ops/stream`,
					{ headers: bearer(admin.token) },
					resolve
				)
				.on("error", reject)
		);
		expect(res.statusCode).toBe(200);
		expect(res.headers["content-type"]).toMatch(/^text\/event-stream/);
		res.setEncoding("utf8");
		let text = "";
		const ended = new Promise(resolve => res.on("end", resolve));
		await new Promise<void>(resolve =>
			res.on("data", chunk => {
				text += chunk;
				if (text.includes("\n\n")) resolve();
			})
		);
		expect(text).toMatch(/^event: snapshot\ndata: \{/);
		expect(JSON.parse(text.split("\n")[1].slice(6)).nodes.length).toBe(1);
		api.draining = true; // what drain() sets first, without closing this test's server
		await ended;
		api.draining = false;
	});
});
