/**
 * Reference servers that run for the whole bench, so any figure can be measured in the same
 * slices as its baseline: the bare node:http hello server, a nats-server of our own, and vanilla
 * moleculer-web with a local and a remote action (bench/servers/vanilla.ts).
 */
import { Nats } from "../../test/helpers/cluster";
import { startHelper, track } from "./procs";

export interface References {
	bareUrl: string;
	vanillaLocalUrl: string;
	vanillaRemoteUrl: string;
	nats: { url: string; namespace: string };
	/** Processes to keep between scenarios. */
	pids(): (number | undefined)[];
}

export async function startReferences(): Promise<References> {
	const hello = await startHelper("servers/hello.ts");
	const nats = await Nats.start();
	track({ name: "nats-server", pids: () => [nats.proc?.pid], stop: () => nats.destroy() });
	const namespace = `bench${process.pid}`;
	const service = await startHelper("servers/vanilla.ts", ["service", nats.url, namespace], {
		readyTimeoutMs: 60_000
	});
	const gateway = await startHelper("servers/vanilla.ts", ["gateway", nats.url, namespace], {
		readyTimeoutMs: 60_000
	});
	const vanilla = `http://127.0.0.1:${gateway.ready}/api`;
	return {
		bareUrl: `http://127.0.0.1:${hello.ready}/`,
		vanillaLocalUrl: `${vanilla}/local`,
		vanillaRemoteUrl: `${vanilla}/remote`,
		nats: { url: nats.url, namespace },
		pids: () => [hello.proc.pid, nats.proc?.pid, service.proc.pid, gateway.proc.pid]
	};
}
