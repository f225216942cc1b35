import "moleculer";

declare module "moleculer" {
	interface ActionSchema {
		/** Gateway authentication: "required" needs a valid token, "optional" reads one if sent. */
		auth?: "required" | "optional";
		/** Gateway authorization: the caller's role must be one of these. */
		roles?: Role[];
	}
}

export type Role = "customer" | "admin";

/** What the gateway puts into ctx.meta for an authenticated call. */
export interface AuthUser {
	id: string;
	role: Role;
}

export interface AuthMeta {
	user?: AuthUser;
	$statusCode?: number;
	/** Location header of a 201 (moleculer-web). */
	$location?: string;
	$responseHeaders?: Record<string, string>;
	idempotencyKey?: string;
	requestID?: string;
}
