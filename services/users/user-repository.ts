/**
 * Users' account records: the lookups, a new account written with its user.registered event, and
 * the one write that ends every session issued before (passwordVersion). Methods of the users
 * service.
 */
import type { Context } from "moleculer";
import { isDuplicateKeyError } from "../../platform/persistence/db.mixin";
import { nowIso } from "../../platform/runtime/clock";
import { settings } from "../../platform/runtime/settings";
import { ErrorTypes, conflict, unauthorized } from "../../contracts/errors";
import type { AuthMeta, Role } from "../../types/moleculer";
import { hashAtCost } from "./credentials";
import { verifyPassword } from "./passwords";
import { normalizeEmail, type ProfileUpdate, type UserDoc } from "./user-rules";
import type { UsersThis } from "./users.service";

export const UserMethods = {
	async findByEmail(this: UsersThis, email: string): Promise<UserDoc | null> {
		const doc = await this.adapter.findOne({ email: normalizeEmail(email) });
		return doc ? this.toJSON(this.adapter, doc) : null;
	},

	async findUser(this: UsersThis, id: string): Promise<UserDoc | null> {
		const doc = await this.adapter.findById(id).catch(() => null);
		return doc ? this.toJSON(this.adapter, doc) : null;
	},

	/** The caller's account: 401 without a caller, or when the account is gone. */
	async requireUser(this: UsersThis, ctx: Context<unknown, AuthMeta>): Promise<UserDoc> {
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
	): Promise<UserDoc> {
		const now = nowIso();
		const doc = {
			email: normalizeEmail(input.email),
			name: input.name,
			role: input.role,
			passwordHash: await hashAtCost(input.password),
			passwordVersion: 0,
			createdAt: now,
			updatedAt: now
		};
		try {
			return this.toJSON(
				this.adapter,
				await this.insertWithEvents("adapter", _id => ({
					doc,
					events: announce ? [this.outboxEntry("user.registered", { userId: _id })] : []
				}))
			);
		} catch (err) {
			if (isDuplicateKeyError(err))
				throw conflict("An account with this email already exists", ErrorTypes.USER_EXISTS);
			throw err;
		}
	},

	/** The caller's own profile fields (pickProfileUpdate); the account as it is now. */
	async updateProfile(this: UsersThis, user: UserDoc, update: ProfileUpdate): Promise<UserDoc> {
		const updatedAt = nowIso();
		const doc = await this.updateOne(
			this.adapter,
			{ _id: user._id },
			{ $set: { ...update, updatedAt } }
		);
		return this.toJSON(this.adapter, doc);
	},

	/**
	 * Change what a session is checked against (password hash, role): the version goes up, so
	 * every token issued before stops working, and cached sessions are dropped on every node.
	 */
	async revokeSessions(
		this: UsersThis,
		user: UserDoc,
		set: Record<string, unknown>
	): Promise<UserDoc> {
		const doc = await this.updateOne(
			this.adapter,
			{ _id: user._id },
			{ $set: { ...set, updatedAt: nowIso() }, $inc: { passwordVersion: 1 } }
		);
		await this.clearCache();
		return this.toJSON(this.adapter, doc);
	},

	/** ADMIN_EMAIL/ADMIN_PASSWORD: make sure that admin exists with that password. Idempotent. */
	async ensureAdmin(this: UsersThis): Promise<void> {
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
			set.passwordHash = await hashAtCost(admin.password);
		if (Object.keys(set).length > 0) {
			await this.revokeSessions(existing, set);
			this.logger.info(
				`Admin account ${existing.email} updated from ADMIN_EMAIL/ADMIN_PASSWORD.`
			);
		}
	}
};
