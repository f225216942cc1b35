/**
 * The OpenAPI generator: paths, parameters, bodies, security and responses from routes and
 * action definitions; and the documentation tables cover exactly the published actions.
 */
import { ACTION_DOCS } from "../../../services/api/openapi-schemas";
import {
	actionsFromSchemas,
	buildOpenApi,
	gatewayAliases,
	toOpenApiPath,
	type ActionDef,
	type GatewayAlias
} from "../../../services/api/openapi";
import { GATEWAY_OPERATIONS } from "../../../services/api/docs";
import ApiService from "../../../services/api/api.service";
import { ROUTES } from "../../../services/api/routes";
import { IdParam, PageParams } from "../../../contracts/params";
import { lint, responseValidator, validate } from "../../contract/openapi-tools";
import { systemDocument } from "../../../scripts/openapi";

const rest = { name: "rest", authentication: true, rateLimited: true };

function build(aliases: GatewayAlias[], actions: ActionDef[]) {
	return buildOpenApi({
		basePath: "/api",
		aliases,
		actions: new Map(actions.map(a => [a.name, a])),
		gatewayOperations: GATEWAY_OPERATIONS,
		version: "1.2.3",
		actionDocs: {
			"things.get": {
				summary: "One thing",
				body: { type: "object" },
				errors: { 404: ["NOT_FOUND"] }
			},
			"things.list": { summary: "Things", body: { type: "object" } },
			"things.create": { summary: "Make one", status: 201, body: { type: "object" } }
		}
	});
}

describe("toOpenApiPath", () => {
	it("turns :params into {params} and names them", () => {
		expect(toOpenApiPath("/orders/:id/cancel")).toEqual({
			path: "/orders/{id}/cancel",
			params: ["id"]
		});
		expect(toOpenApiPath("/users/me")).toEqual({ path: "/users/me", params: [] });
	});

	it("refuses syntax it cannot express rather than document a wrong path", () => {
		expect(() => toOpenApiPath("/files/*rest")).toThrow(/Unsupported/);
		expect(() => toOpenApiPath("/u{/:name}")).toThrow(/Unsupported/);
	});
});

describe("gatewayAliases", () => {
	it("lists every alias of every route under the base path with its route's traits", () => {
		const health = () => undefined;
		const { basePath, aliases } = gatewayAliases({
			path: "/api",
			routes: [
				{
					name: "probes",
					path: "/",
					aliases: { "GET /health": health }
				},
				{
					name: "rest",
					path: "/v1",
					authentication: true,
					rateLimit: { limit: 1 },
					aliases: { "POST /things": "things.create" }
				}
			]
		});
		expect(basePath).toBe("/api");
		expect(aliases).toEqual([
			{
				method: "GET",
				path: "/health",
				action: undefined,
				route: {
					name: "probes",
					authentication: false,
					rateLimited: false
				}
			},
			{
				method: "POST",
				path: "/v1/things",
				action: "things.create",
				route: { name: "rest", authentication: true, rateLimited: true }
			}
		]);
	});

	it("refuses aliases without an explicit method", () => {
		expect(() => gatewayAliases({ routes: [{ aliases: { "/x": "a.b" } }] })).toThrow(/method/);
	});
});

describe("actionsFromSchemas", () => {
	it("merges mixins first, the schema's own actions over them, and false removes one", () => {
		const mixin = {
			actions: {
				find: { params: { q: "string" } },
				get: { params: { id: "string" } }
			}
		};
		const actions = actionsFromSchemas([
			{
				name: "things",
				mixins: [mixin],
				actions: {
					find: false,
					get: { auth: "required" },
					list: { roles: ["admin"], auth: "required", params: { ...PageParams } },
					ping: () => "pong"
				}
			}
		]);
		expect([...actions.keys()].sort()).toEqual(["things.get", "things.list", "things.ping"]);
		expect(actions.get("things.get")).toEqual({
			name: "things.get",
			params: { id: "string" },
			auth: "required"
		});
		expect(actions.get("things.list")?.roles).toEqual(["admin"]);
	});
});

