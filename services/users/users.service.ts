/**
 * users: accounts, authentication and profiles. Public routes: services/api/routes.ts.
 *
 * Owns the `users` database. The password hash never leaves this service: every answer goes
 * through toPublicUser().
 */
import type { Context, Service, ServiceSchema } from "moleculer";
import { DbMixin, isDuplicateKeyError, type DbMethods } from "../../platform/persistence/db.mixin";
import {
	DurableEvents,
	type DurableEventsMethods
} from "../../platform/messaging/durable-events.mixin";
import { nowIso } from "../../platform/runtime/clock";
import {
	ErrorTypes,
	clientError,
	conflict,
	invalidField,
	notFound,
	unauthorized
} from "../../contracts/errors";
import { signToken } from "../../platform/http/jwt";
import { IdParam, PageParams, secretParam, textParam } from "../../contracts/params";
import { settings } from "../../platform/runtime/settings";
import type { AuthMeta, Role } from "../../types/moleculer";
import {
	createLoginThrottle,
	loginBlockedFor,
	loginFailed,
	LOGIN_FAILURES_INDEXES,
	LOGIN_FAILURES_STORE,
	type LoginThrottle
} from "./login-throttle";
import { startSweep } from "../../platform/runtime/sweep";
import { hashPassword, needsRehash, verifyPassword } from "./passwords";
import {
	normalizeEmail,
	passwordProblem,
	pickProfileUpdate,
	toPublicUser,
	type PublicUser,
	type UserDoc
} from "./user-rules";

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

type UsersThis = Service & DbMethods & DurableEventsMethods & UsersVars;
interface UsersVars {
	adapter: any;
	clearCache(): Promise<void>;
	dummyHash: string;
	throttle: LoginThrottle;
	throttleTimer?: NodeJS.Timeout;
	refuseIfThrottled(email: string, client: string | undefined): Promise<void>;
	findByEmail(email: string): Promise<UserDoc | null>;
	findUser(id: string): Promise<UserDoc | null>;
	requireUser(ctx: Context<unknown, AuthMeta>): Promise<UserDoc>;
	createUser(
		input: { email: string; password: string; name: string; role: Role },
		announce?: boolean
	): Promise<UserDoc>;
	issueToken(user: UserDoc): { token: string; expiresIn: number };
	ensureAdmin(): Promise<void>;
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
				// Throttled per account and per client before any hashing (same for unknown emails).
				const email = normalizeEmail(ctx.params.email);
				const client = ctx.meta.clientIp;
				await this.refuseIfThrottled(email, client);
				const user = await this.findByEmail(email);
				// Hash even when there is no such user, so the answer takes the same time either way.
				const ok = await verifyPassword(
					ctx.params.password,
					user?.passwordHash ?? this.dummyHash
				);
				if (!user || !ok) {
					await loginFailed(this.throttle, email, client);
					throw clientError(
						"Invalid email or password",
						401,
						ErrorTypes.INVALID_CREDENTIALS
					);
				}
				await this.throttle.account.clear(email);

				const cost = settings().passwordHashCost;
				if (needsRehash(user.passwordHash, cost)) {
					const passwordHash = await hashPassword(ctx.params.password, cost);
					await this.adapter.updateMany({ _id: user._id }, { $set: { passwordHash } });
				}
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
				const update = pickProfileUpdate(ctx.params);
				const updatedAt = nowIso();
				const doc = await this.updateOne(
					this.adapter,
					{ _id: user._id },
					{ $set: { ...update, updatedAt } }
				);
				return toPublicUser(this.toJSON(this.adapter, doc));
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
				// The current password is guessed here as at login: the same throttle applies.
				await this.refuseIfThrottled(user.email, ctx.meta.clientIp);
				if (!(await verifyPassword(ctx.params.currentPassword, user.passwordHash))) {
					await loginFailed(this.throttle, user.email, ctx.meta.clientIp);
					throw clientError(
						"Current password is wrong",
						401,
						ErrorTypes.INVALID_CREDENTIALS
					);
				}
				const problem = passwordProblem(ctx.params.newPassword);
				if (problem) throw invalidField("newPassword", problem, "passwordWeak");
				const passwordHash = await hashPassword(
					ctx.params.newPassword,
					settings().passwordHashCost
				);
				const doc = await this.updateOne(
					this.adapter,
					{ _id: user._id },
					{
						$set: { passwordHash, updatedAt: nowIso() },
						$inc: { passwordVersion: 1 }
					}
				);
				await this.clearCache(); // cached sessions of the old password version, on every node
				return this.issueToken(this.toJSON(this.adapter, doc));
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

