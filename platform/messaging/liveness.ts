/**
 * Whether another node is gone, for a service that finds work a node recorded as its own (an
 * order's saga in flight, a payment's lease) and must choose between waiting for that node and
 * taking the work over. Gone means surely gone: off the registry, or nats-server knows no
 * subscriber for it. A node that is merely silent (frozen, too busy to answer a ping within `ms`)
 * is not gone; whether its work is waited for is the caller's choice (nodeIsGone or nodeIsOut).
 */
import type { ServiceBroker } from "moleculer";
import { CoalescingNatsTransporter } from "./nats-transporter";

type NodeState = "self" | "gone" | "silent" | "alive";

async function nodeState(
	broker: ServiceBroker,
	nodeID: string | undefined,
	ms: number
): Promise<NodeState> {
	// No node recorded (an older document), or this one: nothing to take over from.
	if (nodeID == null || nodeID === broker.nodeID) return "self";
	const node = broker.registry.nodes.get(nodeID);
	if (!node?.available) return "gone";
	const tx = (broker.transit as { tx?: unknown } | undefined)?.tx;
	if (tx instanceof CoalescingNatsTransporter && tx.probing) {
		const gone = await tx.probeNode(nodeID, ms);
		return gone === true ? "gone" : gone === false ? "alive" : "silent";
	}
	// Another transporter: a node that answers no ping at all is taken for gone.
	return (await broker.ping(nodeID, ms)) == null ? "gone" : "alive";
}

export async function nodeIsGone(
	broker: ServiceBroker,
	nodeID: string | undefined,
	ms = 1000
): Promise<boolean> {
	return (await nodeState(broker, nodeID, ms)) === "gone";
}

/**
 * Gone, or silent: for work that a second taker may safely do again (every step idempotent,
 * every record conditional), where waiting for a frozen node would fail its callers.
 */
export async function nodeIsOut(
	broker: ServiceBroker,
	nodeID: string | undefined,
	ms = 1000
): Promise<boolean> {
	const state = await nodeState(broker, nodeID, ms);
	return state === "gone" || state === "silent";
}
