/**
 * `npm run openapi [file]`: write the OpenAPI document to a file (default openapi.json), for
 * publishing or generating clients. It is the document the gateway serves at /api/openapi.json
 * when every service runs, made from the same code without starting anything (no database, no
 * port, no broker).
 *
 * Exits 1, writing nothing, when something could not be documented exactly.
 */
import fs from "node:fs";
import path from "node:path";
import ApiService from "../services/api/api.service";
import { GATEWAY_OPERATIONS } from "../services/api/docs";
import {
	actionsFromSchemas,
	buildOpenApi,
	gatewayAliases,
	type GatewaySettings,
	type OpenApiDocument
} from "../services/api/openapi";
import InventoryService from "../services/inventory/inventory.service";
import NotificationsService from "../services/notifications/notifications.service";
import OrdersService from "../services/orders/orders.service";
import PaymentsService from "../services/payments/payments.service";
import UsersService from "../services/users/users.service";
import pkg from "../package.json";

/** The document of the whole system, from the service schemas. */
export function systemDocument(): { document: OpenApiDocument; warnings: string[] } {
	const { basePath, aliases } = gatewayAliases(ApiService.settings as GatewaySettings);
	return buildOpenApi({
		basePath,
		aliases,
		actions: actionsFromSchemas([
			UsersService,
			InventoryService,
			PaymentsService,
			OrdersService,
			NotificationsService
		] as never[]),
		gatewayOperations: GATEWAY_OPERATIONS,
		version: pkg.version
	});
}

function main(argv: string[]) {
	const file = path.resolve(argv[0] ?? "openapi.json");
	const { document, warnings } = systemDocument();
	if (warnings.length > 0) {
		for (const w of warnings) console.error(`openapi: ${w}`);
		console.error("openapi: the document is incomplete; nothing written.");
		process.exit(1);
	}
	fs.mkdirSync(path.dirname(file), { recursive: true });
	fs.writeFileSync(file, JSON.stringify(document, null, "\t") + "\n");
	const operations = Object.values(document.paths).reduce((n, p) => n + Object.keys(p).length, 0);
	console.log(
		`openapi: ${operations} operations written to ${path.relative(process.cwd(), file)}`
	);
}

if (require.main === module) main(process.argv.slice(2));
