/**
 * The broker's parameter validator: fastest-validator, with the rules that read client input
 * made safe as a class.
 *
 * - **Length before any regular expression.** A string rule with a `max` (or `length`) refuses a
 *   longer value before anything else runs on it, so at most `max + SLACK` characters ever reach
 *   its `pattern` (the slack leaves room for what `trim` removes). The built-in `email` and `url`
 *   rules ran their expression before (or without) a length check, and the email one in
 *   polynomial time (`^\S+@\S+\.\S+$`: a few kilobytes held the event loop for seconds): both are
 *   replaced by checks that scan the value once (no regular expression with backtracking). That
 *   every `pattern` itself runs in linear time is checked by test/security/redos.test.ts.
 * - **Array bounds before items.** An array over its `max` is refused before a single item is
 *   checked (the built-in rule checked every item of a 25 000-item array).
 * - **Bounded error lists.** A check answers at most MAX_VALIDATION_ERRORS errors, then one that
 *   counts the rest.
 * - **Text** (`text: true` on a string rule, see contracts/params.ts `textParam`): NFKC-normalized, and
 *   refused when it holds control, format (zero-width, bidi), private-use, unassigned or other
 *   invisible characters. Emails are normalized (NFKC, trimmed, lowercase) and limited to
 *   printable ASCII, so look-alike forms of one address are one address.
 */
import { Validators } from "moleculer";
import { EMAIL_MAX, URL_MAX, emailProblem, hasInvisible, normalizeEmail, urlProblem } from "./text";

/** Errors one validation answers at most (then one more entry counting the rest). */
export const MAX_VALIDATION_ERRORS = 20;

/** Characters beyond `max` a string may have before it is refused unread (trimmed spaces). */
export const LENGTH_SLACK = 64;

export const VALIDATION_MESSAGES: Record<string, string> = {
	email: "The '{field}' field must be a valid e-mail.",
	emailCharacters:
		"The '{field}' field must be an e-mail address of printable ASCII characters (write an internationalized domain in its xn-- form).",
	emailMax: `The '{field}' field length must be less than or equal to {expected} characters long.`,
	url: "The '{field}' field must be a valid URL.",
	urlMax: "The '{field}' field length must be less than or equal to {expected} characters long.",
	textInvisible:
		"The '{field}' field must not contain control, formatting or invisible characters.",
	moreErrors: "{actual} more errors are not listed."
};

type RuleGenerator = (
	this: FastestLike,
	rule: { schema: Record<string, any>; messages: Record<string, string> },
	path: string,
	context: unknown
) => { source: string; sanitized?: boolean };

interface FastestLike {
	rules: Record<string, RuleGenerator>;
	add(type: string, fn: RuleGenerator): void;
	addCustomFunction(name: string, fn: (...args: any[]) => unknown): void;
	makeError(opts: {
		type: string;
		field?: string;
		expected?: unknown;
		actual?: unknown;
		messages: Record<string, string>;
	}): string;
}

const bound = (schema: Record<string, any>): number | undefined =>
	typeof schema.max === "number"
		? schema.max
		: typeof schema.length === "number"
			? schema.length
			: undefined;

