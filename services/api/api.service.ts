/**
 * api: the only public entry. Routes REST calls to the services' published actions (each action
 * declares its own `rest` route), authenticates, authorizes, rate-limits and shapes every error.
 * No business rules live here.
 */
import type { Context, ServiceSchema } from "moleculer";
import ApiGateway from "moleculer-web";
import { coalesce } from "../../platform/messaging/coalesce";
import {
	forRequestsWithBody,
	limitBodySize,
	parseBytes,
	rejectDeepJson,
	requireJsonBody
} from "../../platform/http/body-limits";
import { FROM_IO } from "../../platform/messaging/fair-scheduling";
import { listen } from "../../platform/http/listen";
import { closeRateLimitStores, redisStoreFactory } from "../../platform/http/rate-limit";
import { logsAt } from "../../platform/runtime/logging";
import { settings } from "../../platform/runtime/settings";
import type { AuthMeta } from "../../types/moleculer";
import { AnswerMethods, refuseWhileDraining, securityHeaders } from "./answers";
import { AuthMethods } from "./authentication";
import { DOCS_ALIASES, OpenApiMixin } from "./docs";
import { OPS_ALIASES, OpsConsoleMixin } from "./ops-console";
import { readiness } from "./readiness";
import { clientKey, idempotencyKey, safeRequestId, type Req, type Res } from "./request-headers";
import { ROUTES } from "./routes";

const cfg = settings();
type GatewayMethod = (this: unknown, ...args: unknown[]) => void;
const ApiGatewayMethods = (ApiGateway as unknown as { methods: Record<string, GatewayMethod> })
	.methods;

/**
 * Requests per client and window on the API routes (RATE_LIMIT_MAX=0 turns it off): in Redis
 * when RATE_LIMIT_REDIS_URL is set (one budget for every gateway, platform/http/rate-limit.ts), in this
 * gateway's memory otherwise.
 */
const rateLimit =
	cfg.rateLimit.limit > 0
		? {
				window: cfg.rateLimit.window,
				limit: cfg.rateLimit.limit,
				headers: true,
				key: clientKey,
				...(cfg.rateLimit.redisUrl
					? {
							StoreFactory: redisStoreFactory(
								cfg.rateLimit.redisUrl,
								`shopmesh:${settings().broker.namespace}:rate`
							)
						}
					: {})
			}
		: undefined;

