/**
 * users: accounts, authentication and profiles. Public routes: services/api/routes.ts.
 *
 * Owns the `users` database. The password hash never leaves this service: every answer goes
 * through toPublicUser().
 */
import type { Context, Service, ServiceSchema } from "moleculer";
import { DbMixin, type DbMethods } from "../../platform/persistence/db.mixin";
import {
	DurableEvents,
	type DurableEventsMethods
} from "../../platform/messaging/durable-events.mixin";
import { ErrorTypes, invalidField, notFound } from "../../contracts/errors";
import { IdParam, PageParams, secretParam, textParam } from "../../contracts/params";
import { settings } from "../../platform/runtime/settings";
import type { AuthMeta } from "../../types/moleculer";
import {
	createLoginThrottle,
	LOGIN_FAILURES_INDEXES,
	LOGIN_FAILURES_STORE,
	type LoginThrottle
} from "./login-throttle";
import { startSweep } from "../../platform/runtime/sweep";
import { CredentialMethods, hashAtCost } from "./credentials";
import { UserMethods } from "./user-repository";
import { passwordProblem, pickProfileUpdate, toPublicUser, type PublicUser } from "./user-rules";

const EmailParam = { type: "email", max: 254, normalize: true } as const;
// Passwords are checked without the value ever being copied into the validation error (the
// validator's string rules put the rejected value into `actual`, which the broker logs at debug).
const PasswordParam = secretParam(
	"password",
	128,
	v => v.length >= 8 && v.length <= 128,
	"The '{field}' field must be a string of 8 to 128 characters."
);
/** A password to check (login, current password): any non-empty string up to 128 characters. */
const GivenPasswordParam = secretParam(
	"password",
	128,
	v => v.length >= 1 && v.length <= 128,
	"The '{field}' field must be a string of 1 to 128 characters."
);
// Names reach mail headers and other people's screens: no control or invisible characters.
const NameParam = textParam({ min: 1, max: 100 });
const AddressParam = {
	type: "object",
	optional: true,
	strict: "remove",
	props: {
		line1: textParam({ min: 1, max: 200 }),
		line2: { ...textParam({ max: 200 }), optional: true },
		city: textParam({ min: 1, max: 100 }),
		postalCode: textParam({ min: 1, max: 20 }),
		country: { type: "string", length: 2, uppercase: true, trim: true }
	}
} as const;

/** The gateway adds the caller's IP address (the login throttle's per-client key). */
type ClientMeta = AuthMeta & { clientIp?: string };

/** A methods object as the service has it: `this` bound. */
type Bound<M> = { [K in keyof M]: OmitThisParameter<M[K]> };

/** The service's `this`: its mixins', its own methods (beside it, typed from them) and state. */
export interface UsersThis
	extends
		Service,
		DbMethods,
		DurableEventsMethods,
		Bound<typeof UserMethods & typeof CredentialMethods> {
	adapter: any;
	clearCache(): Promise<void>;
	dummyHash: string;
	throttle: LoginThrottle;
	throttleTimer?: NodeJS.Timeout;
}

