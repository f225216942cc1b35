/**
 * Starting service nodes as separate processes: shared by `npm run cluster` and the cluster tests.
 */
import { spawn, type ChildProcess } from "node:child_process";
import http from "node:http";
import net from "node:net";
import path from "node:path";

export const ROOT = path.resolve(__dirname, "..");
const RUNNER = path.join(ROOT, "node_modules", "moleculer", "bin", "moleculer-runner.js");

export const ALL_SERVICES = [
	"users",
	"inventory",
	"payments",
	"orders",
	"notifications",
	"api"
] as const;

export interface NodeSpec {
	/** Comma-separated services of this node, as in SERVICES. */
	services: string;
	nodeID: string;
	env?: Record<string, string | undefined>;
}

export interface RunningNode {
	spec: NodeSpec;
	proc: ChildProcess;
	/** Everything the node printed (bounded), for test diagnostics. */
	output(): string;
	exited: Promise<number | null>;
}

/** A free TCP port on the loopback interface. */
export function freePort(): Promise<number> {
	return new Promise((resolve, reject) => {
		const srv = net.createServer();
		srv.unref();
		srv.once("error", reject);
		srv.listen(0, "127.0.0.1", () => {
			const { port } = srv.address() as net.AddressInfo;
			srv.close(() => resolve(port));
		});
	});
}

/** Start one node: `npm run start:node` with SERVICES and NODEID set, on this machine's Node. */
/**
 * V8 flags of every node, as in `npm start` and the image: a larger young generation (32 MB
 * semi-spaces) means fewer scavenges and less promoted garbage (docs/performance.md).
 */
export const NODE_FLAGS = ["--max-semi-space-size=32"];

export function startNode(spec: NodeSpec, opts: { inherit?: boolean } = {}): RunningNode {
	const env: NodeJS.ProcessEnv = { ...process.env, SERVICES: spec.services, NODEID: spec.nodeID };
	for (const [k, v] of Object.entries(spec.env ?? {})) {
		if (v === undefined) delete env[k];
		else env[k] = v;
	}
	const proc = spawn(
		process.execPath,
		// tsx as a loader in the same process (no wrapper process), so signals reach the node itself.
		[
			...NODE_FLAGS,
			"--import",
			"tsx",
			RUNNER,
			"--config",
			path.join(ROOT, "moleculer.config.ts"),
			"--mask",
			"**/*.service.ts"
		],
		{ cwd: ROOT, env, stdio: opts.inherit ? "inherit" : ["ignore", "pipe", "pipe"] }
	);
	let out = "";
	const keep = (chunk: Buffer) => {
		out = (out + chunk.toString()).slice(-20_000);
	};
	proc.stdout?.on("data", keep);
	proc.stderr?.on("data", keep);
	const exited = new Promise<number | null>(resolve => proc.once("exit", code => resolve(code)));
	return { spec, proc, output: () => out, exited };
}

/** Exits within `windowMs` after which a node is not started again: it is crash-looping. */
export const RESTART_LIMIT = { exits: 5, windowMs: 60_000 };

/**
 * Whether a node that exited at `exits`' last time should be started again, as a supervisor
 * (compose's `restart: unless-stopped`, Kubernetes) would: yes, unless that is the
 * `RESTART_LIMIT.exits`-th exit within `RESTART_LIMIT.windowMs`.
 */
export function shouldRestart(exits: number[], limit = RESTART_LIMIT): boolean {
	const last = exits[exits.length - 1];
	if (last === undefined) return true;
	return exits.filter(at => at > last - limit.windowMs).length < limit.exits;
}

/** Stop a node with a signal and wait for it to exit (SIGKILL after `graceMs`). */
export async function stopNode(
	node: RunningNode,
	signal: NodeJS.Signals = "SIGTERM",
	graceMs = 15_000
) {
	if (node.proc.exitCode !== null || node.proc.signalCode !== null) return node.exited;
	node.proc.kill(signal);
	const timer = setTimeout(() => node.proc.kill("SIGKILL"), graceMs);
	const code = await node.exited;
	clearTimeout(timer);
	return code;
}

/** Poll an HTTP URL until it answers 200 (or time runs out). */
export async function waitForHttp(url: string, timeoutMs = 30_000): Promise<void> {
	const until = Date.now() + timeoutMs;
	let last = "";
	while (Date.now() < until) {
		try {
			const status = await new Promise<number>((resolve, reject) => {
				const req = http.get(url, { agent: false, timeout: 2000 }, res => {
					res.resume();
					resolve(res.statusCode ?? 0);
				});
				req.on("timeout", () => req.destroy(new Error("timeout")));
				req.on("error", reject);
			});
			if (status === 200) return;
			last = `HTTP ${status}`;
		} catch (err) {
			last = (err as Error).message;
		}
		await new Promise(r => setTimeout(r, 200));
	}
	throw new Error(`${url} not ready after ${timeoutMs} ms (last: ${last})`);
}
