/**
 * Checks of text from clients, each one pass over the characters (no regular expression that
 * can backtrack): emails, URLs, invisible characters. Pure functions; platform/http/validator.ts applies
 * them to every param of those kinds.
 */

/** The longest email address (RFC 5321 path limit). */
export const EMAIL_MAX = 254;
export const URL_MAX = 2048;

/**
 * Control, format (zero-width spaces and joiners, bidi overrides, soft hyphen), surrogate,
 * private-use, unassigned and line/paragraph separator characters, and every other default-
 * ignorable (invisible) one such as U+3164 HANGUL FILLER. One character class: linear.
 */
const INVISIBLE = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Default_Ignorable_Code_Point}]/u;
/** The same, except tab and line feed (multi-line text such as a description). */
const INVISIBLE_MULTILINE =
	// eslint-disable-next-line no-control-regex -- matching control characters is the point
	/[\0-\x08\x0b-\x1f\x7f-\x9f\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Default_Ignorable_Code_Point}]/u;

/** Whether `text` holds a character a person could not see (or that changes what they see). */
export function hasInvisible(text: string, multiline = false): boolean {
	return (multiline ? INVISIBLE_MULTILINE : INVISIBLE).test(text);
}

/** An email as it is compared and stored: NFKC, no surrounding spaces, lowercase. */
export function normalizeEmail(email: string): string {
	return email.normalize("NFKC").trim().toLowerCase();
}

const LOCAL_CHARS = new Set("abcdefghijklmnopqrstuvwxyz0123456789!#$%&'*+/=?^_`{|}~-.");

function isAlpha(c: number): boolean {
	return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a);
}
function isAlnum(c: number): boolean {
	return isAlpha(c) || (c >= 0x30 && c <= 0x39);
}

/**
 * Why a (normalized) email is not an address we accept, or null. One pass over the characters:
 * `local@domain`, the local part of RFC 5322 atext and single dots (no quoted forms), at most 64
 * characters; the domain of at least two DNS labels of letters, digits and inner hyphens, at most
 * 63 each, the last of letters (or an `xn--` label); no trailing dot.
 */
export function emailProblem(email: string): "emailCharacters" | "email" | null {
	for (let i = 0; i < email.length; i++) {
		const c = email.charCodeAt(i);
		if (c <= 0x20 || c >= 0x7f) return "emailCharacters";
	}
	const at = email.lastIndexOf("@");
	if (at <= 0 || at > 64 || email.indexOf("@") !== at) return "email";
	const local = email.slice(0, at).toLowerCase();
	const domain = email.slice(at + 1).toLowerCase();
	if (local.startsWith(".") || local.endsWith(".") || local.includes("..")) return "email";
	for (const ch of local) if (!LOCAL_CHARS.has(ch)) return "email";
	if (domain.length === 0 || domain.length > 253) return "email";
	const labels = domain.split(".");
	if (labels.length < 2) return "email";
	for (const label of labels) {
		if (label.length === 0 || label.length > 63) return "email";
		if (label.startsWith("-") || label.endsWith("-")) return "email";
		for (let i = 0; i < label.length; i++) {
			const c = label.charCodeAt(i);
			if (!isAlnum(c) && c !== 0x2d) return "email";
		}
	}
	const tld = labels[labels.length - 1];
	if (!tld.startsWith("xn--")) {
		if (tld.length < 2) return "email";
		for (let i = 0; i < tld.length; i++) if (!isAlpha(tld.charCodeAt(i))) return "email";
	}
	return null;
}

/** An http(s) URL without spaces or control characters, checked in one pass. */
export function urlProblem(url: string): boolean {
	const lower = url.slice(0, 8).toLowerCase();
	const rest = lower.startsWith("https://") ? 8 : lower.startsWith("http://") ? 7 : -1;
	if (rest < 0 || url.length === rest) return true;
	for (let i = 0; i < url.length; i++) {
		const c = url.charCodeAt(i);
		if (c <= 0x20 || c === 0x7f) return true;
	}
	return hasInvisible(url);
}
