/**
 * The operator console at `GET /ops`: a page and its assets (uPlot pinned in node_modules, our
 * script and styles beside this file), and the data of the `ops` service for admins only, as a
 * JSON snapshot and as a Server-Sent-Events stream. The page sends its token in the
 * Authorization header (fetch-based SSE): it never travels in a URL, so never into a log.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import path from "node:path";
import type { ServiceSchema } from "moleculer";
import { forbidden, unauthorized } from "../../contracts/errors";
import type { AuthMeta } from "../../types/moleculer";
import type { GatewayOperation } from "./openapi";
import { sendListedFile, sendPage, type ListedFile } from "./static-files";

const UPLOT_DIR = path.join(path.dirname(require.resolve("uplot/package.json")), "dist");
const PAGE_DIR = path.join(__dirname, "ops-page");

/** The only files served, by name: where each is and its content type. */
export const OPS_ASSETS: Record<string, ListedFile> = {
	"uPlot.min.css": {
		file: path.join(UPLOT_DIR, "uPlot.min.css"),
		type: "text/css; charset=utf-8"
	},
	"uPlot.iife.min.js": {
		file: path.join(UPLOT_DIR, "uPlot.iife.min.js"),
		type: "text/javascript; charset=utf-8"
	},
	"ops.css": { file: path.join(PAGE_DIR, "ops.css"), type: "text/css; charset=utf-8" },
	"ops.js": { file: path.join(PAGE_DIR, "ops.js"), type: "text/javascript; charset=utf-8" }
};

/** Own assets and calls to this API only; no inline script or style markup. */
export const OPS_CSP =
	"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** How often the stream sends a snapshot. */
const STREAM_INTERVAL_MS = 1000;

