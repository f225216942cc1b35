/**
 * The OpenAPI 3.1 document of the public API, generated from what the code declares:
 *
 * - the gateway's routes and aliases (api.service.ts settings, the route table routes.ts);
 * - each published action's `params` (fastest-validator, turned into JSON Schema), `auth` and
 *   `roles`, as the service registry knows them (remote actions included: their definitions
 *   travel in the INFO packets);
 * - the answers (openapi-schemas.ts): success bodies and the error `type`s of each action, plus
 *   the errors the gateway itself produces (auth, limits, unavailable services).
 *
 * Pure functions; the gateway (docs.ts) and `npm run openapi` (scripts/openapi.ts) feed them.
 */
import type { ServiceBroker } from "moleculer";
import { ErrorTypes, type ErrorType } from "../../contracts/errors";
import { paramsToSchema, type JsonSchema } from "./json-schema";
import {
	ACTION_DOCS,
	ERROR_DATA,
	SCHEMAS,
	type ActionDoc,
	type HeaderDoc
} from "./openapi-schemas";

/** What the document needs of an action definition. */
export interface ActionDef {
	name: string;
	params?: Record<string, unknown>;
	auth?: "required" | "optional";
	roles?: string[];
}

/** One alias the gateway serves. */
export interface GatewayAlias {
	method: string;
	/** Path below the API base, in the gateway's syntax (`/orders/:id`). */
	path: string;
	/** The action it calls; absent for the gateway's own handlers (health, docs...). */
	action?: string;
	route: {
		name: string;
		authentication: boolean;
		rateLimited: boolean;
	};
}

/** The part of the gateway's settings the document is made from. */
export interface GatewaySettings {
	path?: string;
	routes?: {
		name?: string;
		path?: string;
		aliases?: Record<string, unknown>;
		authentication?: boolean;
		rateLimit?: unknown;
	}[];
}

/** A gateway-owned operation (an alias with a function handler). */
export interface GatewayOperation {
	summary: string;
	description?: string;
	tag: string;
	responses: Record<number, { description: string; content: Record<string, JsonSchema> }>;
	parameters?: JsonSchema[];
}

export interface BuildInput {
	basePath: string;
	aliases: GatewayAlias[];
	/** Action definitions by name (from the registry, or from the service schemas). */
	actions: Map<string, ActionDef>;
	/** Descriptions of the gateway's own aliases, by `METHOD /path`. */
	gatewayOperations: Record<string, GatewayOperation>;
	version: string;
	actionDocs?: Record<string, ActionDoc>;
}

export interface BuildResult {
	document: OpenApiDocument;
	/** Everything that could not be documented exactly. Empty when all is well. */
	warnings: string[];
}

export type OpenApiDocument = {
	openapi: string;
	info: Record<string, unknown>;
	servers: { url: string; description?: string }[];
	tags: { name: string; description?: string }[];
	paths: Record<string, Record<string, JsonSchema>>;
	components: Record<string, Record<string, JsonSchema>>;
};

const METHODS = new Set(["GET", "POST", "PUT", "PATCH", "DELETE"]);
const BODY_METHODS = new Set(["POST", "PUT", "PATCH"]);

const TAGS: Record<string, string> = {
	users: "Accounts, authentication and profiles",
	inventory: "Catalog, stock and shipments",
	payments: "Card payments and refunds",
	orders: "Placing, cancelling and tracking orders",
	notifications: "The customer's inbox",
	gateway: "Health, readiness and this documentation"
};

const ERROR_DESCRIPTIONS: Partial<Record<ErrorType, string>> = {
	UNAUTHORIZED: "no, or an invalid or expired, bearer token",
	FORBIDDEN: "the caller's role may not do this",
	VALIDATION_ERROR: "a parameter failed validation; `data` names each field",
	INVALID_JSON: "the body is not valid JSON",
	PAYLOAD_TOO_LARGE: "the body exceeds the gateway's limit (BODY_LIMIT)",
	UNSUPPORTED_MEDIA_TYPE: "the body's encoding or charset is not supported",
	RATE_LIMITED: "too many requests from this client; see `Retry-After`",
	SERVICE_UNAVAILABLE: "a service needed for this request is not available",
	TIMEOUT: "a service did not answer in time",
	INTERNAL_ERROR: "an unexpected failure (never with details)"
};

const STATUS_TEXT: Record<number, string> = {
	200: "OK",
	201: "Created",
	400: "Bad Request",
	401: "Unauthorized",
	402: "Payment Required",
	403: "Forbidden",
	404: "Not Found",
	409: "Conflict",
	413: "Payload Too Large",
	415: "Unsupported Media Type",
	422: "Unprocessable Content",
	429: "Too Many Requests",
	500: "Internal Server Error",
	503: "Service Unavailable",
	504: "Gateway Timeout"
};

