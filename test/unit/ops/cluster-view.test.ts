import {
	FaultLog,
	breakerStates,
	nodeChanges,
	nodeView,
	serviceInstances
} from "../../../services/api/ops/cluster-view";

const health = { cpu: { utilization: 12 }, process: { uptime: 30, memory: { rss: 5e7 } } };
const node = (id: string, services: string[], up = true) =>
	nodeView(
		{ id, available: true, hostname: "h", services: services.map(name => ({ name })) },
		up ? health : null
	);

describe("cluster view", () => {
	it("shows a node's services without the internal $node", () => {
		const v = nodeView(
			{ id: "n1", available: true, services: [{ name: "orders" }, { name: "$node" }] },
			health
		);
		expect(v).toEqual({
			id: "n1",
			hostname: "",
			up: true,
			services: ["orders"],
			cpu: 12,
			rssBytes: 5e7,
			uptimeSec: 30
		});
	});

	it("counts instances on nodes that answer, and keeps a service seen before at 0", () => {
		const nodes = [
			node("a", ["orders", "users"]),
			node("b", ["orders"]),
			node("c", ["inventory"], false)
		];
		expect(serviceInstances(nodes, ["notifications"])).toEqual([
			{ name: "inventory", instances: 0 },
			{ name: "notifications", instances: 0 },
			{ name: "orders", instances: 2 },
			{ name: "users", instances: 1 }
		]);
	});

	it("logs a node that stops answering and answers again", () => {
		const before = [node("a", ["x"]), node("b", ["y"], false)];
		const after = [node("a", ["x"], false), node("b", ["y"])];
		expect(nodeChanges(before, after)).toEqual([
			{ kind: "node-unresponsive", text: "a stopped answering" },
			{ kind: "node-answering", text: "b answers again" }
		]);
	});

	it("reads each caller's endpoints as breaker states", () => {
		const b = breakerStates(
			[
				{
					caller: "gw",
					actions: [
						{ name: "orders.create", endpoints: [{ nodeID: "o1", state: false }] },
						{ name: "$node.list", endpoints: [{ nodeID: "o1", state: true }] }
					]
				}
			],
			a => !a.startsWith("$")
		);
		expect(b).toEqual([{ caller: "gw", action: "orders.create", nodeID: "o1", state: "open" }]);
	});

	it("keeps the newest faults first, at most `size`", () => {
		const log = new FaultLog(2);
		log.add("node-left", "a", new Date(1000));
		log.add("node-joined", "b", new Date(2000));
		log.add("dead-letter", "c", new Date(3000));
		expect(log.list().map(f => [f.text, f.at])).toEqual([
			["c", new Date(3000).toISOString()],
			["b", new Date(2000).toISOString()]
		]);
	});
});
