/**
 * Shared setup of the security suite: the whole system (api, users, inventory, payments, orders,
 * notifications) in one process, started through test/helpers/system.ts with the environment a
 * test file asks for.
 *
 * Settings are read from process.env when the modules load (the gateway reads its CORS and rate
 * limits at import), so each system is loaded in its own jest module registry after its
 * environment is set: one file may start several systems with different settings.
 */
import { randomBytes } from "node:crypto";
import http from "node:http";
import type { ServiceSchema } from "moleculer";
import { eventually } from "../helpers/eventually";
import type { System } from "../helpers/system";

/** The JWT secret of every security test system: known to the tests, so they can forge tokens. */
export const JWT_SECRET = `security-suite-${randomBytes(16).toString("hex")}`;
export const JWT_ISSUER = "shopmesh";
export const JWT_AUDIENCE = "shopmesh-api";

export const CARDS = {
	ok: "4242424242424242",
	declined: "4000000000000002",
	badLuhn: "4242424242424241"
};

export const card = (cardNumber = CARDS.ok, cvc = "123") => ({
	cardNumber,
	expMonth: 12,
	expYear: new Date().getUTCFullYear() + 3,
	cvc
});

export const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

export interface Loaded {
	helpers: typeof import("../helpers/system");
	brokerConfig: typeof import("../../moleculer.config").default;
	moleculer: typeof import("moleculer");
	/** inventory, payments, orders, notifications (api and users come with startSystem). */
	services: Partial<ServiceSchema<any>>[];
	api: Partial<ServiceSchema<any>>;
	users: Partial<ServiceSchema<any>>;
}

/** Set the environment, then load the system's modules in a fresh module registry. */
export function loadSystem(env: Record<string, string | undefined> = {}): Loaded {
	const all: Record<string, string | undefined> = { JWT_SECRET, SEED_CATALOG: "false", ...env };
	for (const [name, value] of Object.entries(all)) {
		if (value === undefined) delete process.env[name];
		else process.env[name] = value;
	}
	let loaded: Loaded | undefined;
	jest.isolateModules(() => {
		const load = <T extends object>(path: string): T => jest.requireActual<T>(path);
		const service = (path: string) =>
			load<{ default: Partial<ServiceSchema<any>> }>(path).default;
		loaded = {
			helpers: load("../helpers/system"),
			brokerConfig: load<{ default: Loaded["brokerConfig"] }>("../../moleculer.config")
				.default,
			moleculer: load("moleculer"),
			services: [
				service("../../services/inventory/inventory.service"),
				service("../../services/payments/payments.service"),
				service("../../services/orders/orders.service"),
				service("../../services/notifications/notifications.service"),
				// The operator console's data, as `npm start` runs it with the gateway.
				service("../../services/api/ops/ops.service")
			],
			api: service("../../services/api/api.service"),
			users: service("../../services/users/users.service")
		};
	});
	return loaded!;
}

export interface Shop extends System {
	/** A product made by the admin through POST /api/products. */
	product(stock?: number, priceCents?: number): Promise<{ id: string; priceCents: number }>;
	/** POST /api/orders. */
	order(
		token: string,
		items: { productId: string; quantity: number }[],
		payment?: ReturnType<typeof card>
	): ReturnType<System["http"]["post"]>;
	/** A confirmed order of a customer, and the ids of its payment and shipment. */
	paidOrder(token: string): Promise<{ orderId: string; paymentId: string; shipmentId: string }>;
	adminToken: string;
}

let skus = 0;

/** Every service in one process, with an admin logged in. */
export async function startShop(env: Record<string, string | undefined> = {}): Promise<Shop> {
	const { helpers, services } = loadSystem(env);
	const sys = await helpers.startSystem(services);
	let adminToken: string;
	try {
		adminToken = (await sys.admin()).token;
	} catch (err) {
		await sys.stop();
		throw err;
	}

	const shop: Shop = {
		...sys,
		adminToken,
		async product(stock = 100, priceCents = 1500) {
			const res = await sys.http
				.post("/api/products")
				.set(bearer(adminToken))
				.send({
					sku: `SEC-${++skus}-${Date.now()}`,
					name: `Security test product ${skus}`,
					priceCents,
					currency: "EUR",
					stock
				});
			if (res.status !== 201)
				throw new Error(`product: ${res.status} ${JSON.stringify(res.body)}`);
			return res.body;
		},
		order(token, items, payment = card()) {
			return sys.http.post("/api/orders").set(bearer(token)).send({ items, payment });
		},
		async paidOrder(token) {
			const p = await shop.product();
			const res = await shop.order(token, [{ productId: p.id, quantity: 1 }]);
			if (res.status !== 201)
				throw new Error(`order: ${res.status} ${JSON.stringify(res.body)}`);
			const orderId: string = res.body.id;
			const payments = await sys.http
				.get(`/api/payments?orderId=${orderId}`)
				.set(bearer(token));
			const shipmentId = await eventually(async () => {
				const s = await sys.http
					.get(`/api/shipments?orderId=${orderId}`)
					.set(bearer(token));
				return s.body.rows?.[0]?.id as string | undefined;
			});
			return { orderId, paymentId: payments.body.rows[0].id, shipmentId };
		}
	};
	return shop;
}

export { eventually };

/**
 * An HTTP agent whose connections come from another loopback address (127.0.0.0/8 is all
 * loopback on Linux): a second "client" as the gateway's per-client limits see it.
 */
export function clientAgent(address: string): http.Agent {
	return new http.Agent({ localAddress: address, keepAlive: false });
}

/** A well-formed id that no document has (NeDB ids are 16 alphanumerics). */
export function guessedId(): string {
	return randomBytes(12)
		.toString("base64")
		.replace(/[^A-Za-z0-9]/g, "x")
		.slice(0, 16);
}
