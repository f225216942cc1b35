/**
 * ops: what the operator console (GET /api/ops) shows. It polls the cluster through the broker
 * every OPS_INTERVAL_MS (collector.ts), keeps a short traffic history per action from every
 * node's `$node.traffic` (traffic.ts) and a fault log fed by the broker's events. What only the
 * console shows (breakers, business and event figures) is polled while it is watched.
 * Read by the gateway only (`snapshot`); who may see it is the gateway's check (admins).
 */
import { settings } from "../../../platform/runtime/settings";
import type { Context, Service, ServiceSchema } from "moleculer";
import { DEAD_LETTERED_EVENT } from "../../../platform/messaging/durable-events.mixin";
import { FaultLog, nodeChanges, serviceInstances, type FaultKind } from "./cluster-view";
import { poll, type Poll } from "./collector";
import { TrafficHistory, actionCounters } from "./traffic";

interface OpsSettings {
	intervalMs: number;
	/** Samples kept per action: intervalMs x historySize is the charts' span. */
	historySize: number;
	/** A console counts as watching this long after it last asked for a snapshot (ms). */
	watchedMs: number;
}

interface OpsVars {
	history: TrafficHistory;
	faults: FaultLog;
	last?: Poll & { at: string };
	known: Set<string>;
	timer?: NodeJS.Timeout;
	polling?: Promise<void>;
	/** When the last full poll ended, and until when a console counts as watching (ms). */
	fullAt: number;
	watchedUntil: number;
	pollNow(full: boolean): Promise<void>;
	pollOnce(full: boolean): Promise<void>;
	fault(kind: FaultKind, text: string): void;
}
type OpsThis = Service<OpsSettings> & OpsVars;

type BreakerEvent = Context<{ nodeID: string; action: string }>;

const OpsService = {
	name: "ops",

	settings: {
		...settings().ops,
		watchedMs: 30_000
	},

	actions: {
		/** Everything the console shows, as of the last poll. */
		snapshot: {
			visibility: "public",
			params: {},
			async handler(this: OpsThis) {
				this.watchedUntil = Date.now() + this.settings.watchedMs;
				// Unwatched until now (or the first poll ran before `$node` was up): poll fully first.
				if (Date.now() - this.fullAt > 2 * this.settings.intervalMs)
					await this.pollNow(true);
				const last = this.last;
				const traffic = this.history.view();
				return {
					at: last?.at ?? null,
					nodes: last?.nodes ?? [],
					services: serviceInstances(last?.nodes ?? [], this.known),
					traffic,
					// Endpoints of the actions that had traffic, and every open one.
					breakers: (last?.breakers ?? []).filter(
						b => b.state === "open" || b.action in traffic.actions
					),
					business: last?.business ?? {},
					events: last?.events ?? [],
					deadLetters: last?.deadLetters ?? {},
					faults: this.faults.list()
				};
			}
		}
	},

	events: {
		"$node.connected"(this: OpsThis, ctx: Context<{ node: { id: string } }>) {
			this.fault("node-joined", `${ctx.params.node.id} joined`);
		},
		"$node.disconnected"(
			this: OpsThis,
			ctx: Context<{ node: { id: string }; unexpected: boolean }>
		) {
			const how = ctx.params.unexpected ? "was lost (no heartbeat)" : "left";
			this.fault("node-left", `${ctx.params.node.id} ${how}`);
		},
		"$circuit-breaker.opened"(this: OpsThis, ctx: BreakerEvent) {
			this.fault(
				"breaker-opened",
				`${ctx.nodeID}: ${ctx.params.action} on ${ctx.params.nodeID} opened`
			);
		},
		"$circuit-breaker.half-opened"(this: OpsThis, ctx: BreakerEvent) {
			this.fault(
				"breaker-half-opened",
				`${ctx.nodeID}: ${ctx.params.action} on ${ctx.params.nodeID} half-open`
			);
		},
		"$circuit-breaker.closed"(this: OpsThis, ctx: BreakerEvent) {
			this.fault(
				"breaker-closed",
				`${ctx.nodeID}: ${ctx.params.action} on ${ctx.params.nodeID} closed`
			);
		},
		[DEAD_LETTERED_EVENT](
			this: OpsThis,
			ctx: Context<{ service: string; event: string; error: string }>
		) {
			const { service, event, error } = ctx.params;
			this.fault("dead-letter", `${event} dead-lettered in ${service}: ${error}`);
		}
	},

	methods: {
		/** A poll after the one running, if any: polls never overlap. Never rejects. */
		async pollNow(this: OpsThis, full: boolean) {
			while (this.polling) await this.polling;
			this.polling = this.pollOnce(full)
				.catch(err => this.logger.warn(`ops poll failed: ${(err as Error).message}`))
				.finally(() => (this.polling = undefined));
			return this.polling;
		},

		/** One poll; a light one keeps the figures of the last full one. */
		async pollOnce(this: OpsThis, full: boolean) {
			const ctx = this.broker.ContextFactory.create(this.broker, null as never, {}, {});
			const next = await poll(ctx as Context, full);
			const at = Date.now();
			const last = this.last;
			if (last)
				for (const c of nodeChanges(last.nodes, next.nodes)) this.fault(c.kind, c.text);
			for (const n of next.nodes) for (const s of n.services) this.known.add(s);
			this.history.record(at, actionCounters(next.traffic));
			const kept =
				full || !last
					? {}
					: {
							breakers: last.breakers,
							business: last.business,
							events: last.events,
							deadLetters: last.deadLetters
						};
			this.last = { ...next, ...kept, at: new Date(at).toISOString() };
			if (full) this.fullAt = at;
		},

		fault(this: OpsThis, kind: FaultKind, text: string) {
			this.faults.add(kind, text);
		}
	},

	created(this: OpsThis) {
		this.history = new TrafficHistory(this.settings.historySize);
		this.faults = new FaultLog(200);
		this.known = new Set();
		this.fullAt = 0;
		this.watchedUntil = 0;
	},

	started(this: OpsThis) {
		// A tick while a poll runs is skipped, not queued.
		const tick = () => {
			if (!this.polling) void this.pollNow(Date.now() < this.watchedUntil);
		};
		tick();
		this.timer = setInterval(tick, this.settings.intervalMs);
	},

	async stopped(this: OpsThis) {
		clearInterval(this.timer);
		await this.polling;
	}
} satisfies ServiceSchema<OpsSettings, any, any, OpsThis>;

export default OpsService;
