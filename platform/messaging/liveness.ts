/**
 * Whether another node is gone, for a service that finds work a node recorded as its own (an
 * order's saga in flight) and must choose between waiting for that node and taking the work over.
 * Gone means surely gone: off the registry, or nats-server knows no subscriber for it. A node that
 * is merely silent (frozen, too busy to answer a ping) is not gone: its work is waited for.
 */
import type { ServiceBroker } from "moleculer";
import { CoalescingNatsTransporter } from "./nats-transporter";

export async function nodeIsGone(
	broker: ServiceBroker,
	nodeID: string | undefined,
	ms = 1000
): Promise<boolean> {
	// No node recorded (an older document), or this one: nothing to take over from.
	if (nodeID == null || nodeID === broker.nodeID) return false;
	const node = broker.registry.nodes.get(nodeID);
	if (!node?.available) return true;
	const tx = (broker.transit as { tx?: unknown } | undefined)?.tx;
	if (tx instanceof CoalescingNatsTransporter) return (await tx.probeNode(nodeID, ms)) === true;
	// Another transporter: a node that answers no ping at all is taken for gone.
	return (await broker.ping(nodeID, ms)) == null;
}