/** `/orders/:id/cancel` -> `/orders/{id}/cancel`, and the names of its path parameters. */
export function toOpenApiPath(path: string): { path: string; params: string[] } {
	const params: string[] = [];
	const out = path
		.split("/")
		.map(segment => {
			if (/[*?(){}]/.test(segment))
				throw new Error(`Unsupported alias path syntax in '${path}'`);
			if (!segment.startsWith(":")) return segment;
			const name = segment.slice(1);
			if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name))
				throw new Error(`Unsupported path parameter '${segment}' in '${path}'`);
			params.push(name);
			return `{${name}}`;
		})
		.join("/");
	return { path: out, params };
}

const joinPaths = (...parts: string[]) =>
	"/" +
	parts
		.flatMap(p => p.split("/"))
		.filter(Boolean)
		.join("/");

/** Every alias of the gateway's routes, as moleculer-web registers them. */
export function gatewayAliases(settings: GatewaySettings): {
	basePath: string;
	aliases: GatewayAlias[];
} {
	const aliases: GatewayAlias[] = [];
	for (const route of settings.routes ?? []) {
		for (const [key, target] of Object.entries(route.aliases ?? {})) {
			const match = /^([A-Z]+)\s+(\S+)$/.exec(key.trim());
			if (!match || !METHODS.has(match[1]))
				throw new Error(`Alias '${key}' needs an explicit method (GET, POST, ...)`);
			const action = typeof target === "string" ? target : undefined;
			if (action === undefined && typeof target !== "function")
				throw new Error(`Alias '${key}' is neither an action name nor a handler`);
			aliases.push({
				method: match[1],
				path: joinPaths(route.path ?? "/", match[2]),
				action,
				route: {
					name: route.name ?? route.path ?? "/",
					authentication: route.authentication === true,
					rateLimited: Boolean(route.rateLimit)
				}
			});
		}
	}
	return { basePath: joinPaths(settings.path ?? "/"), aliases };
}

/** The definitions of the published actions the registry knows, local and remote. */
export function actionsFromRegistry(broker: ServiceBroker): Map<string, ActionDef> {
	const out = new Map<string, ActionDef>();
	const list = broker.registry.getActionList({ withActions: true, skipInternal: true } as never);
	for (const item of list as { name: string; action?: Record<string, unknown> }[]) {
		if (!item.action) continue;
		out.set(item.name, pickAction(item.name, item.action));
	}
	return out;
}

function pickAction(name: string, def: Record<string, unknown>): ActionDef {
	const action: ActionDef = { name };
	if (def.params && typeof def.params === "object")
		action.params = def.params as Record<string, unknown>;
	if (def.auth === "required" || def.auth === "optional") action.auth = def.auth;
	if (Array.isArray(def.roles)) action.roles = def.roles.map(String);
	return action;
}

interface SchemaLike {
	name?: string;
	mixins?: unknown[];
	actions?: Record<string, unknown>;
}

/**
 * The action definitions of service schemas as the broker would register them (mixins first,
 * the schema's own actions over them, `false` removing one), without starting anything.
 */
export function actionsFromSchemas(schemas: SchemaLike[]): Map<string, ActionDef> {
	const out = new Map<string, ActionDef>();
	for (const schema of schemas) {
		if (!schema.name) throw new Error("A service schema without a name");
		for (const [name, def] of Object.entries(mergedActions(schema)))
			out.set(`${schema.name}.${name}`, pickAction(`${schema.name}.${name}`, def));
	}
	return out;
}

function mergedActions(schema: SchemaLike): Record<string, Record<string, unknown>> {
	const merged: Record<string, Record<string, unknown>> = {};
	for (const mixin of schema.mixins ?? [])
		if (mixin && typeof mixin === "object")
			Object.assign(merged, mergedActions(mixin as SchemaLike));
	for (const [name, def] of Object.entries(schema.actions ?? {})) {
		if (def === false) delete merged[name];
		else if (typeof def === "function") merged[name] = {};
		else if (def && typeof def === "object")
			merged[name] = { ...merged[name], ...(def as Record<string, unknown>) };
	}
	return merged;
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: JsonSchema) => ({ "application/json": { schema } });

/** The schema of an error answer with one of these types. */
function errorSchema(status: number, types: ErrorType[]): JsonSchema {
	const parts: JsonSchema[] = [
		ref("Error"),
		{
			type: "object",
			properties: {
				code: { const: status },
				type: types.length === 1 ? { const: types[0] } : { enum: types }
			}
		}
	];
	if (status >= 500) parts.push({ type: "object", not: { type: "object", required: ["data"] } });
	for (const type of types) {
		const data = ERROR_DATA[type];
		if (data)
			parts.push({
				type: "object",
				if: { type: "object", properties: { type: { const: type } }, required: ["type"] },
				then: { type: "object", properties: { data } }
			});
	}
	return { allOf: parts };
}