	methods: {
		/** 429 RATE_LIMITED while this account or this client has too many failed logins. */
		async refuseIfThrottled(this: UsersThis, email: string, client: string | undefined) {
			const waitMs = await loginBlockedFor(this.throttle, email, client);
			if (waitMs > 0)
				throw clientError(
					"Too many failed login attempts. Try again later.",
					429,
					ErrorTypes.RATE_LIMITED,
					{ retryAfterSec: Math.ceil(waitMs / 1000) }
				);
		},

		async findByEmail(this: UsersThis, email: string) {
			const doc = await this.adapter.findOne({ email: normalizeEmail(email) });
			return doc ? this.toJSON(this.adapter, doc) : null;
		},

		async findUser(this: UsersThis, id: string) {
			const doc = await this.adapter.findById(id).catch(() => null);
			return doc ? this.toJSON(this.adapter, doc) : null;
		},

		async requireUser(this: UsersThis, ctx: Context<unknown, AuthMeta>) {
			const id = ctx.meta.user?.id;
			if (!id) throw unauthorized();
			const user = await this.findUser(id);
			if (!user) throw unauthorized("Your account no longer exists");
			return user;
		},

		/** A new account; with `announce`, user.registered is written with it and relayed. */
		async createUser(
			this: UsersThis,
			input: { email: string; password: string; name: string; role: Role },
			announce = false
		) {
			const now = nowIso();
			const doc = {
				email: normalizeEmail(input.email),
				name: input.name,
				role: input.role,
				passwordHash: await hashPassword(input.password, settings().passwordHashCost),
				passwordVersion: 0,
				createdAt: now,
				updatedAt: now
			};
			let user: UserDoc;
			try {
				user = this.toJSON(
					this.adapter,
					await this.insertWithEvents("adapter", _id => ({
						doc,
						events: announce
							? [this.outboxEntry("user.registered", { userId: _id })]
							: []
					}))
				);
			} catch (err) {
				if (isDuplicateKeyError(err))
					throw conflict(
						"An account with this email already exists",
						ErrorTypes.USER_EXISTS
					);
				throw err;
			}
			return user;
		},

		issueToken(this: UsersThis, user: UserDoc) {
			return signToken({
				sub: String(user._id),
				role: user.role,
				pwv: user.passwordVersion ?? 0
			});
		},

		/** ADMIN_EMAIL/ADMIN_PASSWORD: make sure that admin exists with that password. Idempotent. */
		async ensureAdmin(this: UsersThis) {
			const admin = settings().admin;
			if (!admin) return;
			const existing = await this.findByEmail(admin.email);
			if (!existing) {
				try {
					await this.createUser({
						email: admin.email,
						password: admin.password,
						name: "Administrator",
						role: "admin"
					});
				} catch (err) {
					// Another instance created it at the same moment.
					if ((err as { type?: string }).type !== ErrorTypes.USER_EXISTS) throw err;
				}
				this.logger.info(`Admin account ${normalizeEmail(admin.email)} created.`);
				return;
			}
			const set: Record<string, unknown> = {};
			if (existing.role !== "admin") set.role = "admin";
			if (!(await verifyPassword(admin.password, existing.passwordHash)))
				set.passwordHash = await hashPassword(admin.password, settings().passwordHashCost);
			if (Object.keys(set).length > 0) {
				await this.adapter.updateMany(
					{ _id: existing._id },
					{
						$set: { ...set, updatedAt: nowIso() },
						$inc: { passwordVersion: 1 }
					}
				);
				await this.clearCache();
				this.logger.info(
					`Admin account ${existing.email} updated from ADMIN_EMAIL/ADMIN_PASSWORD.`
				);
			}
		}
	},

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
		this.dummyHash = await hashPassword("not-a-real-password", settings().passwordHashCost);
		await this.ensureAdmin();
	},

	stopped(this: UsersThis) {
		clearInterval(this.throttleTimer);
	}
} satisfies ServiceSchema<any, any, any, UsersThis>;

export default UsersService;
