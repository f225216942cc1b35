/**
 * Cluster tests: a real nats-server on a free loopback port and real node processes.
 * Everything started here is stopped by `stopAll()`.
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import {
	ALL_SERVICES,
	freePort,
	startNode,
	stopNode,
	waitForHttp,
	type NodeSpec,
	type RunningNode
} from "../../scripts/cluster-lib";

export const NATS_BIN = [
	"/usr/sbin/nats-server",
	"/usr/bin/nats-server",
	"/usr/local/bin/nats-server"
].find(p => fs.existsSync(p));

export class Nats {
	proc?: ChildProcess;
	readonly storeDir = fs.mkdtempSync(path.join(os.tmpdir(), "shopmesh-nats-"));
	/** `args`: more nats-server flags, e.g. a cluster's routes. */
	constructor(
		readonly port: number,
		readonly args: string[] = []
	) {}

	get url() {
		return `nats://127.0.0.1:${this.port}`;
	}

	static async start(): Promise<Nats> {
		const nats = new Nats(await freePort());
		await nats.restart();
		return nats;
	}

	async restart(): Promise<void> {
		if (!NATS_BIN)
			throw new Error("nats-server is not installed (apt-get install nats-server)");
		this.proc = spawn(
			NATS_BIN,
			["-a", "127.0.0.1", "-p", String(this.port), "-js", "-sd", this.storeDir, ...this.args],
			{
				stdio: "ignore"
			}
		);
		await waitForPort(this.port);
	}

	async stop(): Promise<void> {
		const proc = this.proc;
		// A process killed by a signal has a signalCode and no exitCode.
		if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
		const exited = new Promise(r => proc.once("exit", r));
		proc.kill("SIGTERM");
		await exited;
	}

	async destroy(): Promise<void> {
		await this.stop();
		fs.rmSync(this.storeDir, { recursive: true, force: true });
	}
}

async function waitForPort(port: number, timeoutMs = 10_000) {
	const until = Date.now() + timeoutMs;
	while (Date.now() < until) {
		const ok = await new Promise<boolean>(resolve => {
			const sock = net.connect(port, "127.0.0.1", () => {
				sock.end();
				resolve(true);
			});
			sock.once("error", () => resolve(false));
		});
		if (ok) return;
		await new Promise(r => setTimeout(r, 50));
	}
	throw new Error(`port ${port} did not open`);
}

export interface Cluster {
	nats: Nats;
	gatewayPort: number;
	base: string;
	namespace: string;
	dataDir: string;
	nodes: RunningNode[];
	start(spec: Omit<NodeSpec, "env"> & { env?: Record<string, string | undefined> }): RunningNode;
	stop(node: RunningNode, signal?: NodeJS.Signals): Promise<number | null>;
	stopAll(): Promise<void>;
	/** Output of every node, for a failing test's message. */
	logs(): string;
}

/** The admin every test cluster bootstraps (ADMIN_EMAIL / ADMIN_PASSWORD). */
export const CLUSTER_ADMIN = { email: "admin@shopmesh.test", password: "admin-password-1" };

/** A cluster sharing one nats-server and namespace; the gateway gets `gatewayPort`. */
export async function createCluster(extraEnv: Record<string, string> = {}): Promise<Cluster> {
	const nats = await Nats.start();
	const gatewayPort = await freePort();
	const namespace = `t${process.pid}${Date.now().toString(36)}`;
	const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "shopmesh-cluster-"));
	const nodes: RunningNode[] = [];
	const cluster: Cluster = {
		nats,
		gatewayPort,
		base: `http://127.0.0.1:${gatewayPort}/api`,
		namespace,
		dataDir,
		nodes,
		start(spec) {
			const node = startNode({
				...spec,
				env: {
					NODE_ENV: "test",
					LOGLEVEL: "warn",
					TRANSPORTER: nats.url,
					NAMESPACE: namespace,
					PORT: String(gatewayPort),
					HOST: "127.0.0.1",
					// One DATA_DIR: instances of a service share its SQLite file, as on one host.
					DATA_DIR: dataDir,
					HEARTBEAT_INTERVAL: "1",
					HEARTBEAT_TIMEOUT: "4",
					ADMIN_EMAIL: CLUSTER_ADMIN.email,
					ADMIN_PASSWORD: CLUSTER_ADMIN.password,
					...extraEnv,
					...spec.env
				}
			});
			nodes.push(node);
			return node;
		},
		stop: (node, signal = "SIGTERM") => stopNode(node, signal),
		async stopAll() {
			await Promise.all(nodes.map(n => stopNode(n, "SIGKILL", 1000)));
			await nats.destroy();
			fs.rmSync(dataDir, { recursive: true, force: true });
		},
		logs: () => nodes.map(n => `--- ${n.spec.nodeID}\n${n.output()}`).join("\n")
	};
	return cluster;
}

export { waitForHttp };

/**
 * JSON over HTTP for cluster tests (the gateway is another process; no keep-alive left behind),
 * from loopback address `from` when given (the client that per-client limits key on).
 */
