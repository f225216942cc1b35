/**
 * The systems under test, started as real processes exactly like `npm start` (embedded default)
 * and `npm run cluster` (one process per service over a nats-server of our own), through
 * scripts/cluster-lib.ts and test/helpers/cluster.ts. Each stack is registered for cleanup.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ServiceBroker } from "moleculer";
import brokerConfig from "../../moleculer.config";
import {
	ALL_SERVICES,
	freePort,
	startNode,
	stopNode,
	waitForHttp,
	type RunningNode
} from "../../scripts/cluster-lib";
import { api, createCluster, type Cluster } from "../../test/helpers/cluster";
import type { HttpLoad } from "./load";
import { track } from "./procs";

export const ADMIN = { email: "bench-admin@shopmesh.test", password: "bench-admin-password" };
export const TEST_CARD = "4242424242424242";

/**
 * The environment that turns the cacher off. `CACHER=none` is what docs/configuration.md documents, but under
 * moleculer-runner (`npm start`, `npm run start:node`) the runner copies the CACHER variable over
 * the config's `cacher: null` and the broker refuses the type "none"; the runner turns "false"
 * into `false`, which works.
 */
export const NO_CACHER = { CACHER: "false" };

export interface StackOptions {
	/** CACHER of every node: "Memory" (the default) or "false" (none, see NO_CACHER). */
	cacher: "Memory" | "false";
	/** Write V8 CPU profiles of every node into this directory (on a graceful stop). */
	profileDir?: string;
}

/**
 * What every node of the bench runs with: the defaults of `npm start`, except that the gateway's
 * per-IP rate limit and the login throttling are off (every request of the bench comes from
 * 127.0.0.1) and tokens live long enough for the whole run. No MongoDB: SQLite files in a temporary DATA_DIR, as in the default.
 */
export function nodeEnv(opts: StackOptions): Record<string, string | undefined> {
	const nodeOptions = [process.env.NODE_OPTIONS ?? ""];
	if (opts.profileDir) nodeOptions.push(`--cpu-prof --cpu-prof-dir=${opts.profileDir}`);
	return {
		NODE_ENV: "development",
		HOST: "127.0.0.1",
		LOGLEVEL: "info",
		CACHER: opts.cacher,
		// The bench registers 128 customers; their password hashing is not what it measures.
		PASSWORD_HASH_COST: "1024",
		RATE_LIMIT_MAX: "0",
		LOGIN_MAX_FAILURES: "0",
		LOGIN_CLIENT_MAX_FAILURES: "0",
		JWT_EXPIRES_IN: "3600",
		ADMIN_EMAIL: ADMIN.email,
		ADMIN_PASSWORD: ADMIN.password,
		HEARTBEAT_INTERVAL: "5",
		HEARTBEAT_TIMEOUT: "15",
		MONGO_URI: undefined,
		// Each node finds its own services/ (moleculer.config.ts sets it when unset).
		SERVICEDIR: undefined,
		METRICS_PORT: undefined,
		HEALTH_PORT: undefined,
		TRACING_EXPORTER: undefined,
		RESPONSE_NODE_HEADER: undefined,
		NODE_OPTIONS: nodeOptions.join(" ").trim() || undefined
	};
}

export interface Stack {
	kind: "embedded" | "cluster";
	/** http://127.0.0.1:<port>/api */
	base: string;
	/** The running nodes (for RSS). */
	nodes: RunningNode[];
	cluster?: Cluster;
	/** Cluster only: start one more node with the stack's environment. */
	addNode?(services: string, nodeID: string): RunningNode;
	/**
	 * Restart one node (embedded: the only one) on the same data with some variables changed, and
	 * wait until the gateway sees its services again.
	 */
	restart(nodeID: string, env: Record<string, string | undefined>): Promise<void>;
	/** Everything the nodes printed, for error messages. */
	logs(): string;
	stop(): Promise<void>;
}

async function stopGracefully(nodes: RunningNode[]): Promise<void> {
	// SIGTERM first: moleculer stops cleanly and V8 writes the CPU profiles, if any.
	await Promise.all(nodes.map(n => stopNode(n, "SIGTERM", 5000)));
}

const REQUIRED = ["users", "inventory", "payments", "orders"];

/** `npm start`: every service in one process, no transporter. */
export async function startEmbedded(opts: StackOptions): Promise<Stack> {
	const port = await freePort();
	const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "shopmesh-bench-"));
	const env = {
		...nodeEnv(opts),
		TRANSPORTER: undefined,
		PORT: String(port),
		DATA_DIR: dataDir
	};
	const start = (extra: Record<string, string | undefined> = {}) =>
		startNode({
			services: ALL_SERVICES.join(","),
			nodeID: "embedded",
			env: { ...env, ...extra }
		});
	const nodes = [start()];
	const stack: Stack = {
		kind: "embedded",
		base: `http://127.0.0.1:${port}/api`,
		nodes,
		logs: () => nodes.map(n => n.output()).join("\n"),
		async restart(_nodeID, extra) {
			await stopGracefully(nodes);
			nodes[0] = start(extra);
			await ready(stack, REQUIRED);
		},
		stop: track({
			name: "embedded node",
			pids: () => nodes.map(n => n.proc.pid),
			async stop() {
				await stopGracefully(nodes);
				fs.rmSync(dataDir, { recursive: true, force: true });
			}
		})
	};
	await ready(stack, REQUIRED);
	return stack;
}