/** Replace and wrap fastest-validator's rules (see the header). */
function install(v: FastestLike): void {
	const stringRule = v.rules.string;
	const arrayRule = v.rules.array;

	v.addCustomFunction("$shopEmail", (value: string) => normalizeEmail(value));
	v.addCustomFunction("$shopEmailProblem", (value: string) => emailProblem(value));
	v.addCustomFunction("$shopUrlProblem", (value: string) => urlProblem(value));
	v.addCustomFunction("$shopInvisible", (value: string, multiline: boolean) =>
		hasInvisible(value, multiline)
	);

	v.add("string", function boundedString(rule, path, context) {
		const { schema, messages } = rule;
		const own = stringRule.call(this, rule, path, context);
		const max = bound(schema);
		const head: string[] = [];
		if (max !== undefined)
			head.push(`
				if (typeof value === "string" && value.length > ${max + LENGTH_SLACK}) {
					${this.makeError({ type: schema.length != null ? "stringLength" : "stringMax", expected: max, actual: "value.length", messages })}
					return value;
				}
			`);
		if (schema.text) {
			const multiline = schema.text === "multiline";
			head.push(`
				if (typeof value === "string") {
					value = value.normalize("NFKC");
					if (context.customFunctions.$shopInvisible(value, ${multiline})) {
						${this.makeError({ type: "textInvisible", messages })}
						return value;
					}
				}
			`);
		}
		if (head.length === 0) return own;
		return { source: head.join("\n") + own.source, sanitized: own.sanitized || !!schema.text };
	});

	v.add("array", function boundedArray(rule, path, context) {
		const { schema, messages } = rule;
		const own = arrayRule.call(this, rule, path, context);
		const max = bound(schema);
		if (max === undefined) return own;
		return {
			...own,
			source:
				`
				if (Array.isArray(value) && value.length > ${max}) {
					${this.makeError({ type: schema.length != null ? "arrayLength" : "arrayMax", expected: max, actual: "value.length", messages })}
					return value;
				}
			` + own.source
		};
	});

	v.add("email", function linearEmail({ schema, messages }) {
		const max = Math.min(typeof schema.max === "number" ? schema.max : EMAIL_MAX, EMAIL_MAX);
		const src = `
			if (typeof value !== "string") {
				${this.makeError({ type: "string", actual: "value", messages })}
				return value;
			}
			if (value.length > ${max + LENGTH_SLACK}) {
				${this.makeError({ type: "emailMax", expected: max, actual: "value.length", messages })}
				return value;
			}
			var email = context.customFunctions.$shopEmail(value);
			${schema.normalize ? "value = email;" : ""}
			if (email.length === 0) {
				${schema.empty ? "return value;" : this.makeError({ type: "emailEmpty", actual: "value", messages }) + " return value;"}
			}
			if (email.length > ${max}) {
				${this.makeError({ type: "emailMax", expected: max, actual: "email.length", messages })}
				return value;
			}
			${
				typeof schema.min === "number"
					? `if (email.length < ${schema.min}) { ${this.makeError({ type: "emailMin", expected: schema.min, actual: "email.length", messages })} return value; }`
					: ""
			}
			var problem = context.customFunctions.$shopEmailProblem(email);
			if (problem === "emailCharacters") {
				${this.makeError({ type: "emailCharacters", messages })}
			} else if (problem !== null) {
				${this.makeError({ type: "email", messages })}
			}
			return value;
		`;
		return { source: src, sanitized: Boolean(schema.normalize) };
	});

	v.add("url", function linearUrl({ schema, messages }) {
		const max = typeof schema.max === "number" ? schema.max : URL_MAX;
		const src = `
			if (typeof value !== "string") {
				${this.makeError({ type: "string", actual: "value", messages })}
				return value;
			}
			if (value.length === 0) {
				${schema.empty ? "return value;" : this.makeError({ type: "urlEmpty", actual: "value", messages }) + " return value;"}
			}
			if (value.length > ${max}) {
				${this.makeError({ type: "urlMax", expected: max, actual: "value.length", messages })}
				return value;
			}
			if (context.customFunctions.$shopUrlProblem(value)) {
				${this.makeError({ type: "url", messages })}
			}
			return value;
		`;
		return { source: src };
	});
}

type Check = ((params: unknown, opts?: unknown) => true | any[] | Promise<true | any[]>) & {
	async?: boolean;
};

/** At most MAX_VALIDATION_ERRORS errors, then one entry that counts the others. */
export function capErrors<T extends true | any[]>(res: T): T {
	if (res === true || res.length <= MAX_VALIDATION_ERRORS) return res;
	const more = res.length - MAX_VALIDATION_ERRORS;
	return [
		...res.slice(0, MAX_VALIDATION_ERRORS),
		{
			type: "moreErrors",
			field: "",
			actual: more,
			message: VALIDATION_MESSAGES.moreErrors.replace("{actual}", String(more))
		}
	] as T;
}

/** moleculer's fastest-validator with the rules above. Set as the broker's `validator`. */
export class ShopValidator extends Validators.Fastest {
	constructor() {
		super({ messages: VALIDATION_MESSAGES } as never);
		install((this as unknown as { validator: FastestLike }).validator);
	}

	override compile(schema: Record<string, any>): any {
		const check = super.compile(schema) as unknown as Check;
		const capped: Check = check.async
			? (params, opts) => (check(params, opts) as Promise<true | any[]>).then(capErrors)
			: (params, opts) => capErrors(check(params, opts) as true | any[]);
		capped.async = check.async;
		return capped;
	}
}
