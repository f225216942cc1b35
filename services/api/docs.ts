/**
 * The gateway's documentation routes: the OpenAPI document at `GET /openapi.json` and a browsable
 * Swagger UI at `GET /docs`, whose assets come from the pinned swagger-ui-dist package in
 * node_modules (no CDN: the page works offline and loads nothing from elsewhere).
 *
 * OpenApiMixin builds the document when the gateway starts and again whenever the services change
 * (`$services.changed`), from the route table and the action definitions in the registry.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import path from "node:path";
import type { ServiceSchema } from "moleculer";
import pkg from "../../package.json";
import { OPS_OPERATIONS } from "./ops-console";
import { sendListedFile, sendPage, type ListedFile } from "./static-files";
import {
	actionsFromRegistry,
	buildOpenApi,
	gatewayAliases,
	type ActionDef,
	type GatewayOperation,
	type GatewaySettings,
	type OpenApiDocument
} from "./openapi";

const UI_DIR = path.dirname(require.resolve("swagger-ui-dist/package.json"));

/** The files of swagger-ui-dist the page loads, with their content types. Nothing else is served. */
export const UI_FILES: Record<string, string> = {
	"swagger-ui.css": "text/css; charset=utf-8",
	"swagger-ui-bundle.js": "text/javascript; charset=utf-8",
	"favicon-32x32.png": "image/png",
	"favicon-16x16.png": "image/png"
};
/** The same files, where each is. */
const UI_LISTED: Record<string, ListedFile> = Object.fromEntries(
	Object.entries(UI_FILES).map(([name, type]) => [name, { file: path.join(UI_DIR, name), type }])
);
/** Our own start-up script for the page (inline scripts are forbidden by the page's CSP). */
export const INIT_FILE = "init.js";
export const DOCS_ASSETS = [...Object.keys(UI_FILES), INIT_FILE];

/** The page may load its own assets and call this API; nothing from anywhere else. */
export const DOCS_CSP =
	"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export function docsPage(basePath: string): string {
	const base = basePath.replace(/\/$/, "");
	return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>shopmesh API</title>