/** `npm run cluster`: one process per service (or per given group), over our own nats-server. */
export async function startCluster(
	opts: StackOptions & {
		services?: string[];
		extraNodes?: { services: string; nodeID: string }[];
	}
): Promise<Stack> {
	const cluster = await createCluster();
	const env = nodeEnv(opts);
	const stack: Stack = {
		kind: "cluster",
		base: cluster.base,
		nodes: cluster.nodes,
		cluster,
		addNode: (services, nodeID) => cluster.start({ services, nodeID, env }),
		async restart(nodeID, extra) {
			const i = cluster.nodes.findIndex(n => n.spec.nodeID === nodeID);
			if (i < 0) throw new Error(`no node ${nodeID}`);
			const [old] = cluster.nodes.splice(i, 1);
			await stopGracefully([old]);
			cluster.start({ services: old.spec.services, nodeID, env: { ...env, ...extra } });
			await ready(stack, [old.spec.services]);
		},
		logs: () => cluster.logs(),
		stop: track({
			name: "cluster",
			pids: () => [...cluster.nodes.map(n => n.proc.pid), cluster.nats.proc?.pid],
			async stop() {
				await stopGracefully(cluster.nodes);
				await cluster.stopAll();
			}
		})
	};
	for (const service of opts.services ?? [...ALL_SERVICES])
		cluster.start({ services: service, nodeID: `${service}-1`, env });
	for (const extra of opts.extraNodes ?? []) cluster.start({ ...extra, env });
	const wanted = (opts.services ?? [...ALL_SERVICES]).filter(s => s !== "api");
	if (wanted.length) await ready(stack, wanted);
	return stack;
}

/** Wait until the gateway answers and sees the given services. */
async function ready(stack: Stack, services: string[], timeoutMs = 90_000): Promise<void> {
	try {
		await waitForHttp(`${stack.base}/health`, timeoutMs);
		const until = Date.now() + timeoutMs;
		for (;;) {
			const res = await api(stack.base, "GET", "/ready").catch(() => undefined);
			if (services.every(s => res?.body?.services?.[s])) return;
			if (Date.now() > until) throw new Error(`services ${services.join(",")} not ready`);
			await new Promise(r => setTimeout(r, 200));
		}
	} catch (err) {
		throw new Error(
			`${stack.kind} stack did not start: ${(err as Error).message}\n${stack.logs()}`
		);
	}
}

export interface Shop {
	/** One token per customer. */
	tokens: string[];
	productIds: string[];
}

/** Customers with tokens and products with plenty of stock, made through the public API. */
export async function seedShop(
	base: string,
	opts: { customers: number; products: number; stock: number }
): Promise<Shop> {
	const login = await api(base, "POST", "/users/login", ADMIN);
	if (login.status !== 200)
		throw new Error(`admin login: ${login.status} ${JSON.stringify(login.body)}`);
	const admin = { Authorization: `Bearer ${login.body.token}` };
	const tag = `${process.pid}-${Date.now().toString(36)}`;

	const productIds: string[] = [];
	for (let i = 0; i < opts.products; i++) {
		const res = await api(
			base,
			"POST",
			"/products",
			{
				sku: `BENCH-${tag}-${i}`,
				name: `Bench product ${i}`,
				priceCents: 1000 + i,
				currency: "EUR",
				stock: opts.stock
			},
			admin
		);
		if (res.status !== 201)
			throw new Error(`create product: ${res.status} ${JSON.stringify(res.body)}`);
		productIds.push(res.body.id);
	}

	const tokens: string[] = [];
	for (let i = 0; i < opts.customers; i++) {
		const email = `bench-${tag}-${i}@shopmesh.test`;
		const password = `bench-password-${i}`;
		const reg = await api(base, "POST", "/users", { email, password, name: `Bench ${i}` });
		if (reg.status !== 201)
			throw new Error(`register: ${reg.status} ${JSON.stringify(reg.body)}`);
		const res = await api(base, "POST", "/users/login", { email, password });
		if (res.status !== 200) throw new Error(`login: ${res.status} ${JSON.stringify(res.body)}`);
		tokens.push(res.body.token);
	}
	return { tokens, productIds };
}

/**
 * `POST /api/orders` at `connections` (c64 unless said), each connection one customer ordering
 * one product, for httpLoad/measureHttp (which add the duration).
 */
export function orderLoad(base: string, shop: Shop, connections = 64): Omit<HttpLoad, "durationS"> {
	return {
		url: `${base}/orders`,
		connections,
		method: "POST",
		headers: { "Content-Type": "application/json" },
		perConnection: i => ({
			headers: { Authorization: `Bearer ${shop.tokens[i % shop.tokens.length]}` },
			body: orderBody(shop.productIds[i % shop.productIds.length])
		})
	};
}

/** The body of `POST /api/orders` for one product, paid with the test card that succeeds. */
export function orderBody(productId: string): string {
	return JSON.stringify({
		items: [{ productId, quantity: 1 }],
		payment: {
			cardNumber: TEST_CARD,
			expMonth: 12,
			expYear: new Date().getFullYear() + 3,
			cvc: "123"
		}
	});
}

/** A broker in the bench process joining a cluster: the caller of the NATS-only scenarios. */
export async function callerBroker(nats: {
	url: string;
	namespace: string;
}): Promise<ServiceBroker> {
	const broker = new ServiceBroker({
		...brokerConfig,
		namespace: nats.namespace,
		nodeID: `bench-caller-${process.pid}`,
		transporter: { type: "NATS", options: { url: nats.url } },
		logger: false,
		metrics: false,
		tracing: false,
		created: undefined,
		stopped: undefined
	});
	await broker.start();
	return broker;
}
