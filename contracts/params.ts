/**
 * Validation rules (fastest-validator) shared by several services.
 */

/** A database id: ours (28 hex, platform/persistence/ids.ts) or MongoDB's (24 hex), never an object or operator. */
// Patterns are strings, not RegExp literals: action schemas travel to other nodes as JSON (for
// the gateway's OpenAPI document), and a RegExp does not survive that.
export const IdParam = { type: "string", min: 1, max: 64, pattern: "^[A-Za-z0-9_-]+$" } as const;

/** An ISO 4217 currency code. */
export const CurrencyParam = { type: "string", max: 3, pattern: "^[A-Z]{3}$" } as const;

/** `page` and `pageSize` of a listing, from the query string. */
export const PageParams = {
	page: {
		type: "number",
		integer: true,
		min: 1,
		max: 10_000,
		optional: true,
		convert: true,
		default: 1
	},
	pageSize: {
		type: "number",
		integer: true,
		min: 1,
		max: 100,
		optional: true,
		convert: true,
		default: 20
	}
} as const;

/**
 * A secret string (card number, CVC): checked without the value ever being copied into the
 * validation error (the validator's own string rules put the rejected value into `actual`).
 */
export function secretParam(
	kind: string,
	maxLength: number,
	valid: (value: string) => boolean,
	message: string
) {
	return {
		type: "custom",
		// The length is checked before `valid` (which may run a regular expression) sees it.
		check(value: unknown, errors: { type: string }[]) {
			if (typeof value !== "string" || value.length > maxLength || !valid(value))
				errors.push({ type: kind });
			return value;
		},
		messages: { [kind]: message }
	} as const;
}

/**
 * Text a person reads (names, addresses, descriptions, reasons): NFKC-normalized and trimmed,
 * bounded, and refused when it holds control, format or other invisible characters (names reach
 * mail headers; look-alikes must not pass for each other). `multiline` allows tabs and newlines.
 */
export function textParam(opts: { min?: number; max: number; multiline?: boolean }) {
	return {
		type: "string",
		trim: true,
		text: opts.multiline ? "multiline" : true,
		...(opts.min !== undefined ? { min: opts.min } : {}),
		max: opts.max
	} as const;
}

/**
 * A card's expiry and CVC, as the gateway takes them for an order and payments for an
 * authorization (the card number's own rule differs: each side checks it its own way).
 */
export const CardExpiryAndCvcParams = {
	expMonth: { type: "number", integer: true, min: 1, max: 12 },
	expYear: { type: "number", integer: true, min: 2000, max: 2100 },
	cvc: secretParam(
		"cvc",
		4,
		v => /^[0-9]{3,4}$/.test(v),
		"The '{field}' field must be 3 or 4 digits."
	)
} as const;