const UsersService = {
	name: "users",
	mixins: [
		DbMixin({
			indexes: [{ field: "email", unique: true }],
			// The login throttle's counters, shared by every instance on this database.
			stores: { [LOGIN_FAILURES_STORE]: LOGIN_FAILURES_INDEXES }
		}),
		// user.registered is a domain event: written with the account, relayed from its outbox.
		DurableEvents({ outbox: ["adapter"] })
	],

	actions: {
		/** Create a customer account. */
		register: {
			params: { email: EmailParam, password: PasswordParam, name: NameParam },
			async handler(
				this: UsersThis,
				ctx: Context<{ email: string; password: string; name: string }, AuthMeta>
			) {
				const problem = passwordProblem(ctx.params.password);
				if (problem) throw invalidField("password", problem, "passwordWeak");
				const user = await this.createUser({ ...ctx.params, role: "customer" }, true);
				ctx.meta.$statusCode = 201;
				ctx.meta.$location = "/api/users/me";
				return toPublicUser(user);
			}
		},

		/** Exchange email and password for an access token. */
		login: {
			params: { email: EmailParam, password: GivenPasswordParam },
			async handler(
				this: UsersThis,
				ctx: Context<{ email: string; password: string }, ClientMeta>
			) {
				const { email, password } = ctx.params;
				const user = await this.checkLogin(email, password, ctx.meta.clientIp);
				await this.rehashIfOutdated(user, password);
				return { ...this.issueToken(user), tokenType: "Bearer", user: toPublicUser(user) };
			}
		},

		/** The caller's own profile. */
		me: {
			auth: "required",
			async handler(this: UsersThis, ctx: Context<unknown, AuthMeta>): Promise<PublicUser> {
				return toPublicUser(await this.requireUser(ctx));
			}
		},

		/** Change the caller's own profile. Only name, phone and address; anything else is dropped. */
		updateMe: {
			auth: "required",
			params: {
				$$strict: "remove",
				name: { ...NameParam, optional: true },
				phone: {
					type: "string",
					optional: true,
					max: 32,
					pattern: "^\\+?[0-9 ()-]{3,32}$"
				},
				address: AddressParam
			},
			async handler(
				this: UsersThis,
				ctx: Context<Record<string, unknown>, AuthMeta>
			): Promise<PublicUser> {
				const user = await this.requireUser(ctx);
				return toPublicUser(await this.updateProfile(user, pickProfileUpdate(ctx.params)));
			}
		},

		/** Change the caller's password; every token issued before stops working. */
		changePassword: {
			auth: "required",
			params: {
				currentPassword: GivenPasswordParam,
				newPassword: PasswordParam
			},
			async handler(
				this: UsersThis,
				ctx: Context<{ currentPassword: string; newPassword: string }, ClientMeta>
			) {
				const user = await this.requireUser(ctx);
				await this.checkCurrentPassword(
					user,
					ctx.params.currentPassword,
					ctx.meta.clientIp
				);
				const problem = passwordProblem(ctx.params.newPassword);
				if (problem) throw invalidField("newPassword", problem, "passwordWeak");
				const passwordHash = await hashAtCost(ctx.params.newPassword);
				return this.issueToken(await this.revokeSessions(user, { passwordHash }));
			}
		},

		/** Admin: list accounts. */
		list: {
			auth: "required",
			roles: ["admin"],
			params: {
				...PageParams
			},
			async handler(this: UsersThis, ctx: Context<{ page: number; pageSize: number }>) {
				const { page, pageSize } = ctx.params;
				return this.findPage(
					this.adapter,
					{},
					{ page, pageSize, sort: ["createdAt"] },
					toPublicUser
				);
			}
		},

		/**
		 * Internal (not published): is this token's user still there, with this role and password
		 * version? The gateway asks after verifying the token's signature.
		 */
		resolveSession: {
			visibility: "public",
			cache: { keys: ["id", "pwv"], ttl: 5 },
			params: { id: IdParam, pwv: { type: "number", integer: true, min: 0 } },
			async handler(this: UsersThis, ctx: Context<{ id: string; pwv: number }>) {
				const user = await this.findUser(ctx.params.id);
				if (!user || (user.passwordVersion ?? 0) !== ctx.params.pwv) return null;
				return { id: String(user._id), role: user.role };
			}
		},

		/** Internal: how to reach a user (for notifications). */
		contact: {
			visibility: "public",
			params: { id: IdParam },
			async handler(this: UsersThis, ctx: Context<{ id: string }>) {
				const user = await this.findUser(ctx.params.id);
				if (!user) throw notFound("User not found", ErrorTypes.USER_NOT_FOUND);
				return { id: String(user._id), email: user.email, name: user.name };
			}
		}
	},

	methods: { ...UserMethods, ...CredentialMethods },

	created(this: UsersThis) {
		this.throttle = createLoginThrottle(
			settings().loginThrottle,
			() => this.stores[LOGIN_FAILURES_STORE],
			(store, query, update) => this.updateOne(store, query, update)
		);
	},

	async started(this: UsersThis) {
		// Counters whose window ended count for nothing; the sweep removes them.
		this.throttleTimer = startSweep(
			this.logger,
			"Login throttle sweep",
			Math.max(1000, Math.min(settings().loginThrottle.windowMs, 60_000)),
			() => this.throttle.sweep()
		);
		this.dummyHash = await hashAtCost("not-a-real-password");
		await this.ensureAdmin();
	},

	stopped(this: UsersThis) {
		clearInterval(this.throttleTimer);
	}
} satisfies ServiceSchema<any, any, any, UsersThis>;

export default UsersService;
