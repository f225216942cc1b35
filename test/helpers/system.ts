/**
 * The whole system (or a part of it) in one process, driven through HTTP like a real client.
 */
import type { Server } from "node:http";
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

export type Agent = ReturnType<typeof request>;

export interface System {
	broker: ServiceBroker;
	http: Agent;
	server: Server;
	stop(): Promise<void>;
	/** Register a customer and log in; returns the token and the user. */
	customer(
		name?: string
	): Promise<{ token: string; id: string; email: string; password: string }>;
	/** A logged-in admin (made through ADMIN_EMAIL/ADMIN_PASSWORD bootstrap). */
	admin(): Promise<{ token: string; id: string }>;
}

let counter = 0;

/** The services besides api and users (which every system has): with them, the whole shop. */
export const SHOP_SERVICES = [
	InventoryService,
	PaymentsService,
	OrdersService,
	NotificationsService
] as unknown as Partial<ServiceSchema<any>>[];

export const ADMIN = { email: "admin@shopmesh.test", password: "admin-password-1" };

export async function startSystem(
	services: Partial<ServiceSchema<any>>[] = [],
	opts: { logger?: boolean } = {}
): Promise<System> {
	process.env.ADMIN_EMAIL = ADMIN.email;
	process.env.ADMIN_PASSWORD = ADMIN.password;
	resetSettings();

	const broker = new ServiceBroker({
		...brokerConfig,
		nodeID: `test-${process.pid}-${++counter}`,
		transporter: null,
		logger: opts.logger ?? false,
		// The operator console's traffic is `$node.traffic` (the config's meter), not these.
		metrics: false,
		tracing: false
	});
	broker.createService(ApiService as ServiceSchema);
	broker.createService(UsersService as unknown as ServiceSchema);
	for (const svc of services) broker.createService(svc as ServiceSchema);
	await broker.start();

	const server: Server = (broker.getLocalService("api") as any).server;
	const http = request(server);

	const system: System = {
		broker,
		http,
		server,
		stop: () => broker.stop(),
		async customer(name = "Customer") {
			const n = ++counter;
			const email = `customer${n}-${Date.now()}@shopmesh.test`;
			const password = `password-${n}-ok`;
			const reg = await http.post("/api/users").send({ email, password, name });
			if (reg.status !== 201)
				throw new Error(`register failed: ${reg.status} ${JSON.stringify(reg.body)}`);
			const login = await http.post("/api/users/login").send({ email, password });
			return { token: login.body.token, id: reg.body.id, email, password };
		},
		async admin() {
			const login = await http.post("/api/users/login").send(ADMIN);
			if (login.status !== 200) throw new Error(`admin login failed: ${login.status}`);
			return { token: login.body.token, id: login.body.user.id };
		}
	};
	return system;
}

export const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

/** The body of every 500: nothing of the failure itself reaches the client. */
export const INTERNAL_ERROR_BODY = {
	name: "InternalServerError",
	message: "Internal server error",
	code: 500,
	type: "INTERNAL_ERROR"
};
