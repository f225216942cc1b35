/**
 * Who calls, and may they: a Bearer token becomes `ctx.meta.user` (checked against users'
 * sessions), and each action's `auth` and `roles` declarations are enforced. Methods of the api
 * service (moleculer-web calls them on routes with `authentication` / `authorization` on).
 */
import type { Context } from "moleculer";
import { forbidden, unauthorized } from "../../contracts/errors";
import { verifyToken } from "../../platform/http/jwt";
import type { AuthMeta, AuthUser } from "../../types/moleculer";
import type { Req } from "./request-headers";

export const AuthMethods = {
	/** Bearer token -> ctx.meta.user. A token that is sent must be valid, whatever the route. */
	async authenticate(
		this: any,
		ctx: Context,
		_route: unknown,
		req: Req
	): Promise<AuthUser | null> {
		const header = req.headers.authorization;
		if (!header) return null;
		const match = /^Bearer\s+(\S+)$/i.exec(header);
		if (!match) throw unauthorized("Malformed Authorization header");
		const claims = verifyToken(match[1]);
		if (!claims) throw unauthorized("Invalid or expired token");

		try {
			const session = await ctx.call<AuthUser | null, { id: string; pwv: number }>(
				"users.resolveSession",
				{
					id: claims.sub,
					pwv: claims.pwv
				}
			);
			if (!session) throw unauthorized("Invalid or expired token");
			return session;
		} catch (err) {
			// Degrade when users is down: a verified, unexpired token still identifies its user
			// (tokens are short-lived; revocation checks resume when users is back).
			const type = (err as { type?: string }).type;
			if (
				type === "SERVICE_NOT_AVAILABLE" ||
				type === "SERVICE_NOT_FOUND" ||
				type === "REQUEST_TIMEOUT"
			) {
				this.logger.warn(
					"users is unavailable: accepting a verified token without the session check"
				);
				return { id: claims.sub, role: claims.role };
			}
			throw err;
		}
	},

	/** Per-action declaration: `auth: "required"` and `roles: [...]`. */
	authorize(this: any, ctx: Context<unknown, AuthMeta>, _route: unknown, req: Req) {
		const action = req.$action;
		if (!action) return;
		const user = ctx.meta.user;
		if ((action.auth === "required" || action.roles) && !user) throw unauthorized();
		if (action.roles && user && !action.roles.includes(user.role)) throw forbidden();
	}
};
