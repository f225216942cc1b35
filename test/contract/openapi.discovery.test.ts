/**
 * The document of a gateway whose services run on other nodes: it is made from the action
 * definitions discovery brings (params, auth, roles travel in the INFO packets), follows the
 * services as they come and go, and says the same as the embedded system's document, except
 * for RegExp `pattern`s, which discovery cannot carry (moleculer sends node info as plain JSON).
 *
 * Two brokers in one process over moleculer's in-memory Fake transporter, which serializes
 * every packet like a real one.
 */
import { ServiceBroker, type ServiceSchema } from "moleculer";
import request from "supertest";
import brokerConfig from "../../moleculer.config";
import { resetSettings } from "../../platform/runtime/settings";
import ApiService from "../../services/api/api.service";
import InventoryService from "../../services/inventory/inventory.service";
import NotificationsService from "../../services/notifications/notifications.service";
import OrdersService from "../../services/orders/orders.service";
import PaymentsService from "../../services/payments/payments.service";
import UsersService from "../../services/users/users.service";
import { systemDocument } from "../../scripts/openapi";
import { lint, validate } from "./openapi-tools";

const SERVICES = ["users", "inventory", "payments", "orders", "notifications"];
const namespace = `openapi-${process.pid}-${Date.now()}`;

function broker(nodeID: string) {
	return new ServiceBroker({
		...brokerConfig,
		namespace,
		nodeID,
		transporter: "Fake",
		logger: false,
		metrics: false,
		tracing: false,
		heartbeatInterval: 1,
		heartbeatTimeout: 3
	});
}

/** Where two JSON values differ, as `path: local -> remote`. */
function differences(local: unknown, remote: unknown, path = ""): string[] {
	if (JSON.stringify(local) === JSON.stringify(remote)) return [];
	if (
		local &&
		remote &&
		typeof local === "object" &&
		typeof remote === "object" &&
		Array.isArray(local) === Array.isArray(remote)
	) {
		const keys = new Set([...Object.keys(local), ...Object.keys(remote)]);
		return [...keys].flatMap(k =>
			differences((local as any)[k], (remote as any)[k], `${path}/${k}`)
		);
	}
	return [`${path}: ${JSON.stringify(local)} -> ${JSON.stringify(remote)}`];
}

const gateway = broker("openapi-gateway");
const services = broker("openapi-services");
let http: ReturnType<typeof request>;

beforeAll(async () => {
	resetSettings();
	gateway.createService(ApiService as ServiceSchema);
	for (const svc of [
		UsersService,
		InventoryService,
		PaymentsService,
		OrdersService,
		NotificationsService
	])
		services.createService(svc as unknown as ServiceSchema);
	await gateway.start();
	http = request((gateway.getLocalService("api") as any).server);
});
afterAll(async () => {
	if (services.started) await services.stop();
	await gateway.stop();
});

const operations = (doc: any) =>
	Object.values(doc.paths).flatMap((item: any) => Object.values(item)) as any[];

describe("a gateway with its services on another node", () => {
	it("documents every route before the services are seen, marking them undiscovered", async () => {
		const res = await http.get("/api/openapi.json");
		expect(res.status).toBe(200);
		const undiscovered = operations(res.body).filter(op => op["x-undiscovered"]);
		expect(undiscovered.map(op => op["x-moleculer-action"]).sort()).toEqual(
			operations(systemDocument().document)
				.map(op => op["x-moleculer-action"])
				.filter(Boolean)
				.sort()
		);
		expect(validate(res.body).ok).toBe(true);
	});

	it("documents the remote actions' params, auth and roles once they are discovered", async () => {
		await services.start();
		await gateway.waitForServices(SERVICES, 10_000);
		const res = await http.get("/api/openapi.json");
		expect(operations(res.body).filter(op => op["x-undiscovered"])).toEqual([]);
		expect(validate(res.body)).toEqual({ ok: true, openapi: "3.1.0" });
		expect(lint(res.body)).toEqual([]);

		const local = JSON.parse(JSON.stringify(systemDocument().document));
		const diff = differences(local, res.body);
		// Only RegExp patterns are lost on the way; everything else arrives.
		for (const d of diff) expect(d).toMatch(/\/pattern: "[^"]+" -> undefined$/);
		expect(res.body.paths["/payments/{id}/refund"].post["x-roles"]).toEqual(["admin"]);
	});

	it("keeps documenting the services' routes after they leave", async () => {
		const before = (await http.get("/api/openapi.json")).body;
		await services.stop();
		await new Promise<void>((resolve, reject) => {
			const until = Date.now() + 10_000;
			const poll = () => {
				const left = gateway.registry
					.getServiceList({ onlyAvailable: true })
					.every(s => !SERVICES.includes(s.name));
				if (left) return resolve();
				if (Date.now() > until) return reject(new Error("services still listed"));
				setTimeout(poll, 50);
			};
			poll();
		});
		const after = await http.get("/api/openapi.json");
		expect(after.body).toEqual(before);
		const answer = await http.get("/api/products");
		expect([answer.status, answer.body.type]).toEqual([503, "SERVICE_UNAVAILABLE"]);
	});
});