export function api(
	base: string,
	method: string,
	url: string,
	body?: unknown,
	headers: Record<string, string> = {},
	from?: string
): Promise<{ status: number; body: any; headers: http.IncomingHttpHeaders; ms: number }> {
	const started = Date.now();
	const payload = body === undefined ? undefined : JSON.stringify(body);
	return new Promise((resolve, reject) => {
		const req = http.request(
			base + url,
			{
				method,
				...(from ? { localAddress: from } : {}),
				agent: false,
				timeout: 20_000,
				headers: {
					Connection: "close",
					...(payload
						? {
								"Content-Type": "application/json",
								"Content-Length": Buffer.byteLength(payload)
							}
						: {}),
					...headers
				}
			},
			res => {
				let text = "";
				res.setEncoding("utf8");
				res.on("data", chunk => (text += chunk));
				res.on("end", () => {
					let parsed: unknown = text;
					try {
						parsed = JSON.parse(text);
					} catch {
						/* not JSON */
					}
					resolve({
						status: res.statusCode ?? 0,
						body: parsed,
						headers: res.headers,
						ms: Date.now() - started
					});
				});
			}
		);
		req.on("timeout", () => req.destroy(new Error(`${method} ${url} timed out`)));
		req.on("error", reject);
		req.end(payload);
	});
}

/** Poll `check` until it returns a truthy value; on time-out, fail with the cluster's logs. */
export async function until<T>(
	c: Cluster,
	what: string,
	check: () => Promise<T | false | null | undefined>,
	ms = 30_000
): Promise<T> {
	const deadline = Date.now() + ms;
	for (;;) {
		const value = await check().catch(() => undefined);
		if (value) return value;
		if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms\n${c.logs()}`);
		await new Promise(r => setTimeout(r, 200));
	}
}

/** Wait until the gateway reaches every one of `services`. */
/**
 * Every service on a node of its own (`<service>-1`), as `npm run cluster` starts them, once the
 * gateway answers and sees `required` (notifications is optional to the shop).
 */
export async function startEveryService(
	c: Cluster,
	required: string[] = ["users", "inventory", "payments", "orders", "notifications"]
): Promise<Record<string, RunningNode>> {
	const nodes: Record<string, RunningNode> = {};
	for (const name of ALL_SERVICES) nodes[name] = c.start({ services: name, nodeID: `${name}-1` });
	await waitForHttp(`${c.base}/health`, 60_000);
	await ready(c, required, 60_000);
	return nodes;
}

export function ready(c: Cluster, services: string[], ms = 30_000) {
	return until(
		c,
		`services ${services.join(",")} visible to the gateway`,
		async () => {
			const res = await api(c.base, "GET", "/ready");
			return services.every(s => res.body.services?.[s]) ? res.body : null;
		},
		ms
	);
}

/** A token of the cluster's admin, logged in through the gateway. */
export async function loginAdmin(c: Cluster): Promise<string> {
	const login = await api(c.base, "POST", "/users/login", CLUSTER_ADMIN);
	if (login.status !== 200) throw new Error(`admin login failed: ${JSON.stringify(login.body)}`);
	return login.body.token as string;
}

export const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

export const TEST_CARD = {
	cardNumber: "4242424242424242",
	expMonth: 12,
	expYear: new Date().getFullYear() + 2,
	cvc: "123"
};

/** A product with `stock` units, created by an admin through the gateway; its id. */
export async function newProduct(c: Cluster, adminToken: string, stock: number, priceCents = 1500) {
	const res = await api(
		c.base,
		"POST",
		"/products",
		{
			sku: `C-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`,
			name: "Cluster mug",
			priceCents,
			currency: "EUR",
			stock
		},
		bearer(adminToken)
	);
	if (res.status !== 201) throw new Error(`product not created: ${JSON.stringify(res.body)}`);
	return res.body.id as string;
}

/** A new customer: registered and logged in through the gateway. */
export async function newCustomer(c: Cluster) {
	const email = `c-${Date.now()}-${Math.random().toString(36).slice(2, 8)}@shopmesh.test`;
	const reg = await api(c.base, "POST", "/users", {
		email,
		password: "cluster-pass-1",
		name: "C"
	});
	if (reg.status !== 201) throw new Error(`register failed: ${JSON.stringify(reg.body)}`);
	const login = await api(c.base, "POST", "/users/login", { email, password: "cluster-pass-1" });
	return { id: reg.body.id as string, token: login.body.token as string };
}

export const placeOrder = (c: Cluster, token: string, productId: string, quantity = 1) =>
	api(
		c.base,
		"POST",
		"/orders",
		{ items: [{ productId, quantity }], payment: TEST_CARD },
		bearer(token)
	);

export async function stockOf(c: Cluster, productId: string): Promise<number> {
	return (await api(c.base, "GET", `/products/${productId}`)).body.stock;
}

/** Every row of a paged admin listing. */
export async function allRows(c: Cluster, token: string, url: string): Promise<any[]> {
	const rows: any[] = [];
	for (let page = 1; ; page++) {
		const sep = url.includes("?") ? "&" : "?";
		const res = await api(
			c.base,
			"GET",
			`${url}${sep}page=${page}&pageSize=100`,
			undefined,
			bearer(token)
		);
		if (res.status !== 200)
			throw new Error(`${url}: ${res.status} ${JSON.stringify(res.body)}`);
		rows.push(...res.body.rows);
		if (page >= res.body.totalPages) return rows;
	}
}
