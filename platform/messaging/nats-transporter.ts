/**
 * Moleculer's NATS transporter with its publishes coalesced per event-loop turn (platform/messaging/coalesce.ts),
 * and (option `failover`) told by nats-server at once when the target of a request is gone.
 *
 * Coalescing: the nats client flushes what was published at the end of the current promise jobs:
 * the gateway sent one write to nats-server per HTTP request it read, and nats-server woke up for
 * each. Published from the check phase, every request read in one turn leaves in one write. Each
 * send still resolves or fails with its own publish.
 *
 * Failover: each request packet is published with a reply subject of its own in this node's inbox.
 * Moleculer answers on its RES topic and never uses it, so the packet stays what plain Moleculer
 * nodes (the REPL) send and read; but a subject nobody subscribes to is answered by nats-server
 * with an empty 503 "no responders" message on that reply subject. The server drops a node's
 * subscriptions the moment its connection drops, so a request to a dead node fails at once with
 * a NoRespondersError (it surely never reached a handler) and the node leaves the registry
 * through its public API, long before its heartbeats are missed. A request that stays unanswered
 * for a while has its node probed the same way (a PING packet with a reply subject).
 *
 * A frozen node (kill -STOP, a hung process) keeps its subscriptions, so nats-server cannot tell:
 * a probe it leaves without a PONG for `unresponsiveAfterMs` takes it off the registry too, but
 * only while every call pending on it has a twin to go to (an only instance, frozen, is left to
 * its callers' budgets and the breaker). Its next heartbeat brings it back.
 *
 * Registered as the transporter type "CoalescingNATS"; moleculer.config.ts uses it for nats://
 * URLs. Everything else (options, reconnects, subscriptions) is the stock NATS transporter.
 */
import { Errors, Transporters, type BrokerOptions, type ServiceBroker } from "moleculer";
import type { Msg, NatsConnection } from "nats";
import { coalesce, type Outcome } from "./coalesce";

interface PendingRequest {
	action: { name: string };
	nodeID: string;
	reject(err: unknown): void;
}

interface Transit {
	pendingRequests: Map<string, PendingRequest>;
	removePendingRequest(id: string): void;
}

interface Packet {
	type: string;
	target?: string | null;
	payload: { id?: string };
}

const NatsTransporter = Transporters.NATS as unknown as new (opts?: unknown) => {
	client: NatsConnection | null;
	broker: ServiceBroker;
	transit: Transit;
	nodeID: string;
	prefix: string;
	serialize(packet: unknown): Buffer;
	onConnected(wasReconnect?: boolean): Promise<void>;
	disconnect(): Promise<void>;
	send(topic: string, data: Buffer): Promise<void>;
};

/** The request surely never reached a handler: nats-server knew no subscriber for its node. */
export class NoRespondersError extends Errors.MoleculerRetryableError {
	constructor(action: string, nodeID: string) {
		super(`Node '${nodeID}' is gone: '${action}' was not delivered.`, 503, "NO_RESPONDERS", {
			action,
			nodeID
		});
		this.name = "NoRespondersError";
	}
}

/** A reply-subject token: Moleculer's context ids (UUIDs) qualify; anything else goes without. */
const TOKEN = /^[A-Za-z0-9_-]{1,128}$/;

export interface FailoverOptions {
	/** Publish requests with a reply subject and act on "no responders" (default true). */
	failover?: boolean;
	/** A request unanswered this long has its node probed for a subscription (ms). */
	probeAfterMs?: number;
	/** A probe without a PONG this long finds its node unresponsive (ms). */
	unresponsiveAfterMs?: number;
}

export class CoalescingNatsTransporter extends NatsTransporter {
	private readonly failover: boolean;
	private readonly probeAfterMs: number;
	private readonly unresponsiveAfterMs: number;
	private inbox?: string;
	/** Requests sent with a reply subject and not yet seen answered: id -> sent at (ms). */
	private readonly sentAt = new Map<string, number>();
	/** Probes sent: token -> the node probed and when. */
	private readonly probes = new Map<string, { nodeID: string; at: number }>();
	/** Nodes probed and silent since: neither a 503 nor a PONG from them since then. */
	private readonly silentSince = new Map<string, number>();
	/** Asked-for probes waiting for their answer: token -> how to settle them. */
	private readonly asked = new Map<string, (gone: boolean | undefined) => void>();
	/** Nodes found gone, until they are off the registry. */
	private readonly leaving = new Set<string>();
	private probeTimer?: NodeJS.Timeout;
	private probeSeq = 0;

