/**
 * Three nats-servers with JetStream routed into one cluster, on free loopback ports: shared by
 * the cluster test of a lost nats-server and the bench's faults scenario.
 */
import { connect } from "nats";
import { freePort } from "../../scripts/cluster-lib";
import { Nats } from "./cluster";

/** Three servers (n0, n1, n2), each routed to the other two; not started yet. */
export async function natsCluster(name = "shopmesh-test"): Promise<Nats[]> {
	const ports = await Promise.all([0, 1, 2].map(() => freePort()));
	const routePorts = await Promise.all([0, 1, 2].map(() => freePort()));
	const routes = routePorts.map(p => `nats://127.0.0.1:${p}`).join(",");
	return ports.map(
		(port, i) =>
			new Nats(port, [
				"--server_name",
				`n${i}`,
				"--cluster_name",
				name,
				"--cluster",
				`nats://127.0.0.1:${routePorts[i]}`,
				"--routes",
				routes
			])
	);
}

/** Start the servers and wait until JetStream answers (the three have elected a meta leader). */
export async function startNatsCluster(servers: Nats[], timeoutMs = 30_000): Promise<void> {
	await Promise.all(servers.map(n => n.restart()));
	const nc = await connect({ servers: servers.map(n => n.url) });
	try {
		const until = Date.now() + timeoutMs;
		for (;;) {
			try {
				await (await nc.jetstreamManager()).getAccountInfo();
				return;
			} catch (err) {
				if (Date.now() > until) throw err;
				await new Promise(r => setTimeout(r, 250));
			}
		}
	} finally {
		await nc.close();
	}
}

export const running = (n: Nats) => n.proc?.exitCode === null && n.proc.signalCode === null;

/** kill -9 one server and wait for it to exit. */
export async function killServer(n: Nats): Promise<void> {
	const proc = n.proc!;
	const exited = new Promise(r => proc.once("exit", r));
	proc.kill("SIGKILL");
	await exited;
}

/** The index in `servers` of the leader of the stream whose name ends with `suffix`. */
export async function streamLeader(servers: Nats[], suffix: string): Promise<number> {
	const nc = await connect({ servers: servers.filter(running).map(n => n.url) });
	try {
		const jsm = await nc.jetstreamManager();
		const stream = (await jsm.streams.list().next()).find(st =>
			st.config.name.endsWith(suffix)
		);
		const leader = stream?.cluster?.leader;
		if (!leader) throw new Error(`no stream *${suffix} with a leader`);
		return Number(leader.slice(1));
	} finally {
		await nc.close();
	}
}

/** The state of every stream and JetStream consumer, for a failure's message. */
export async function jetStreamState(servers: Nats[]): Promise<string> {
	const nc = await connect({ servers: servers.filter(running).map(n => n.url) });
	try {
		const jsm = await nc.jetstreamManager();
		const lines: string[] = [];
		for (const st of await jsm.streams.list().next()) {
			lines.push(
				`stream ${st.config.name}: ${st.state.messages} msgs, leader ${st.cluster?.leader}, replicas ${st.config.num_replicas}`
			);
			for (const ci of await jsm.consumers.list(st.config.name).next())
				lines.push(
					`  ${ci.name}: pending ${ci.num_pending}, ack pending ${ci.num_ack_pending}, redelivered ${ci.num_redelivered}, waiting ${ci.num_waiting}, leader ${ci.cluster?.leader}`
				);
		}
		return lines.join("\n");
	} finally {
		await nc.close();
	}
}
