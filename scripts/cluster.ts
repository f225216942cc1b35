/**
 * `npm run cluster`: a local cluster, every service in its own process, joined by the NATS at
 * NATS_URL (default nats://127.0.0.1:4222). INSTANCES sets the count per service, e.g.
 * `INSTANCES=orders=2,payments=2`. Ctrl-C (or SIGTERM) stops all of it gracefully. A node that
 * exits on its own (killed, crashed) is started again after a second, unless it is crash-looping.
 *
 * Every process uses one DATA_DIR: the instances of a stateful service share its SQLite file
 * (DATA_DIR/<service>.sqlite). Across hosts, set MONGO_URI.
 */
import path from "node:path";
import { envUrl, loadSettings } from "../platform/runtime/settings";
import {
	ALL_SERVICES,
	ROOT,
	RESTART_LIMIT,
	shouldRestart,
	startNode,
	stopNode,
	waitForHttp,
	type RunningNode
} from "./cluster-lib";

function instanceCounts(raw = process.env.INSTANCES ?? ""): Record<string, number> {
	const counts: Record<string, number> = Object.fromEntries(ALL_SERVICES.map(s => [s, 1]));
	for (const part of raw
		.split(",")
		.map(s => s.trim())
		.filter(Boolean)) {
		const [name, n] = part.split("=");
		if (!(ALL_SERVICES as readonly string[]).includes(name) || !/^\d+$/.test(n ?? ""))
			throw new Error(`INSTANCES: expected service=count, got "${part}"`);
		counts[name] = Number(n);
	}
	return counts;
}

async function main() {
	const natsUrl = envUrl(process.env, "NATS_URL", ["nats"]) ?? "nats://127.0.0.1:4222";
	const counts = instanceCounts();
	// PORT and DATA_DIR as every node reads them (validated there; data/ of the checkout).
	const { port: basePort, dataDir } = loadSettings({
		...process.env,
		DATA_DIR: process.env.DATA_DIR || path.join(ROOT, "data")
	});
	const nodes: RunningNode[] = [];

	for (const service of ALL_SERVICES) {
		for (let i = 1; i <= counts[service]; i++) {
			nodes.push(
				startNode(
					{
						services: service,
						nodeID: `${service}-${i}`,
						env: {
							TRANSPORTER: natsUrl,
							PORT: String(basePort + i - 1),
							DATA_DIR: dataDir
						}
					},
					{ inherit: true }
				)
			);
		}
	}

	let stopping = false;
	const stopAll = async (signal: NodeJS.Signals) => {
		if (stopping) return;
		stopping = true;
		console.log(`\ncluster: ${signal}, stopping ${nodes.length} nodes...`);
		await Promise.all(nodes.map(n => stopNode(n, "SIGTERM")));
		process.exit(0);
	};
	process.on("SIGINT", () => void stopAll("SIGINT"));
	process.on("SIGTERM", () => void stopAll("SIGTERM"));
	const supervise = (slot: number, exits: number[] = []) => {
		const n = nodes[slot];
		void n.exited.then(code => {
			if (stopping) return;
			exits.push(Date.now());
			const how = n.proc.signalCode ? `on ${n.proc.signalCode}` : `with code ${code}`;
			if (!shouldRestart(exits)) {
				console.error(
					`cluster: node ${n.spec.nodeID} exited ${how}, ${RESTART_LIMIT.exits} times within ${RESTART_LIMIT.windowMs / 1000} s: not started again`
				);
				return;
			}
			console.error(`cluster: node ${n.spec.nodeID} exited ${how}; starting it again`);
			setTimeout(() => {
				if (stopping) return;
				nodes[slot] = startNode(n.spec, { inherit: true });
				supervise(slot, exits);
			}, 1000);
		});
	};
	nodes.forEach((_, slot) => supervise(slot));

	await waitForHttp(`http://127.0.0.1:${basePort}/api/ready`, 60_000);
	console.log(
		`cluster: ${nodes.length} nodes up on ${natsUrl}; gateway http://127.0.0.1:${basePort}/api`
	);
}

main().catch(err => {
	console.error(`cluster: ${(err as Error).message}`);
	process.exit(1);
});