	// (Not `publish`: the base transporter has a publish(packet) of its own.)
	private readonly sendLater = coalesce(
		(topic: string, data: Buffer, reply: string | undefined, outcome: Outcome) => {
			this.client?.publish(topic, data, reply ? { reply } : undefined);
			outcome.resolve();
		},
		(err: unknown, _topic: string, _data: Buffer, _reply: unknown, outcome: Outcome) =>
			outcome.reject(err)
	);

	constructor(opts: (FailoverOptions & Record<string, unknown>) | string = {}) {
		const {
			failover = true,
			probeAfterMs = 200,
			unresponsiveAfterMs = 3000,
			...rest
		} = typeof opts === "string" ? { url: opts } : opts;
		super(rest);
		this.failover = failover;
		this.probeAfterMs = probeAfterMs;
		this.unresponsiveAfterMs = unresponsiveAfterMs;
	}

	override onConnected(wasReconnect?: boolean): Promise<void> {
		if (this.failover && this.client && !this.inbox) this.watchInbox(this.client);
		return super.onConnected(wasReconnect);
	}

	override disconnect(): Promise<void> {
		clearInterval(this.probeTimer);
		this.inbox = undefined;
		return super.disconnect();
	}

	override send(topic: string, data: Buffer, meta?: { packet?: Packet }): Promise<void> {
		const packet = meta?.packet;
		if (packet?.type === "REQ" && packet.target && this.leaving.has(packet.target)) {
			// Not published: its node is known gone and is on its way out of the registry.
			this.refuse(packet.payload.id);
			return Promise.resolve();
		}
		const reply = this.replyFor(packet);
		return new Promise((resolve, reject) =>
			this.sendLater(topic, data, reply, { resolve, reject })
		);
	}

	private replyFor(packet: Packet | undefined): string | undefined {
		const id = packet?.payload.id;
		if (!this.inbox || packet?.type !== "REQ" || !packet.target || !id || !TOKEN.test(id))
			return undefined;
		this.sentAt.set(id, Date.now());
		return `${this.inbox}.r.${id}`;
	}

	/** One wildcard subscription receives every "no responders" status for this node. */
	private watchInbox(client: NatsConnection) {
		const inbox = `_INBOX.${client.info?.client_id ?? "c"}.${Math.random().toString(36).slice(2)}`;
		this.inbox = inbox;
		client.subscribe(`${inbox}.>`, {
			callback: (_err: unknown, msg: Msg) => this.onStatus(msg, inbox)
		});
		// A PONG to a probe (its id is the probe's token): the node is alive, merely slow.
		this.broker.localBus.on("$node.pong", (pong: { id?: unknown; nodeID?: string }) => {
			if (pong.nodeID) this.silentSince.delete(pong.nodeID);
			this.probes.delete(String(pong.id));
			this.asked.get(String(pong.id))?.(false);
		});
		// Each half of the delay: a call's node is probed within 1.5 times it.
		this.probeTimer = setInterval(() => this.probeSlowTargets(), this.probeAfterMs / 2);
		this.probeTimer.unref();
	}

	private onStatus(msg: Msg, inbox: string) {
		if (msg.headers?.code !== 503 || msg.data.length > 0) return;
		const [kind, token] = msg.subject.slice(inbox.length + 1).split(".");
		if (kind === "p") {
			const nodeID = this.probes.get(token)?.nodeID;
			this.probes.delete(token);
			if (nodeID) this.gone(nodeID);
			return;
		}
		if (kind === "q") {
			this.asked.get(token)?.(true);
			return;
		}
		const nodeID = this.refuse(token);
		if (nodeID) this.gone(nodeID);
	}

	/** Rejects a pending request that never reached its node; the node's id. */
	private refuse(id: string | undefined): string | undefined {
		if (!id) return undefined;
		this.sentAt.delete(id);
		const req = this.transit.pendingRequests.get(id);
		if (!req) return undefined;
		this.transit.removePendingRequest(id);
		req.reject(new NoRespondersError(req.action.name, req.nodeID));
		return req.nodeID;
	}

	/**
	 * Off the registry through its public API: the balancer stops choosing the node and its
	 * pending requests are rejected (REQUEST_REJECTED: those may have run). First a flush: the
	 * server answers in order, so once its PONG is back every request that never reached the
	 * node has had its 503, and only those that did are left pending. Meanwhile nothing more is
	 * sent to it. A heartbeat from it (a reconnect, not a death) brings it back through
	 * Moleculer's own rediscovery.
	 */
	private gone(nodeID: string) {
		if (nodeID === this.nodeID || this.leaving.has(nodeID) || !this.client) return;
		this.leaving.add(nodeID);
		this.client
			.flush()
			.catch(() => undefined)
			.then(() => {
				if (this.broker.registry.nodes.get(nodeID)?.available) {
					this.broker.logger.warn(`Node '${nodeID}' has no subscription on NATS: gone.`);
					this.broker.registry.nodes.disconnected(nodeID, true);
				}
			})
			.finally(() => this.leaving.delete(nodeID));
	}