export function opsPage(basePath: string): string {
	const base = `${basePath.replace(/\/$/, "")}/ops/assets`;
	return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>shopmesh operator console</title>
<link rel="stylesheet" href="${base}/uPlot.min.css">
<link rel="stylesheet" href="${base}/ops.css">
<link rel="icon" href="data:,">
</head>
<body data-api="${basePath.replace(/\/$/, "")}">
<header><h1>shopmesh operator console</h1><span id="status" role="status">signed out</span></header>
<form id="login" autocomplete="on">
<label>Email <input id="email" name="email" type="email" autocomplete="username" required></label>
<label>Password <input id="password" name="password" type="password" autocomplete="current-password" required></label>
<button type="submit">Sign in</button>
<p id="login-error" class="error" hidden></p>
</form>
<main id="console" hidden>
<section id="nodes-panel"><h2>Nodes</h2><table id="nodes"><thead><tr><th>node</th><th>host</th><th>state</th><th>services</th><th>host load</th><th>memory</th><th>uptime</th></tr></thead><tbody></tbody></table>
<h2>Services</h2><ul id="services"></ul></section>
<section id="traffic-panel"><h2>Traffic</h2><h3>Requests per second</h3><div id="chart-rps"></div><h3>p99 latency (ms)</h3><div id="chart-p99"></div>
<table id="actions"><thead><tr><th>action</th><th>req/s</th><th>errors/s</th><th>p50 ms</th><th>p99 ms</th></tr></thead><tbody></tbody></table>
<h3>Circuit breakers</h3><table id="breakers"><thead><tr><th>caller</th><th>action</th><th>endpoint</th><th>state</th></tr></thead><tbody></tbody></table></section>
<section id="business-panel"><h2>Business flow</h2><dl id="business"></dl>
<h3>Events: consumer lag</h3><table id="events"><thead><tr><th>service</th><th>event</th><th>pending</th><th>unacknowledged</th></tr></thead><tbody></tbody></table>
<h3>Dead letters</h3><ul id="dead-letters"></ul></section>
<section id="faults-panel"><h2>Fault log</h2><ol id="faults"></ol></section>
</main>
<script src="${base}/uPlot.iife.min.js"></script>
<script src="${base}/ops.js"></script>
</body>
</html>
`;
}

type Req = IncomingMessage & {
	$params?: Record<string, unknown>;
	$ctx?: { meta: AuthMeta };
};
type Res = ServerResponse;

/** The route's authentication has run: only an admin gets past this. */
function requireAdmin(req: Req): void {
	const user = req.$ctx?.meta.user;
	if (!user) throw unauthorized();
	if (user.role !== "admin") throw forbidden("Only an admin can open the operator console");
}

/** Sends the error answer of a handler that threw. `this` is the api service. */
function guarded(handler: (this: any, req: Req, res: Res) => void | Promise<void>) {
	return function (this: any, req: Req, res: Res) {
		Promise.resolve()
			.then(() => handler.call(this, req, res))
			.catch((err: Error) => this.sendErrorBody(req, res, err));
	};
}

/** The action the console's routes answer with, to admins only (a published action). */
export const OPS_ACTION = "ops.snapshot";

/** The console's aliases, for a route at the gateway's root with authentication on. */
export const OPS_ALIASES = {
	"GET /ops"(this: any, _req: Req, res: Res) {
		sendPage(res, OPS_CSP, opsPage(this.settings.path ?? "/"));
	},
	"GET /ops/assets/:asset"(this: any, req: Req, res: Res) {
		sendListedFile(this, req, res, OPS_ASSETS, String(req.$params?.asset ?? ""), {
			cacheControl: "no-cache",
			missing: "No such console file"
		});
	},
	"GET /ops/snapshot": guarded(async function (this: any, req: Req, res: Res) {
		requireAdmin(req);
		this.sendJSON(res, 200, await this.broker.call(OPS_ACTION));
	}),
	"GET /ops/stream": guarded(function (this: any, req: Req, res: Res) {
		requireAdmin(req);
		res.statusCode = 200;
		res.setHeader("Content-Type", "text/event-stream; charset=utf-8");
		res.setHeader("X-Accel-Buffering", "no");
		res.flushHeaders();
		const send = () => {
			// A stopping gateway ends its streams: its server closes only once they have.
			if (this.draining) return void res.end();
			return this.broker.call(OPS_ACTION).then(
				(snapshot: unknown) =>
					res.write(`event: snapshot\ndata: ${JSON.stringify(snapshot)}\n\n`),
				(err: { message?: string; type?: string }) =>
					res.write(
						`event: unavailable\ndata: ${JSON.stringify({ message: err.message, type: err.type })}\n\n`
					)
			);
		};
		void send();
		const timer = setInterval(send, STREAM_INTERVAL_MS);
		const streams: Set<Res> = this.opsStreams;
		streams.add(res);
		res.on("close", () => {
			clearInterval(timer);
			streams.delete(res);
		});
	})
};

/** Streams end when the gateway stops, so its server can close. */
export function OpsConsoleMixin(): Partial<ServiceSchema> {
	return {
		created(this: any) {
			this.opsStreams = new Set<Res>();
		},
		stopped(this: any) {
			for (const res of this.opsStreams as Set<Res>) res.end();
		}
	};
}

const errorContent = { "application/json": { $ref: "#/components/schemas/Error" } };
/** The refusals of the console's data routes. */
const ADMINS_ONLY = {
	401: { description: "No or an invalid token. `UNAUTHORIZED`", content: errorContent },
	403: { description: "Not an admin. `FORBIDDEN`", content: errorContent }
};

/** The console's aliases in the OpenAPI document (docs.ts). */
export const OPS_OPERATIONS: Record<string, GatewayOperation> = {
	"GET /ops": {
		tag: "gateway",
		summary: "The operator console (an HTML page; its data needs an admin token)",
		responses: {
			200: { description: "An HTML page", content: { "text/html": { type: "string" } } }
		}
	},
	"GET /ops/assets/:asset": {
		tag: "gateway",
		summary: "A file of the operator console",
		parameters: [
			{ name: "asset", in: "path", required: true, schema: { enum: Object.keys(OPS_ASSETS) } }
		],
		responses: {
			200: {
				description: "The file",
				content: { "text/css": { type: "string" }, "text/javascript": { type: "string" } }
			},
			404: { description: "No such file. `NOT_FOUND`", content: errorContent }
		}
	},
	"GET /ops/snapshot": {
		tag: "gateway",
		summary: "What the operator console shows, once (admins)",
		responses: {
			200: {
				description: "Nodes, services, traffic, business figures, faults",
				content: { "application/json": { type: "object" } }
			},
			...ADMINS_ONLY
		}
	},
	"GET /ops/stream": {
		tag: "gateway",
		summary: "The same as Server-Sent Events, one `snapshot` a second (admins)",
		responses: {
			200: {
				description: "An event stream",
				content: { "text/event-stream": { type: "string" } }
			},
			...ADMINS_ONLY
		}
	}
};
