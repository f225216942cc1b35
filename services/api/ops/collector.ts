/**
 * One poll of the cluster, through the broker only: `$node.list`, then each node's
 * `$node.health` and `$node.traffic`; a full poll also each node's `$node.actions` and each
 * service's `opsStats` and `eventStats` where it has them. The same calls embedded and in a cluster.
 */
import type { Context } from "moleculer";
import {
	breakerStates,
	nodeView,
	type ActionInfo,
	type BreakerView,
	type NodeHealth,
	type NodeInfo,
	type NodeView
} from "./cluster-view";
import type { TrafficSnapshot } from "../../../platform/runtime/traffic";
import { isWatchedAction } from "./traffic";

export interface EventStats {
	service: string;
	event: string;
	pending: number | null;
	ackPending: number | null;
}

export interface Poll {
	nodes: NodeView[];
	/** Each answering node's `$node.traffic`. */
	traffic: TrafficSnapshot[];
	breakers: BreakerView[];
	business: Record<string, unknown>;
	events: EventStats[];
	deadLetters: Record<string, number>;
}

/** A node that does not answer within this is shown as down (a crash is seen before heartbeats). */
const POLL_TIMEOUT_MS = 800;

/**
 * A light poll (`full` false) asks only what the traffic history and the fault log need each
 * interval; the rest costs the services (counts over their tables, JetStream's consumer info)
 * and is asked only while someone watches.
 */
export async function poll(ctx: Context, full = true): Promise<Poll> {
	// Services come from `$node.services`: `$node.list`'s withServices holds circular objects.
	const [listed, serviceList] = await Promise.all([
		ctx.call<NodeInfo[], object>("$node.list", {}),
		ctx.call<{ name: string; nodeID: string }[], object>("$node.services", {
			skipInternal: true,
			grouping: false
		})
	]);
	const infos = listed.map(info => ({
		...info,
		services: serviceList.filter(s => s.nodeID === info.id).map(s => ({ name: s.name }))
	}));
	const ask = <T>(action: string, nodeID: string, params: object = {}) =>
		ctx
			.call<T, object>(action, params, { nodeID, timeout: POLL_TIMEOUT_MS, retries: 0 })
			.catch(() => null);
	const perNode = await Promise.all(
		infos.map(async info => {
			if (!info.available) return { info, health: null, traffic: null, actions: null };
			const [health, traffic, actions] = await Promise.all([
				ask<NodeHealth>("$node.health", info.id),
				ask<TrafficSnapshot>("$node.traffic", info.id),
				full
					? ask<ActionInfo[]>("$node.actions", info.id, {
							withEndpoints: true,
							skipInternal: true
						})
					: null
			]);
			return { info, health, traffic, actions };
		})
	);
	const nodes = perNode.map(n => nodeView(n.info, n.health));
	const services = new Set(full ? nodes.filter(n => n.up).flatMap(n => n.services) : []);

	const business: Record<string, unknown> = {};
	const events: EventStats[] = [];
	const deadLetters: Record<string, number> = {};
	const call = <T>(action: string) =>
		ctx.call<T, object>(action, {}, { timeout: POLL_TIMEOUT_MS, retries: 0 }).catch(() => null);
	await Promise.all(
		[...services].map(async service => {
			const has = (action: string) =>
				perNode.some(n => n.actions?.some(a => a.name === `${service}.${action}`));
			if (has("opsStats")) {
				const stats = await call<unknown>(`${service}.opsStats`);
				if (stats) business[service] = stats;
			}
			if (has("eventStats")) {
				const stats = await call<{
					consumers: Omit<EventStats, "service">[];
					deadLetters: number;
				}>(`${service}.eventStats`);
				if (!stats) return;
				for (const c of stats.consumers) events.push({ service, ...c });
				deadLetters[service] = stats.deadLetters;
			}
		})
	);
	events.sort((a, b) => `${a.service}.${a.event}`.localeCompare(`${b.service}.${b.event}`));

	return {
		nodes,
		traffic: perNode.flatMap(n => (n.traffic ? [n.traffic] : [])),
		breakers: breakerStates(
			perNode.flatMap(n => (n.actions ? [{ caller: n.info.id, actions: n.actions }] : [])),
			isWatchedAction
		),
		business,
		events,
		deadLetters
	};
}
