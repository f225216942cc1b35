/**
 * A tiny per-node health endpoint (HEALTH_PORT), so every node, not only the gateway, can be
 * probed by Docker or Kubernetes:
 *   GET /live   200 while the process runs its event loop
 *   GET /ready  200 once the broker has started (every local service connected to its DB),
 *               the transporter is connected, and every service a local service needs is reachable
 * Neither names the node, its host, pid or uptime: a probe answers what an orchestrator acts on.
 */
import http from "node:http";
import type { ServiceBroker } from "moleculer";

export interface NodeReadiness {
	ready: boolean;
	started: boolean;
	transporter: "none" | "connected" | "disconnected";
	services: string[];
	missingDependencies: string[];
}

function dependencyNames(deps: unknown): string[] {
	const list = Array.isArray(deps) ? deps : deps ? [deps] : [];
	return list.map(d => (typeof d === "string" ? d : (d as { name: string }).name));
}

export function nodeReadiness(broker: ServiceBroker): NodeReadiness {
	const local = broker.services.filter(s => !s.name.startsWith("$"));
	const available = new Set(
		broker.registry.getServiceList({ onlyAvailable: true, skipInternal: true }).map(s => s.name)
	);
	const needed = new Set(local.flatMap(s => dependencyNames(s.schema.dependencies)));
	const missingDependencies = [...needed].filter(name => !available.has(name));
	const transit = (broker as unknown as { transit?: { connected: boolean } }).transit;
	const transporter = !transit ? "none" : transit.connected ? "connected" : "disconnected";
	const started = Boolean((broker as unknown as { started: boolean }).started);
	return {
		ready: started && transporter !== "disconnected" && missingDependencies.length === 0,
		started,
		transporter,
		services: local.map(s => s.fullName),
		missingDependencies
	};
}

export function startHealthServer(
	broker: ServiceBroker,
	port: number,
	host = "0.0.0.0"
): Promise<http.Server> {
	const server = http.createServer((req, res) => {
		const send = (status: number, body: unknown) => {
			res.writeHead(status, {
				"Content-Type": "application/json; charset=utf-8",
				"Cache-Control": "no-store"
			});
			res.end(JSON.stringify(body));
		};
		if (req.method !== "GET") return send(405, { status: "method not allowed" });
		if (req.url === "/live") return send(200, { status: "ok" });
		if (req.url === "/ready") {
			const state = nodeReadiness(broker);
			return send(state.ready ? 200 : 503, state);
		}
		send(404, { status: "not found" });
	});
	return new Promise((resolve, reject) => {
		server.once("error", reject);
		server.listen(port, host, () => resolve(server));
	});
}