const ApiService = {
	name: "api",
	mixins: [ApiGateway as unknown as Partial<ServiceSchema>, OpenApiMixin(), OpsConsoleMixin()],

	settings: {
		port: cfg.port,
		ip: cfg.host,
		// moleculer-web creates the HTTP server (created() below) but does not listen: the port is
		// listened on through several sockets (platform/http/listen.ts).
		server: false,
		path: "/api",
		// The HTTP handler itself must never be retried (the request body is already consumed);
		// calls from the gateway to services are retried by the broker's policy.
		rootCallOptions: { retries: 0 },
		use: [securityHeaders, refuseWhileDraining],
		cors:
			cfg.corsOrigins.length > 0
				? {
						// Exact matches only (moleculer-web matches a string origin as a substring).
						origin: (origin: string) => cfg.corsOrigins.includes(origin),
						methods: ["GET", "POST", "PATCH", "PUT", "DELETE", "OPTIONS"],
						allowedHeaders: ["Content-Type", "Authorization", "Idempotency-Key"],
						exposedHeaders: ["X-Request-ID", "Retry-After"],
						credentials: false,
						maxAge: 3600
					}
				: false,
		// Never log request params or response data: they carry passwords and card numbers.
		logRequest: "debug",
		logRequestParams: null,
		logResponse: "debug",
		logResponseData: null,
		log4XXResponses: false,
		logRouteRegistration: "debug",

		routes: [
			{
				name: "probes",
				path: "/",
				mappingPolicy: "restrict",
				bodyParsers: false,
				aliases: {
					// What an orchestrator acts on, nothing about the node (id, host, pid, uptime).
					"GET /health"(this: any, _req: Req, res: Res) {
						this.sendJSON(res, 200, { status: "ok" });
					},
					"GET /ready"(this: any, _req: Req, res: Res) {
						const state = readiness(this.broker);
						this.sendJSON(res, state.ready ? 200 : 503, state);
					}
				}
			},
			{
				// The OpenAPI document and its Swagger UI page (docs.ts). Public, no body.
				name: "docs",
				path: "/",
				mappingPolicy: "restrict",
				bodyParsers: false,
				aliases: DOCS_ALIASES,
				rateLimit
			},
			{
				// The operator console (ops-console.ts): the page is public, its data admin-only.
				name: "ops",
				path: "/",
				mappingPolicy: "restrict",
				bodyParsers: false,
				aliases: OPS_ALIASES,
				authentication: true,
				rateLimit
			},
			{
				name: "rest",
				path: "/",
				// Only the routes of the table are reachable; internal actions are not.
				aliases: ROUTES,
				mappingPolicy: "restrict",
				authentication: true,
				authorization: true,
				// JSON only. An oversized body is answered 413 as soon as it passes the limit (the
				// parser alone would read a whole oversized upload before answering). Requests
				// without a body (every GET) skip both.
				bodyParsers: false,
				use: [
					forRequestsWithBody(
						requireJsonBody,
						limitBodySize(
							parseBytes(cfg.bodyLimit)!,
							function (this: any, req, res, err) {
								this.sendErrorBody(req, res, err);
							}
						),
						ApiGateway.bodyParser.json({
							limit: cfg.bodyLimit,
							strict: true,
							verify: rejectDeepJson()
						})
					)
				],
				rateLimit,
				// The request came from the socket: its action starts at once (platform/messaging/fair-scheduling.ts).
				callOptions: { [FROM_IO]: true },
				onBeforeCall(
					this: any,
					ctx: Context<unknown, AuthMeta>,
					_route: unknown,
					req: Req
				) {
					const key = idempotencyKey(req.headers["idempotency-key"]);
					if (key) ctx.meta.idempotencyKey = key;
					ctx.meta.requestID = ctx.requestID ?? undefined;
					// The login throttle's per-client key (users).
					(ctx.meta as AuthMeta & { clientIp?: string }).clientIp = clientKey(req);
					// (moleculer-web's handler has already set X-Request-ID on the answer.)
				},
				onAfterCall(
					this: any,
					_ctx: Context,
					_route: unknown,
					req: Req,
					res: Res,
					data: unknown
				) {
					if (cfg.responseNodeHeader && req.$endpoint?.id)
						res.setHeader("X-Node-ID", req.$endpoint.id);
					return data;
				}
			}
		],

		onError(this: any, req: Req, res: Res, err: Error) {
			this.sendErrorBody(req, res, err);
		}
	},

	actions: {
		// moleculer-web's HTTP handler, called directly (never through the registry): a circuit
		// breaker or retries on it would only count the routed calls' failures twice, and a
		// bulkhead on it would bound every route together: 64 requests waiting on one slow
		// service held back every other request, the health probe included. Each routed action
		// keeps its own bulkhead.
		rest: {
			circuitBreaker: { enabled: false },
			retryPolicy: { enabled: false },
			bulkhead: { enabled: false }
		}
	},

	methods: {
		/**
		 * Every request enters here. The client's request id is checked before moleculer-web
		 * reads it, and `OPTIONS` is answered here, before routing: moleculer-web routed an
		 * `OPTIONS` with `Access-Control-Request-Method` to the action of that method, which
		 * then ran (a cancel, a login) whenever CORS was off.
		 */
		httpHandler(this: any, req: Req, res: Res, next?: unknown) {
			for (const name of ["x-request-id", "x-correlation-id"]) {
				if (req.headers[name] === undefined) continue;
				const id = safeRequestId(req.headers[name]);
				if (id === undefined) delete req.headers[name];
			}
			if (req.method === "OPTIONS") return this.answerOptions(req, res);
			return ApiGatewayMethods.httpHandler.call(this, req, res, next);
		},

		/**
		 * Answers of the routed actions are written after the poll phase, together with the
		 * others of the same event-loop turn (platform/messaging/coalesce.ts): one wake-up of the client side per
		 * batch instead of one per answer.
		 */
		sendResponse(this: any, req: Req, res: Res, data: unknown, action: unknown) {
			this.writeLater(req, res, () =>
				ApiGatewayMethods.sendResponse.call(this, req, res, data, action)
			);
		},

		/**
		 * moleculer-web formats a debug line for each request and its answer (timings, colours)
		 * whether or not debug lines are written, a cost on every read. Only when they are
		 * (`logsHttp`, from the logger's level for this service); the answer's line once it is
		 * written.
		 */
		logRequest(this: any, req: Req) {
			if (this.logsHttp) ApiGatewayMethods.logRequest.call(this, req);
		},
		logResponse(this: any, req: Req, res: Res, data: unknown) {
			if (this.logsHttp)
				this.writeLater(req, res, () =>
					ApiGatewayMethods.logResponse.call(this, req, res, data)
				);
		},

		/**
		 * Shutdown, first step (platform/runtime/drain.ts): take no new connections, answer new requests on open
		 * ones with 503; the requests in flight finish before the broker stops the services.
		 */
		drain(this: any) {
			this.draining = true;
			this.listening?.close();
			this.server?.closeIdleConnections?.();
		},

		// The gateway's own answers (answers.ts) and who may call (authentication.ts).
		...AnswerMethods,
		...AuthMethods
	},

	created(this: any) {
		this.createServer();
		this.server.on("error", (err: Error) => this.logger.error("HTTP server error", err));
		this.logsHttp = logsAt(this.logger, "debug", this.name);
		// An answer that cannot be written (data that does not serialize) is answered as an error.
		this.writeLater = coalesce(
			(_req: Req, _res: Res, write: () => void) => write(),
			(err: unknown, req: Req, res: Res) => this.sendErrorBody(req, res, err)
		);
	},

	async started(this: any) {
		// Slow clients cannot hold connections for ever.
		this.server.headersTimeout = 10_000;
		this.server.requestTimeout = 30_000;
		this.server.keepAliveTimeout = 5_000;
		const { port, ip: host } = this.settings;
		this.listening = await listen(this.server, { port, host, sockets: cfg.acceptSockets });
		this.logger.info(
			`API Gateway listening on http://${host}:${this.listening.port} (${this.listening.sockets} sockets)`
		);
	},

	async stopped(this: any) {
		// After drain() it is closed already, and its connections are being closed.
		if (this.listening && !this.listening.closed) await this.listening.close();
		await closeRateLimitStores();
	}
} satisfies ServiceSchema<any>;

export default ApiService;
