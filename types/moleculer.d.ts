import "moleculer";

declare module "moleculer" {
	interface ActionSchema {
		/** Gateway authentication: "required" needs a valid token, "optional" reads one if sent. */
		auth?: "required" | "optional";
		/** Gateway authorization: the caller's role must be one of these. */
		roles?: Role[];
	}
	interface EventSchema {
		/**
		 * A domain event's handler that is idempotent by itself (a unique key of its own decides),
		 * so the service's inbox is neither read nor written for it (durable-events.mixin.ts).
		 */
		idempotent?: boolean;
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