<link rel="stylesheet" href="${base}/docs/swagger-ui.css">
<link rel="icon" type="image/png" href="${base}/docs/favicon-32x32.png" sizes="32x32">
<link rel="icon" type="image/png" href="${base}/docs/favicon-16x16.png" sizes="16x16">
</head>
<body>
<div id="swagger-ui"></div>
<script src="${base}/docs/swagger-ui-bundle.js"></script>
<script src="${base}/docs/${INIT_FILE}"></script>
</body>
</html>
`;
}

export function docsInitScript(basePath: string): string {
	const base = basePath.replace(/\/$/, "");
	return `window.addEventListener("load", function () {
	window.ui = SwaggerUIBundle({
		url: ${JSON.stringify(`${base}/openapi.json`)},
		dom_id: "#swagger-ui",
		deepLinking: true,
		validatorUrl: null,
		presets: [SwaggerUIBundle.presets.apis],
		layout: "BaseLayout"
	});
});
`;
}

/** Descriptions of the gateway's own aliases (api.service.ts probes and the docs routes below). */
export const GATEWAY_OPERATIONS: Record<string, GatewayOperation> = {
	...OPS_OPERATIONS,
	"GET /health": {
		tag: "gateway",
		summary: "Liveness of the gateway",
		responses: {
			200: {
				description: "The gateway process is up",
				content: { "application/json": { $ref: "#/components/schemas/Health" } }
			}
		}
	},
	"GET /ready": {
		tag: "gateway",
		summary: "Which services the gateway can reach",
		description: "503 while a required service (READY_REQUIRES) is missing.",
		responses: {
			200: {
				description: "Every required service is reachable",
				content: { "application/json": { $ref: "#/components/schemas/Readiness" } }
			},
			503: {
				description: "A required service is missing",
				content: { "application/json": { $ref: "#/components/schemas/Readiness" } }
			}
		}
	},
	"GET /openapi.json": {
		tag: "gateway",
		summary: "This document (OpenAPI 3.1)",
		responses: {
			200: {
				description: "The OpenAPI document",
				content: {
					"application/json": {
						type: "object",
						required: ["openapi", "info", "paths"],
						properties: {
							openapi: { type: "string", pattern: "^3\\.1\\." },
							info: { type: "object" },
							paths: { type: "object" }
						}
					}
				}
			}
		}
	},
	"GET /docs": {
		tag: "gateway",
		summary: "Browsable documentation (Swagger UI)",
		responses: {
			200: {
				description: "An HTML page",
				content: { "text/html": { type: "string" } }
			}
		}
	},
	"GET /docs/:asset": {
		tag: "gateway",
		summary: "A file of the documentation page",
		parameters: [
			{
				name: "asset",
				in: "path",
				required: true,
				schema: { enum: DOCS_ASSETS }
			}
		],
		responses: {
			200: {
				description: "The file",
				content: {
					"text/css": { type: "string" },
					"text/javascript": { type: "string" },
					"image/png": { type: "string", contentMediaType: "image/png" }
				}
			},
			404: {
				description: "No such file. `NOT_FOUND`",
				content: { "application/json": { $ref: "#/components/schemas/Error" } }
			}
		}
	}
};

type Req = IncomingMessage & { $params?: Record<string, unknown> };
type Res = ServerResponse;

/** The docs aliases, for a route at the gateway's root. `this` is the api service. */
export const DOCS_ALIASES = {
	"GET /openapi.json"(this: any, _req: Req, res: Res) {
		res.setHeader("Cache-Control", "no-cache");
		this.sendJSON(res, 200, this.openapiDocument());
	},
	"GET /docs"(this: any, _req: Req, res: Res) {
		sendPage(res, DOCS_CSP, docsPage(this.settings.path ?? "/"));
	},
	"GET /docs/:asset"(this: any, req: Req, res: Res) {
		const asset = String(req.$params?.asset ?? "");
		if (asset === INIT_FILE) {
			res.statusCode = 200;
			res.setHeader("Content-Type", "text/javascript; charset=utf-8");
			res.end(docsInitScript(this.settings.path ?? "/"));
			return;
		}
		sendListedFile(this, req, res, UI_LISTED, asset, {
			cacheControl: "public, max-age=3600",
			missing: "No such documentation file"
		});
	}
};

interface OpenApiState {
	document: OpenApiDocument | null;
	/** Every action definition seen so far: a service that went away stays documented. */
	known: Map<string, ActionDef>;
	warnings: string;
	timer?: NodeJS.Timeout;
}

/** Keeps the gateway's OpenAPI document current. Mixed into the api service. */
export function OpenApiMixin(): Partial<ServiceSchema> {
	return {
		events: {
			"$services.changed"(this: any) {
				const state: OpenApiState = this.openapi;
				// A node leaving, or a twin joining, changes no definition (known ones are kept):
				// no rebuild, which blocks the gateway's event loop with requests in flight.
				const same = (name: string, def: ActionDef) =>
					JSON.stringify(state.known.get(name)) === JSON.stringify(def);
				if ([...actionsFromRegistry(this.broker)].every(([n, d]) => same(n, d))) return;
				state.document = null;
				clearTimeout(state.timer);
				// Several services usually change at once (a node joins): rebuild once after them.
				state.timer = setTimeout(() => this.openapiDocument(), 500);
				state.timer.unref();
			}
		},

		methods: {
			openapiDocument(this: any): OpenApiDocument {
				const state: OpenApiState = this.openapi;
				if (state.document) return state.document;
				for (const [name, def] of actionsFromRegistry(this.broker))
					state.known.set(name, def);
				const { basePath, aliases } = gatewayAliases(this.settings as GatewaySettings);
				const { document, warnings } = buildOpenApi({
					basePath,
					aliases,
					actions: state.known,
					gatewayOperations: GATEWAY_OPERATIONS,
					version: pkg.version
				});
				const summary = warnings.join("\n");
				if (summary !== state.warnings) {
					state.warnings = summary;
					if (warnings.length > 0)
						this.logger.info(
							`OpenAPI document: ${warnings.length} part(s) not documented exactly (debug log lists them)`
						);
					for (const w of warnings) this.logger.debug(`OpenAPI: ${w}`);
				}
				state.document = document;
				return document;
			}
		},

		created(this: any) {
			const state: OpenApiState = { document: null, known: new Map(), warnings: "" };
			this.openapi = state;
		},

		started(this: any) {
			this.openapiDocument();
		},

		stopped(this: any) {
			clearTimeout((this.openapi as OpenApiState).timer);
		}
	};
}