function errorResponse(status: number, types: ErrorType[]): JsonSchema {
	const list = types
		.map(t => (ERROR_DESCRIPTIONS[t] ? `\`${t}\`: ${ERROR_DESCRIPTIONS[t]}` : `\`${t}\``))
		.join("; ");
	const response: JsonSchema = {
		description: `${STATUS_TEXT[status] ?? "Error"}. ${list}`,
		content: json(errorSchema(status, types))
	};
	if (status === 401)
		response.headers = {
			"WWW-Authenticate": {
				description: '`Bearer realm="shopmesh"`',
				schema: { type: "string" }
			}
		};
	if (status === 429)
		response.headers = {
			"Retry-After": {
				description: "seconds until the client may try again",
				schema: { type: "integer", minimum: 1 }
			}
		};
	return response;
}

const operationId = (action: string) =>
	action.replace(/[.-]([a-zA-Z0-9])/g, (_m, c: string) => c.toUpperCase());

/** The operation of an alias that calls an action. */
function actionOperation(
	alias: GatewayAlias,
	action: ActionDef | undefined,
	doc: ActionDoc,
	pathParams: string[],
	warnings: string[]
): JsonSchema {
	const name = alias.action!;
	const service = name.split(".")[0];
	const where = `${alias.method} ${alias.path} (${name})`;
	const hasBody = BODY_METHODS.has(alias.method);

	const converted = action?.params
		? paramsToSchema(action.params)
		: { schema: { type: "object", properties: {} } as JsonSchema, warnings: [] };
	for (const w of converted.warnings) warnings.push(`${where}: ${w}`);
	if (!action) warnings.push(`${where}: the action is not known (its service was never seen)`);

	const properties = { ...(converted.schema.properties as Record<string, JsonSchema>) };
	const required = new Set((converted.schema.required as string[] | undefined) ?? []);

	const parameters: JsonSchema[] = pathParams.map(p => {
		const schema = properties[p];
		if (action && !schema) warnings.push(`${where}: path parameter '${p}' is not in params`);
		delete properties[p];
		required.delete(p);
		return { name: p, in: "path", required: true, schema: schema ?? { type: "string" } };
	});

	let requestBody: JsonSchema | undefined;
	if (hasBody) {
		if (Object.keys(properties).length > 0 || !action) {
			const body: JsonSchema = { ...converted.schema, properties };
			if (required.size > 0) body.required = [...required];
			else delete body.required;
			requestBody = {
				required: required.size > 0,
				content: json(body)
			};
		}
	} else {
		for (const [p, schema] of Object.entries(properties))
			parameters.push({ name: p, in: "query", required: required.has(p), schema });
	}
	for (const header of doc.headers ?? []) parameters.push(headerParameter(header));

	// Errors: the service's own, then the gateway's.
	const errors = new Map<number, Set<ErrorType>>();
	const add = (status: number, type: ErrorType) => {
		if (!errors.has(status)) errors.set(status, new Set());
		errors.get(status)!.add(type);
	};
	for (const [status, types] of Object.entries(doc.errors ?? {}))
		for (const type of types ?? []) add(Number(status), type);
	// The gateway reads the JSON body of every call with one (route bodyParsers or middleware).
	if (hasBody) {
		add(400, ErrorTypes.INVALID_JSON);
		add(413, ErrorTypes.PAYLOAD_TOO_LARGE);
		add(415, ErrorTypes.UNSUPPORTED_MEDIA_TYPE);
	}
	if (alias.route.authentication) add(401, ErrorTypes.UNAUTHORIZED);
	if (action?.roles?.length) add(403, ErrorTypes.FORBIDDEN);
	if (!action || action.params) add(422, ErrorTypes.VALIDATION_ERROR);
	if (alias.route.rateLimited) add(429, ErrorTypes.RATE_LIMITED);
	add(500, ErrorTypes.INTERNAL_ERROR);
	add(503, ErrorTypes.SERVICE_UNAVAILABLE);
	add(504, ErrorTypes.TIMEOUT);

	const success = doc.status ?? 200;
	const responses: Record<string, JsonSchema> = {
		[success]: { description: STATUS_TEXT[success] ?? "Success", content: json(doc.body) }
	};
	if (doc.alsoStatus)
		responses[doc.alsoStatus.status] = {
			description: doc.alsoStatus.description,
			content: json(doc.body)
		};
	for (const status of [...errors.keys()].sort((a, b) => a - b))
		responses[status] = errorResponse(status, [...errors.get(status)!]);

	const access = action?.roles?.length
		? `Requires a bearer token with role ${action.roles.map(r => `\`${r}\``).join(" or ")}.`
		: action?.auth === "required"
			? "Requires a bearer token."
			: action?.auth === "optional"
				? "A bearer token is optional and may change the answer; a token that is sent must be valid."
				: "Public; a token that is sent must be valid.";

	const op: JsonSchema = {
		operationId: operationId(name),
		tags: [service],
		summary: doc.summary,
		description: [doc.description, access].filter(Boolean).join("\n\n"),
		"x-moleculer-action": name
	};
	if (action?.roles?.length) op["x-roles"] = action.roles;
	if (!action) op["x-undiscovered"] = true;
	if (action?.auth === "required" || action?.roles?.length) op.security = [{ bearerAuth: [] }];
	else if (action?.auth === "optional") op.security = [{}, { bearerAuth: [] }];
	if (parameters.length > 0) op.parameters = parameters;
	if (requestBody) op.requestBody = requestBody;
	op.responses = responses;
	return op;
}

function headerParameter(header: HeaderDoc): JsonSchema {
	return {
		name: header.name,
		in: "header",
		required: false,
		description: header.description,
		schema: header.schema
	};
}

function gatewayOperation(alias: GatewayAlias, op: GatewayOperation): JsonSchema {
	const key = `${alias.method} ${alias.path}`;
	const responses: Record<string, JsonSchema> = {};
	for (const [status, r] of Object.entries(op.responses))
		responses[status] = {
			description: r.description,
			content: Object.fromEntries(
				Object.entries(r.content).map(([type, schema]) => [type, { schema }])
			)
		};
	if (alias.route.rateLimited) responses[429] = errorResponse(429, [ErrorTypes.RATE_LIMITED]);
	const out: JsonSchema = {
		operationId: operationId(
			`gateway-${key
				.split(" ")[1]
				.replace(/[^A-Za-z0-9]+/g, "-")
				.replace(/^-|-$/g, "")}`
		),
		tags: [op.tag],
		summary: op.summary
	};
	if (op.description) out.description = op.description;
	if (op.parameters) out.parameters = op.parameters;
	out.responses = responses;
	return out;
}

/** The whole document. Deterministic: the same input gives the same document. */
export function buildOpenApi(input: BuildInput): BuildResult {
	const warnings: string[] = [];
	const docs = input.actionDocs ?? ACTION_DOCS;
	const paths: Record<string, Record<string, JsonSchema>> = {};
	const tags = new Set<string>();

	for (const alias of input.aliases) {
		const { path, params } = toOpenApiPath(alias.path);
		const method = alias.method.toLowerCase();
		const entry = (paths[path] ??= {});
		if (entry[method]) throw new Error(`Two aliases for ${alias.method} ${alias.path}`);

		if (alias.action) {
			const doc = docs[alias.action];
			if (!doc) {
				warnings.push(
					`${alias.method} ${alias.path}: no entry for ${alias.action} in ACTION_DOCS`
				);
				continue;
			}
			entry[method] = actionOperation(
				alias,
				input.actions.get(alias.action),
				doc,
				params,
				warnings
			);
			tags.add(alias.action.split(".")[0]);
		} else {
			const key = `${alias.method} ${alias.path}`;
			const op = input.gatewayOperations[key];
			if (!op) {
				warnings.push(`${key}: a gateway handler without a description`);
				continue;
			}
			entry[method] = gatewayOperation(alias, op);
			tags.add(op.tag);
		}
	}
	for (const path of Object.keys(paths))
		if (Object.keys(paths[path]).length === 0) delete paths[path];

	const document: OpenApiDocument = {
		openapi: "3.1.0",
		info: {
			title: "shopmesh API",
			version: input.version,
			summary: "The public REST API of the shopmesh e-commerce backend",
			description:
				"Generated at start-up from the gateway's routes and the services' action declarations (params, auth, roles).\n\n" +
				"Money is integer minor units (`priceCents`, `totalCents`) plus an ISO currency code. " +
				"Every error is `{ name, message, code, type, data? }` with the HTTP status in `code`; clients switch on `type`, never on `message`.",
			license: { name: "MIT", identifier: "MIT" }
		},
		servers: [{ url: input.basePath, description: "this gateway" }],
		tags: [...tags].map(name => ({ name, description: TAGS[name] ?? name })),
		paths,
		components: {
			schemas: SCHEMAS,
			securitySchemes: {
				bearerAuth: {
					type: "http",
					scheme: "bearer",
					bearerFormat: "JWT",
					description: "The `token` of `POST /users/login`."
				}
			}
		}
	};
	return { document, warnings };
}
