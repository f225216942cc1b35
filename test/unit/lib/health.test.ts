import type { AddressInfo } from "node:net";
import { ServiceBroker } from "moleculer";
import { nodeReadiness, startHealthServer } from "../../../lib/health";

async function get(port: number, path: string) {
	const res = await fetch(`http://127.0.0.1:${port}${path}`);
	return { status: res.status, body: (await res.json()) as any };
}

describe("per-node health endpoint", () => {
	it("is live at once and ready only when started with every dependency reachable", async () => {
		const broker = new ServiceBroker({ logger: false });
		broker.createService({ name: "needy", dependencies: ["helper"], actions: {} });
		const server = await startHealthServer(broker, 0, "127.0.0.1");
		const port = (server.address() as AddressInfo).port;
		try {
			expect(await get(port, "/live")).toMatchObject({ status: 200, body: { status: "ok" } });
			expect((await get(port, "/ready")).status).toBe(503);

			broker.createService({ name: "helper" });
			await broker.start();
			const ready = await get(port, "/ready");
			expect(ready.status).toBe(200);
			expect(ready.body).toMatchObject({
				ready: true,
				transporter: "none",
				missingDependencies: []
			});
			expect(ready.body.services).toEqual(expect.arrayContaining(["needy", "helper"]));
			expect((await get(port, "/nope")).status).toBe(404);
		} finally {
			server.close();
			await broker.stop();
		}
	});

	it("names the missing dependencies", async () => {
		const broker = new ServiceBroker({ logger: false });
		const svc = broker.createService({ name: "lonely", dependencies: ["ghost"] });
		expect(svc).toBeDefined();
		expect(nodeReadiness(broker)).toMatchObject({
			ready: false,
			started: false,
			missingDependencies: ["ghost"]
		});
	});
});
