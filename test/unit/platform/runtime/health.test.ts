import type { AddressInfo } from "node:net";
import { ServiceBroker } from "moleculer";
import { nodeReadiness, startHealthServer } from "../../../../platform/runtime/health";

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

describe("per-node readiness follows the services' lifecycle", () => {
	it("stays unready until every local service has started (its DB connected)", async () => {
		const broker = new ServiceBroker({ logger: false });
		let connect!: () => void;
		const connected = new Promise<void>(resolve => (connect = resolve));
		// Like moleculer-db: started() resolves once the database connection is up.
		broker.createService({ name: "store", started: () => connected });
		broker.createService({ name: "quick" });
		const starting = broker.start();
		try {
			await new Promise(r => setTimeout(r, 50));
			expect(nodeReadiness(broker)).toMatchObject({
				ready: false,
				started: false,
				missingDependencies: []
			});
			connect();
			await starting;
			expect(nodeReadiness(broker)).toMatchObject({ ready: true, started: true });
		} finally {
			connect();
			await starting.catch(() => undefined);
			await broker.stop();
		}
	});

	it("waits for a dependency hosted on another node before it is ready", async () => {
		const broker = new ServiceBroker({ logger: false, dependencyInterval: 20 });
		broker.createService({ name: "orders", dependencies: ["inventory"] });
		const starting = broker.start();
		try {
			await new Promise(r => setTimeout(r, 50));
			expect(nodeReadiness(broker)).toMatchObject({
				ready: false,
				missingDependencies: ["inventory"]
			});
			broker.createService({ name: "inventory" });
			await starting;
			expect(nodeReadiness(broker)).toMatchObject({ ready: true, missingDependencies: [] });
		} finally {
			await starting.catch(() => undefined);
			await broker.stop();
		}
	});

	it("turns unready as soon as the node begins to stop", async () => {
		const broker = new ServiceBroker({ logger: false });
		let release!: () => void;
		const draining = new Promise<void>(resolve => (release = resolve));
		broker.createService({ name: "slow", stopped: () => draining });
		await broker.start();
		expect(nodeReadiness(broker).ready).toBe(true);
		const stopping = broker.stop();
		try {
			expect(nodeReadiness(broker)).toMatchObject({ ready: false, started: false });
		} finally {
			release();
			await stopping;
		}
	});
});