describe("buildOpenApi", () => {
	const get = { method: "GET", path: "/things/:id", action: "things.get", route: rest };
	const list = { method: "GET", path: "/things", action: "things.list", route: rest };
	const create = { method: "POST", path: "/things", action: "things.create", route: rest };
	const actions: ActionDef[] = [
		{ name: "things.get", auth: "required", params: { id: IdParam } },
		{ name: "things.list", auth: "optional", params: { ...PageParams, q: "string|optional" } },
		{
			name: "things.create",
			auth: "required",
			roles: ["admin"],
			params: { name: { type: "string", min: 1 }, note: "string|optional" }
		}
	];

	it("puts path params in the path, GET params in the query, others in a JSON body", () => {
		const { document, warnings } = build([get, list, create], actions);
		expect(warnings).toEqual([]);
		expect(document.servers).toEqual([{ url: "/api", description: "this gateway" }]);
		expect(document.paths["/things/{id}"].get.parameters).toEqual([
			{
				name: "id",
				in: "path",
				required: true,
				schema: { type: "string", minLength: 1, maxLength: 64, pattern: "^[A-Za-z0-9_-]+$" }
			}
		]);
		expect(document.paths["/things"].get.parameters).toEqual([
			{
				name: "page",
				in: "query",
				required: false,
				schema: { type: "integer", minimum: 1, maximum: 10000, default: 1 }
			},
			{
				name: "pageSize",
				in: "query",
				required: false,
				schema: { type: "integer", minimum: 1, maximum: 100, default: 20 }
			},
			{ name: "q", in: "query", required: false, schema: { type: "string" } }
		]);
		const post = document.paths["/things"].post;
		expect(post.parameters).toBeUndefined();
		expect(post.requestBody).toEqual({
			required: true,
			content: {
				"application/json": {
					schema: {
						type: "object",
						properties: {
							name: { type: "string", minLength: 1 },
							note: { type: "string" }
						},
						required: ["name"]
					}
				}
			}
		});
	});

	it("declares security, roles and the errors auth, roles, bodies and limits can cause", () => {
		const { document } = build([get, list, create], actions);
		const post = document.paths["/things"].post;
		expect(post.security).toEqual([{ bearerAuth: [] }]);
		expect(post["x-roles"]).toEqual(["admin"]);
		expect(Object.keys(post.responses as object)).toEqual([
			"201",
			"400",
			"401",
			"403",
			"413",
			"415",
			"422",
			"429",
			"500",
			"503",
			"504"
		]);
		const getOp = document.paths["/things/{id}"].get;
		expect(Object.keys(getOp.responses as object)).toEqual([
			"200",
			"401",
			"404",
			"422",
			"429",
			"500",
			"503",
			"504"
		]);
		expect(document.paths["/things"].get.security).toEqual([{}, { bearerAuth: [] }]);
		const notFound = (getOp.responses as any)["404"].content["application/json"].schema;
		expect(notFound.allOf[1]).toEqual({
			type: "object",
			properties: { code: { const: 404 }, type: { const: "NOT_FOUND" } }
		});
		const unavailable = (getOp.responses as any)["503"].content["application/json"].schema;
		expect(unavailable.allOf).toContainEqual({
			type: "object",
			not: { type: "object", required: ["data"] }
		});
	});

	it("does not declare 429 where the route has no rate limit", () => {
		const open = { ...get, route: { ...rest, rateLimited: false } };
		const { document } = build([open], actions);
		expect(document.paths["/things/{id}"].get.responses).not.toHaveProperty("429");
	});

	it("documents the gateway's own handlers from their table, with 429 where rate-limited", () => {
		const health = { method: "GET", path: "/health", route: { ...rest, name: "probes" } };
		const { document, warnings } = build([health], actions);
		expect(warnings).toEqual([]);
		const op = document.paths["/health"].get;
		expect(op.operationId).toBe("gatewayHealth");
		expect(Object.keys(op.responses as object)).toEqual(["200", "429"]);
		const limited = build([{ ...health, route: { ...health.route, rateLimited: false } }], []);
		expect(Object.keys(limited.document.paths["/health"].get.responses as object)).toEqual([
			"200"
		]);
	});

	it("documents an action it has not seen with what it knows, and says so", () => {
		const { document, warnings } = build([get], []);
		expect(warnings).toEqual([
			"GET /things/:id (things.get): the action is not known (its service was never seen)"
		]);
		const op = document.paths["/things/{id}"].get;
		expect(op["x-undiscovered"]).toBe(true);
		expect(op.parameters).toEqual([
			{ name: "id", in: "path", required: true, schema: { type: "string" } }
		]);
	});

	it("warns about aliases with nothing to say about them, and leaves them out", () => {
		const { document, warnings } = build(
			[
				{ method: "GET", path: "/mystery", action: "things.mystery", route: rest },
				{ method: "GET", path: "/handler", route: { ...rest, name: "x" } }
			],
			actions
		);
		expect(warnings).toEqual([
			"GET /mystery: no entry for things.mystery in ACTION_DOCS",
			"GET /handler: a gateway handler without a description"
		]);
		expect(document.paths).toEqual({});
	});

	it("makes a valid OpenAPI 3.1 document", () => {
		const { document } = build([get, list, create], actions);
		expect(validate(document)).toEqual({ ok: true, openapi: "3.1.0" });
		expect(lint(document)).toEqual([]);
	});
});

