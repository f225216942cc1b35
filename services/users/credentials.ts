/**
 * Users' password checks and tokens: every check of a password a caller gives (login, the current
 * password on a change) passes the login throttle first and counts against it when wrong. Methods
 * of the users service.
 */
import { ErrorTypes, clientError } from "../../contracts/errors";
import { signToken } from "../../platform/http/jwt";
import { settings } from "../../platform/runtime/settings";
import { loginBlockedFor, loginFailed } from "./login-throttle";
import { hashPassword, needsRehash, verifyPassword } from "./passwords";
import { normalizeEmail, type UserDoc } from "./user-rules";
import type { UsersThis } from "./users.service";

/** A password hashed at the configured cost (PASSWORD_HASH_COST). */
export function hashAtCost(password: string): Promise<string> {
	return hashPassword(password, settings().passwordHashCost);
}

function invalidCredentials(message: string) {
	return clientError(message, 401, ErrorTypes.INVALID_CREDENTIALS);
}

export const CredentialMethods = {
	/** 429 RATE_LIMITED while this account or this client has too many failed logins. */
	async refuseIfThrottled(
		this: UsersThis,
		email: string,
		client: string | undefined
	): Promise<void> {
		const waitMs = await loginBlockedFor(this.throttle, email, client);
		if (waitMs > 0)
			throw clientError(
				"Too many failed login attempts. Try again later.",
				429,
				ErrorTypes.RATE_LIMITED,
				{ retryAfterSec: Math.ceil(waitMs / 1000) }
			);
	},

	/** The account of this email and password; 401 INVALID_CREDENTIALS for any other pair. */
	async checkLogin(
		this: UsersThis,
		givenEmail: string,
		password: string,
		client: string | undefined
	): Promise<UserDoc> {
		// Throttled per account and per client before any hashing (same for unknown emails).
		const email = normalizeEmail(givenEmail);
		await this.refuseIfThrottled(email, client);
		const user = await this.findByEmail(email);
		// Hash even when there is no such user, so the answer takes the same time either way.
		const ok = await verifyPassword(password, user?.passwordHash ?? this.dummyHash);
		if (!user || !ok) {
			await loginFailed(this.throttle, email, client);
			throw invalidCredentials("Invalid email or password");
		}
		await this.throttle.account.clear(email);
		return user;
	},

	/** The current password on a change: guessed here as at login, so the same throttle applies. */
	async checkCurrentPassword(
		this: UsersThis,
		user: UserDoc,
		password: string,
		client: string | undefined
	): Promise<void> {
		await this.refuseIfThrottled(user.email, client);
		if (!(await verifyPassword(password, user.passwordHash))) {
			await loginFailed(this.throttle, user.email, client);
			throw invalidCredentials("Current password is wrong");
		}
	},

	/** A hash made at a lower cost than the current one is replaced (sessions stay valid). */
	async rehashIfOutdated(this: UsersThis, user: UserDoc, password: string): Promise<void> {
		if (!needsRehash(user.passwordHash, settings().passwordHashCost)) return;
		const passwordHash = await hashAtCost(password);
		await this.adapter.updateMany({ _id: user._id }, { $set: { passwordHash } });
	},

	issueToken(this: UsersThis, user: UserDoc): { token: string; expiresIn: number } {
		return signToken({
			sub: String(user._id),
			role: user.role,
			pwv: user.passwordVersion ?? 0
		});
	}
};
