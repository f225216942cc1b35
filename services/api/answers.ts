/**
 * The answers the gateway writes itself, without a routed action: the security headers every
 * answer carries, the 503 of a draining node, `OPTIONS`, and every error (shaped by
 * http-errors.ts). `answerOptions`, `sendJSON` and `sendErrorBody` are methods of the api service.
 */
import { forbidden, notFound } from "../../contracts/errors";
import { settings } from "../../platform/runtime/settings";
import { toErrorBody } from "./http-errors";
import { clientKey, type Req, type Res } from "./request-headers";
import { allowedMethods } from "./routes";

const cfg = settings();

/** Headers every response carries. */
export function securityHeaders(_req: Req, res: Res, next: () => void) {
	res.setHeader("X-Content-Type-Options", "nosniff");
	res.setHeader("X-Frame-Options", "DENY");
	res.setHeader("Referrer-Policy", "no-referrer");
	res.setHeader("Cache-Control", "no-store");
	res.setHeader("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'");
	next();
}

/** A stopping node answers new requests on open connections with 503 and closes them. */
export function refuseWhileDraining(
	this: { draining?: boolean },
	_req: Req,
	res: Res,
	next: () => void
) {
	if (!this.draining) return next();
	res.statusCode = 503;
	res.setHeader("Connection", "close");
	res.setHeader("Retry-After", "1");
	res.setHeader("Content-Type", "application/json; charset=utf-8");
	res.end(
		JSON.stringify({
			name: "ServiceUnavailableError",
			message: "This node is shutting down. Try again.",
			code: 503,
			type: "SERVICE_UNAVAILABLE"
		})
	);
}

export const AnswerMethods = {
	/**
	 * `OPTIONS`: 204 with `Allow` (the path's methods), or 404 for a path the API does not
	 * have; with CORS on, an allowed origin's preflight gets its CORS answer and any other
	 * origin 403, as on every route. No action runs.
	 */
	answerOptions(this: any, req: Req, res: Res) {
		const url = String(req.url ?? "/").split("?")[0];
		const base = this.settings.path as string;
		const inner =
			url === base ? "/" : url.startsWith(`${base}/`) ? url.slice(base.length) : null;
		const methods = inner === null ? [] : allowedMethods(inner);
		if (methods.length === 0) return this.sendErrorBody(req, res, notFound("Not found"));
		const allow = [...methods, "OPTIONS"].join(", ");
		const origin = req.headers.origin;
		if (cfg.corsOrigins.length > 0 && origin !== undefined) {
			if (!cfg.corsOrigins.includes(String(origin)))
				return this.sendErrorBody(req, res, forbidden("Origin not allowed"));
			res.setHeader("Access-Control-Allow-Origin", String(origin));
			res.setHeader("Vary", "Origin");
			if (req.headers["access-control-request-method"] !== undefined) {
				res.setHeader("Access-Control-Allow-Methods", allow);
				res.setHeader(
					"Access-Control-Allow-Headers",
					"Content-Type, Authorization, Idempotency-Key"
				);
				res.setHeader("Access-Control-Max-Age", "3600");
			}
		}
		securityHeaders(req, res, () => undefined);
		res.statusCode = 204;
		res.setHeader("Allow", allow);
		res.setHeader("Content-Length", "0");
		res.end();
	},

	sendJSON(res: Res, status: number, data: unknown) {
		// Error answers are written at once, not through writeLater.
		res.statusCode = status;
		res.setHeader("Content-Type", "application/json; charset=utf-8");
		res.end(JSON.stringify(data));
	},

	sendErrorBody(this: any, req: Req, res: Res, err: Error) {
		const body = toErrorBody(err);
		if (body.code >= 500) this.logger.error(`${req.method} ${req.url} failed:`, err);
		if (res.headersSent) return res.end();
		// Also for requests outside every route (404s), which skip the route middlewares.
		securityHeaders(req, res, () => undefined);
		if (body.code === 429) {
			// The login throttle says when; the gateway's rate limit resets with its window.
			const retryAfterSec = (err as { data?: { retryAfterSec?: unknown } }).data
				?.retryAfterSec;
			const store = req.$route?.rateLimit?.store;
			const resetAt: number | undefined =
				store?.resetFor?.(clientKey(req)) ?? store?.resetTime;
			const resetIn =
				typeof retryAfterSec === "number"
					? retryAfterSec
					: resetAt
						? Math.ceil((resetAt - Date.now()) / 1000)
						: 60;
			res.setHeader("Retry-After", String(Math.max(1, resetIn)));
		}
		if (body.code === 401) res.setHeader("WWW-Authenticate", 'Bearer realm="shopmesh"');
		this.sendJSON(res, body.code, body);
	}
};