describe("documentation tables", () => {
	it("describe every action of the route table, and nothing else", () => {
		expect(Object.keys(ACTION_DOCS).sort()).toEqual([...new Set(Object.values(ROUTES))].sort());
	});

	it("describe every handler alias of the gateway", () => {
		const { aliases } = gatewayAliases(ApiService.settings as never);
		const handlers = aliases.filter(a => !a.action).map(a => `${a.method} ${a.path}`);
		expect(handlers.sort()).toEqual(Object.keys(GATEWAY_OPERATIONS).sort());
	});
});

describe("the checks of the contract test", () => {
	const { document } = systemDocument();
	const doc = JSON.parse(JSON.stringify(document));

	it("refuse a body that is not what the document declares", () => {
		const contract = responseValidator(doc);
		const user = {
			id: "u1",
			email: "a@b.co",
			name: "A",
			role: "customer",
			createdAt: "2024-01-01T00:00:00.000Z",
			updatedAt: "2024-01-01T00:00:00.000Z"
		};
		expect(contract.check("/users/me", "get", 200, user)).toBeNull();
		expect(contract.check("/users/me", "get", 200, { ...user, passwordHash: "x" })).toMatch(
			/additional properties/
		);
		expect(contract.check("/users/me", "get", 200, { ...user, role: "root" })).toMatch(
			/allowed values/
		);
		expect(contract.check("/users/me", "get", 418, {})).toMatch(/does not declare 418/);
		const err = { name: "E", message: "m", code: 404, type: "ORDER_NOT_FOUND" };
		expect(contract.check("/orders/{id}", "get", 404, err)).toBeNull();
		expect(contract.check("/orders/{id}", "get", 404, { ...err, type: "NOT_FOUND" })).toMatch(
			/type must be equal to constant/
		);
		const unavailable = { name: "E", message: "m", code: 503, type: "SERVICE_UNAVAILABLE" };
		expect(contract.check("/orders", "get", 503, unavailable)).toBeNull();
		expect(contract.check("/orders", "get", 503, { ...unavailable, data: {} })).not.toBeNull();
		const declined = { name: "E", message: "m", code: 402, type: "CARD_DECLINED" };
		expect(
			contract.check("/orders", "post", 402, { ...declined, data: { orderId: "o" } })
		).toBeNull();
		expect(
			contract.check("/orders", "post", 402, { ...declined, data: { card: "4242" } })
		).not.toBeNull();
	});

	it("find wrong path parameters and misspelt schema keywords", () => {
		const broken = structuredClone(doc);
		broken.paths["/orders/{id}"].get.parameters = [];
		broken.components.schemas.User.properties.name = { type: "string", minlenght: 1 };
		const problems = lint(broken);
		expect(problems).toContainEqual(
			expect.stringMatching(/get \/orders\/\{id\}: path parameters/)
		);
		expect(problems).toContainEqual(expect.stringMatching(/User.*minlenght/));
	});

	it("find a document swagger-parser refuses", () => {
		const broken = structuredClone(doc);
		delete broken.info;
		expect(validate(broken).ok).toBe(false);
	});

	it("accept the system's document", () => {
		expect(systemDocument().warnings).toEqual([]);
		expect(validate(doc)).toEqual({ ok: true, openapi: "3.1.0" });
		expect(lint(doc)).toEqual([]);
	});
});
