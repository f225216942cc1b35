/**
 * The public REST API: every route the gateway serves, and the action behind it.
 *
 * The table is the public contract: a service cannot publish a route by accident, and a route
 * whose service is down answers 503 instead of vanishing. Who may call each action is declared
 * on the action itself (`auth`, `roles`); see README.md for the same table with auth and errors.
 */
export const ROUTES: Record<string, string> = {
	// users
	"POST /users": "users.register",
	"POST /users/login": "users.login",
	"GET /users/me": "users.me",
	"PATCH /users/me": "users.updateMe",
	"POST /users/me/password": "users.changePassword",
	"GET /users": "users.list",

	// inventory: catalog
	"GET /products": "inventory.listProducts",
	"GET /products/:id": "inventory.getProduct",
	"POST /products": "inventory.createProduct",
	"PATCH /products/:id": "inventory.updateProduct",
	"POST /products/:id/stock": "inventory.adjustStock",

	// inventory: shipping
	"GET /shipments": "inventory.listShipments",
	"GET /shipments/:id": "inventory.getShipment",
	"POST /shipments/:id/ship": "inventory.shipShipment",
	"POST /shipments/:id/deliver": "inventory.deliverShipment",

	// payments
	"GET /payments": "payments.list",
	"GET /payments/:id": "payments.get",
	"POST /payments/:id/refund": "payments.refundPayment",

	// orders
	"POST /orders": "orders.create",
	"GET /orders": "orders.list",
	"GET /orders/:id": "orders.get",
	"POST /orders/:id/cancel": "orders.cancel",
	"GET /orders/:id/tracking": "orders.tracking",

	// notifications
	"GET /notifications": "notifications.list",
	"POST /notifications/:id/read": "notifications.markRead"
};

/** Paths the gateway serves outside the table (probes, the API's own documentation). */
const OTHER_ROUTES = [
	"GET /health",
	"GET /ready",
	"GET /openapi.json",
	"GET /docs",
	"GET /docs/:asset",
	"GET /ops",
	"GET /ops/assets/:asset",
	"GET /ops/snapshot",
	"GET /ops/stream"
];

const ALL_ROUTES = [...Object.keys(ROUTES), ...OTHER_ROUTES].map(route => {
	const [method, path] = route.split(" ");
	return { method, segments: path.split("/").filter(Boolean) };
});

/** The methods the gateway serves at `path` (under its `/api`), `:param` segments matching any. */
export function allowedMethods(path: string): string[] {
	const segments = path.split("/").filter(Boolean);
	const methods = new Set<string>();
	for (const route of ALL_ROUTES)
		if (
			route.segments.length === segments.length &&
			route.segments.every((s, i) => s.startsWith(":") || s === segments[i])
		)
			methods.add(route.method);
	return [...methods];
}
