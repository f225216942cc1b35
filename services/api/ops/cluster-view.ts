/**
 * What the console shows of nodes, services and circuit breakers, and the fault log: plain
 * functions over what `$node.list`, `$node.health` and `$node.actions` answer. No broker.
 */

/** A node as `$node.list({ withServices: true })` lists it (the fields used). */
export interface NodeInfo {
	id: string;
	available: boolean;
	local?: boolean;
	hostname?: string;
	services?: { name: string }[];
}

/** The parts of `$node.health` the console shows. */
export interface NodeHealth {
	cpu?: { utilization?: number };
	process?: { uptime?: number; memory?: { rss?: number; heapUsed?: number } };
}

export interface NodeView {
	id: string;
	hostname: string;
	/** Known to the registry and answering its health poll. */
	up: boolean;
	services: string[];
	cpu: number | null;
	rssBytes: number | null;
	uptimeSec: number | null;
}

export function nodeView(info: NodeInfo, health: NodeHealth | null): NodeView {
	return {
		id: info.id,
		hostname: info.hostname ?? "",
		up: info.available && health !== null,
		services: (info.services ?? [])
			.map(s => s.name)
			.filter(n => !n.startsWith("$"))
			.sort(),
		cpu: health?.cpu?.utilization ?? null,
		rssBytes: health?.process?.memory?.rss ?? null,
		uptimeSec: health?.process?.uptime ?? null
	};
}

/** Instances of each service on the nodes that are up; a service seen before stays, at 0. */
export function serviceInstances(nodes: NodeView[], known: Iterable<string> = []) {
	const counts = new Map<string, number>([...known].map(name => [name, 0]));
	for (const node of nodes)
		for (const name of node.services) counts.set(name, counts.get(name) ?? 0);
	for (const node of nodes)
		if (node.up) for (const name of node.services) counts.set(name, counts.get(name)! + 1);
	return [...counts]
		.sort(([a], [b]) => a.localeCompare(b))
		.map(([name, instances]) => ({ name, instances }));
}

/** An action as `$node.actions({ withEndpoints: true })` lists it. */
export interface ActionInfo {
	name: string;
	endpoints?: { nodeID: string; state: boolean }[];
}

export interface BreakerView {
	/** The node whose breaker it is: breakers are kept by each calling node. */
	caller: string;
	action: string;
	nodeID: string;
	state: "closed" | "open";
}

/** Every endpoint of a watched action as each caller sees it (open: `state` false). */
export function breakerStates(
	perCaller: { caller: string; actions: ActionInfo[] }[],
	watched: (action: string) => boolean
): BreakerView[] {
	const out: BreakerView[] = [];
	for (const { caller, actions } of perCaller)
		for (const a of actions) {
			if (!watched(a.name)) continue;
			for (const ep of a.endpoints ?? [])
				out.push({
					caller,
					action: a.name,
					nodeID: ep.nodeID,
					state: ep.state ? "closed" : "open"
				});
		}
	return out;
}

export type FaultKind =
	| "node-joined"
	| "node-left"
	| "node-unresponsive"
	| "node-answering"
	| "breaker-opened"
	| "breaker-half-opened"
	| "breaker-closed"
	| "dead-letter";

export interface Fault {
	at: string;
	kind: FaultKind;
	text: string;
}

/** The latest `size` faults, newest first. */
export class FaultLog {
	private readonly entries: Fault[] = [];
	constructor(private readonly size: number) {}

	add(kind: FaultKind, text: string, at = new Date()): void {
		this.entries.unshift({ at: at.toISOString(), kind, text });
		if (this.entries.length > this.size) this.entries.pop();
	}

	list(): Fault[] {
		return [...this.entries];
	}
}

/** Faults between two polls: nodes that stopped or started answering their health poll. */
export function nodeChanges(
	before: NodeView[],
	after: NodeView[]
): { kind: FaultKind; text: string }[] {
	const out: { kind: FaultKind; text: string }[] = [];
	const wasUp = new Map(before.map(n => [n.id, n.up]));
	for (const n of after) {
		const prev = wasUp.get(n.id);
		if (prev === true && !n.up)
			out.push({ kind: "node-unresponsive", text: `${n.id} stopped answering` });
		if (prev === false && n.up)
			out.push({ kind: "node-answering", text: `${n.id} answers again` });
	}
	return out;
}