	/** Whether probeNode can tell: failover on and connected. */
	get probing(): boolean {
		return this.client != null && this.inbox != null;
	}

	/**
	 * Whether `nodeID` is gone, asked of nats-server: true when it knows no subscriber for the
	 * node (answered at once), false on the node's PONG, undefined when neither came within `ms`
	 * (frozen, or too busy) or this transporter cannot tell (failover off, not connected).
	 */
	probeNode(nodeID: string, ms = 1000): Promise<boolean | undefined> {
		if (!this.probing) return Promise.resolve(undefined);
		const token = `q${++this.probeSeq}`;
		return new Promise(resolve => {
			const timer = setTimeout(() => settle(undefined), ms);
			const settle = (gone: boolean | undefined) => {
				clearTimeout(timer);
				this.asked.delete(token);
				if (gone) this.gone(nodeID);
				resolve(gone);
			};
			this.asked.set(token, settle);
			this.ping(nodeID, "q", token, () => settle(undefined));
		});
	}

	/**
	 * A PING packet with a reply subject of kind `kind` ("p": the sweep's, "q": asked for): the
	 * server answers it with a 503 there when the node has no subscription; the node with a PONG.
	 */
	private ping(nodeID: string, kind: "p" | "q", token: string, failed: () => void = () => {}) {
		const packet = { type: "PING", target: nodeID, payload: { time: Date.now(), id: token } };
		this.sendLater(
			`${this.prefix}.PING.${nodeID}`,
			this.serialize(packet),
			`${this.inbox}.${kind}.${token}`,
			{ resolve: () => undefined, reject: failed }
		);
	}

	/**
	 * Off the registry like a dead node when it answered no probe, but only if every call pending
	 * on it has another instance to go to: those the failover may re-send go there at once.
	 */
	private unresponsive(nodeID: string) {
		const node = this.broker.registry.nodes.get(nodeID);
		if (!node?.available || this.leaving.has(nodeID)) return;
		const actions = new Set<string>();
		for (const req of this.transit.pendingRequests.values())
			if (req.nodeID === nodeID) actions.add(req.action.name);
		const twinFor = (action: string) =>
			this.broker.registry
				.getActionEndpoints(action)
				?.endpoints.some(ep => ep.id !== nodeID && ep.isAvailable);
		if (actions.size === 0 || ![...actions].every(twinFor)) return;
		this.broker.logger.warn(
			`Node '${nodeID}' answered no ping for ${this.unresponsiveAfterMs} ms: taken off until it is heard from again.`
		);
		this.broker.registry.nodes.disconnected(nodeID, true);
	}

	/** A PING with a reply subject to the node of every request unanswered for a while. */
	private probeSlowTargets() {
		const pending = this.transit?.pendingRequests;
		if (!pending || !this.client || !this.inbox) return;
		const now = Date.now();
		const targets = new Set<string>();
		for (const [id, at] of this.sentAt) {
			const req = pending.get(id);
			if (!req) this.sentAt.delete(id);
			else if (at < now - this.probeAfterMs) targets.add(req.nodeID);
		}
		// A probe unanswered for a second found its node subscribed.
		for (const [token, probe] of this.probes)
			if (probe.at < now - 1000) this.probes.delete(token);
		for (const [nodeID, since] of this.silentSince)
			if (!targets.has(nodeID)) this.silentSince.delete(nodeID);
			else if (since < now - this.unresponsiveAfterMs) {
				// Subscribed (no 503) yet silent: frozen, or too busy to answer a ping.
				this.silentSince.delete(nodeID);
				this.unresponsive(nodeID);
			}
		for (const nodeID of targets) {
			if (!this.silentSince.has(nodeID)) this.silentSince.set(nodeID, now);
			const token = String(++this.probeSeq);
			this.probes.set(token, { nodeID, at: now });
			this.ping(nodeID, "p", token);
		}
	}
}

export const COALESCING_NATS = "CoalescingNATS";
Transporters.register(COALESCING_NATS, CoalescingNatsTransporter as never);

/**
 * The broker's `transporter` option for it: an option object, not an instance, so every broker
 * made from the same configuration gets its own. (Moleculer's types list only its own types.)
 */
export function coalescingNats(
	options: {
		url: string;
		[option: string]: unknown;
	} & FailoverOptions
): BrokerOptions["transporter"] {
	return { type: COALESCING_NATS, options } as unknown as BrokerOptions["transporter"];
}
