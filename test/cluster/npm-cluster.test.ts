/**
 * `npm run cluster` itself (scripts/cluster.ts), as issue 21's acceptance runs it:
 * INSTANCES=orders=2,inventory=2,payments=2 on one DATA_DIR serves orders with no DATA FORK; a
 * node killed with kill -9 is started again; SIGTERM stops every node it started.
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ServiceBroker } from "moleculer";
import { freePort, ROOT } from "../../scripts/cluster-lib";
import {
	api,
	bearer,
	CLUSTER_ADMIN,
	loginAdmin,
	Nats,
	newCustomer,
	newProduct,
	placeOrder,
	until,
	type Cluster
} from "../helpers/cluster";

jest.setTimeout(240_000);

let nats: Nats;
let dataDir: string;
let script: ChildProcess;
let out = "";
let observer: ServiceBroker | undefined;
let c: Cluster; // what the helpers use of a cluster: its gateway and its output
const started = new Set<number>();
let shopper: { token: string; productId: string };

/** The node processes the script runs now, by NODEID (read from /proc). */
function nodesOf(pid: number): Map<string, number> {
	const nodes = new Map<string, number>();
	for (const entry of fs.readdirSync("/proc")) {
		if (!/^\d+$/.test(entry)) continue;
		try {
			const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
			const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
			if (ppid !== pid) continue;
			const env = fs.readFileSync(`/proc/${entry}/environ`, "utf8").split("\0");
			const nodeID = env.find(v => v.startsWith("NODEID="))?.slice("NODEID=".length);
			if (nodeID) nodes.set(nodeID, Number(entry));
		} catch {
			// exited meanwhile
		}
	}
	return nodes;
}

const alive = (pid: number) => {
	try {
		process.kill(pid, 0);
		return true;
	} catch {
		return false;
	}
};

beforeAll(async () => {
	nats = await Nats.start();
	const port = await freePort();
	const namespace = `npm${process.pid}${Date.now().toString(36)}`;
	dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "shopmesh-npm-cluster-"));
	script = spawn(process.execPath, ["--import", "tsx", path.join(ROOT, "scripts/cluster.ts")], {
		cwd: ROOT,
		env: {
			...process.env,
			NODE_ENV: "test",
			LOGLEVEL: "warn",
			NATS_URL: nats.url,
			NAMESPACE: namespace,
			PORT: String(port),
			HOST: "127.0.0.1",
			DATA_DIR: dataDir,
			INSTANCES: "orders=2,inventory=2,payments=2",
			HEARTBEAT_INTERVAL: "1",
			HEARTBEAT_TIMEOUT: "4",
			RATE_LIMIT_MAX: "0",
			ADMIN_EMAIL: CLUSTER_ADMIN.email,
			ADMIN_PASSWORD: CLUSTER_ADMIN.password
		},
		stdio: ["ignore", "pipe", "pipe"]
	});
	const keep = (chunk: Buffer) => (out = (out + chunk.toString()).slice(-200_000));
	script.stdout!.on("data", keep);
	script.stderr!.on("data", keep);
	c = { base: `http://127.0.0.1:${port}/api`, logs: () => out } as unknown as Cluster;
	await until(c, "cluster: 9 nodes up", async () => out.includes("cluster: 9 nodes up"), 180_000);
	for (const pid of nodesOf(script.pid!).values()) started.add(pid);
	observer = new ServiceBroker({
		namespace,
		nodeID: `observer-${process.pid}`,
		transporter: { type: "NATS", options: { url: nats.url } },
		logger: false
	});
	await observer.start();
	const productId = await newProduct(c, await loginAdmin(c), 100);
	shopper = { token: (await newCustomer(c)).token, productId };
}, 240_000);

afterAll(async () => {
	await observer?.stop();
	if (script?.exitCode === null && script.signalCode === null) script.kill("SIGKILL");
	for (const pid of [...started, ...nodesOf(script?.pid ?? -1).values()])
		if (alive(pid)) process.kill(pid, "SIGKILL");
	await nats?.destroy();
	if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
});

it("serves orders from two instances each of orders, inventory and payments, with no DATA FORK", async () => {
	expect([...nodesOf(script.pid!).keys()].sort()).toEqual([
		"api-1",
		"inventory-1",
		"inventory-2",
		"notifications-1",
		"orders-1",
		"orders-2",
		"payments-1",
		"payments-2",
		"users-1"
	]);
	const placed = await placeOrder(c, shopper.token, shopper.productId);
	expect(placed.status).toBe(201);
	for (let i = 0; i < 6; i++) {
		const read = await api(
			c.base,
			"GET",
			`/orders/${placed.body.id}`,
			undefined,
			bearer(shopper.token)
		);
		expect([read.status, read.body.status]).toEqual([200, "confirmed"]);
	}
	expect(out).not.toMatch(/DATA FORK/);
});

it("starts a node killed with kill -9 again, and it takes its share once more", async () => {
	const before = nodesOf(script.pid!).get("payments-2")!;
	const instance = observer!.registry.nodes.get("payments-2")?.instanceID;
	expect(instance).toBeDefined();
	process.kill(before, "SIGKILL");
	await until(c, "the restart's line", async () =>
		out.includes("cluster: node payments-2 exited on SIGKILL; starting it again")
	);
	const after = await until(c, "a new payments-2", async () => {
		const pid = nodesOf(script.pid!).get("payments-2");
		return pid !== undefined && pid !== before && pid;
	});
	started.add(after);
	// Its new process, not the dead one the heartbeats have not yet given up on.
	await until(
		c,
		"the new payments-2 in the registry",
		async () => {
			const node = observer!.registry.nodes.get("payments-2");
			return node?.available && node.instanceID !== instance;
		},
		60_000
	);
	await until(c, "an authorization on the new payments-2", async () => {
		expect((await placeOrder(c, shopper.token, shopper.productId)).status).toBe(201);
		const traffic = await observer!.call<Record<string, { total: number }>, object>(
			"$node.traffic",
			{},
			{ nodeID: "payments-2", timeout: 2000 }
		);
		return (traffic["payments.authorize"]?.total ?? 0) > 0;
	});
});

it("stops every node it started on SIGTERM, and exits 0", async () => {
	const pids = [...nodesOf(script.pid!).values()];
	expect(pids).toHaveLength(9);
	const exited = new Promise<number | null>(resolve => script.once("exit", resolve));
	script.kill("SIGTERM");
	expect(await exited).toBe(0);
	expect(pids.filter(alive)).toEqual([]);
	// Nodes stopped on purpose are not started again.
	expect(out.slice(out.indexOf("cluster: SIGTERM"))).not.toContain("starting it again");
});
