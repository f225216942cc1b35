/**
 * Users' domain rules, free of any broker or database.
 */
import type { Role } from "../../types/moleculer";

export interface Address {
	line1: string;
	line2?: string;
	city: string;
	postalCode: string;
	country: string;
}

/** What any caller may see of a user: never the password hash or version. */
export interface PublicUser {
	id: string;
	email: string;
	name: string;
	role: Role;
	phone?: string;
	address?: Address;
	createdAt: string;
	updatedAt: string;
}

/** The stored account: the public view, and the password hash and version kept inside. */
export interface UserDoc extends Omit<PublicUser, "id"> {
	_id: string;
	passwordHash: string;
	passwordVersion: number;
}

/**
 * Emails are compared in one form: NFKC (a fullwidth or other compatibility form is the plain
 * address), without surrounding spaces, lowercase; the validator (platform/http/validator.ts) gives every
 * email param this form and refuses what is not printable ASCII after it.
 */
export { normalizeEmail } from "../../platform/http/text";

export function toPublicUser(doc: UserDoc): PublicUser {
	const user: PublicUser = {
		id: String(doc._id),
		email: doc.email,
		name: doc.name,
		role: doc.role,
		createdAt: doc.createdAt,
		updatedAt: doc.updatedAt
	};
	if (doc.phone != null) user.phone = doc.phone;
	if (doc.address != null) user.address = doc.address;
	return user;
}

/** Fields a user may change on their own profile. Email, role and password never pass. */
export const PROFILE_FIELDS = ["name", "phone", "address"] as const;
export type ProfileUpdate = Partial<Pick<UserDoc, (typeof PROFILE_FIELDS)[number]>>;

export function pickProfileUpdate(input: Record<string, unknown>): ProfileUpdate {
	const update: Record<string, unknown> = {};
	for (const field of PROFILE_FIELDS)
		if (input[field] !== undefined) update[field] = input[field];
	return update as ProfileUpdate;
}

let commonPasswords: Set<string> | undefined;

/**
 * The common-passwords list of zxcvbn-ts (`@zxcvbn-ts/language-common`, about 49 000 passwords
 * from breach corpora, lowercase), loaded on first use.
 */
function isCommonPassword(password: string): boolean {
	if (!commonPasswords) {
		// eslint-disable-next-line @typescript-eslint/no-require-imports
		const { dictionary } = require("@zxcvbn-ts/language-common") as {
			dictionary: Record<string, string[]>;
		};
		commonPasswords = new Set(dictionary["passwords-common"]);
	}
	return commonPasswords.has(password.normalize("NFKC").toLowerCase());
}

/**
 * A password is 8 to 128 characters, not only one repeated character, and not one of the
 * passwords found most often in breaches (in any letter case).
 */
export function passwordProblem(password: string): string | null {
	if (password.length < 8) return "Password must be at least 8 characters long";
	if (password.length > 128) return "Password must be at most 128 characters long";
	if (/^(.)\1*$/.test(password)) return "Password must not be a single repeated character";
	if (isCommonPassword(password))
		return "Password is one of the most common passwords; choose another";
	return null;
}
