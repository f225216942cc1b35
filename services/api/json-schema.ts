/**
 * fastest-validator rules -> JSON Schema (draft 2020-12, the dialect of OpenAPI 3.1).
 *
 * Pure functions. The schema describes what a client may send: every value it accepts is also
 * accepted by the action's validator. Sanitizers (`trim`, `uppercase`, `normalize`, `convert`)
 * change a value after it arrived and have no JSON Schema counterpart; they are left out.
 *
 * What cannot be converted is never guessed silently: it becomes `{}` (any value) and a warning
 * naming the field, so the generator (and its tests) can tell.
 */

export type JsonSchema = Record<string, unknown>;

export interface ConvertOptions {
	/** Schema for a `custom` rule (its check function is code, not data). Default: a string. */
	custom?: (rule: Rule, field: string) => JsonSchema;
}

export interface Converted {
	schema: JsonSchema;
	/** Fields whose rule could not be converted exactly, with why. */
	warnings: string[];
}

type Rule = Record<string, unknown>;

/** `"string|min:3|optional"` -> `{ type: "string", min: 3, optional: true }`, as the validator reads it. */
export function parseShorthand(text: string): Rule {
	const parts = text.split("|").map(s => s.trim());
	const head = parts[0];
	const rule: Rule = head.endsWith("[]")
		? { type: "array", items: head.slice(0, -2) }
		: { type: head };
	for (const part of parts.slice(1)) {
		const idx = part.indexOf(":");
		if (idx === -1) {
			if (part.startsWith("no-")) rule[part.slice(3)] = false;
			else rule[part] = true;
			continue;
		}
		const key = part.slice(0, idx).trim();
		const raw = part.slice(idx + 1).trim();
		rule[key] =
			raw === "true" || raw === "false"
				? raw === "true"
				: raw !== "" && !Number.isNaN(Number(raw))
					? Number(raw)
					: raw;
	}
	return rule;
}

/** A rule in any of its forms (object, shorthand string, array of alternatives) as an object. */
function normalize(rule: unknown): Rule | Rule[] | null {
	if (typeof rule === "string") return parseShorthand(rule);
	if (Array.isArray(rule)) return rule.map(r => normalize(r)).filter(isRule);
	if (rule && typeof rule === "object") {
		const r = rule as Rule;
		// `{ $$type: "object", ...props }`: an object whose other keys are its properties.
		if (typeof r.$$type === "string") {
			const base = parseShorthand(r.$$type);
			const props: Rule = {};
			for (const [k, v] of Object.entries(r)) if (k !== "$$type") props[k] = v;
			return { ...base, props };
		}
		return r;
	}
	return null;
}

function isRule(r: Rule | Rule[] | null): r is Rule {
	return r !== null && !Array.isArray(r);
}

/** Is a property with this rule optional in its parent (not required)? */
export function isOptional(rule: unknown): boolean {
	const r = normalize(rule);
	if (r === null) return true;
	if (Array.isArray(r)) return r.some(x => isOptional(x));
	return r.optional === true || r.default !== undefined || r.type === "forbidden";
}

/** A JS RegExp (or its source string) as a JSON Schema pattern; null when it has none or lost it. */
function patternOf(rule: Rule, field: string, warnings: string[]): string | null {
	const p = rule.pattern;
	if (p === undefined) return null;
	let source: string;
	let flags: string;
	if (p instanceof RegExp) {
		source = p.source;
		flags = p.flags;
	} else if (typeof p === "string") {
		source = p;
		flags = typeof rule.patternFlags === "string" ? rule.patternFlags : "";
	} else {
		// A RegExp sent through the transporter arrives as `{}`: the pattern is gone.
		warnings.push(`${field}: pattern lost (a RegExp does not survive service discovery)`);
		return null;
	}
	if (/[^gsuy]/.test(flags)) {
		warnings.push(`${field}: pattern flags "${flags}" have no JSON Schema equivalent`);
		return null;
	}
	return source;
}

function convertRule(rule: Rule, field: string, opts: ConvertOptions, warnings: string[]) {
	const type = typeof rule.type === "string" ? rule.type : "any";
	let schema: JsonSchema;
	switch (type) {
		case "string":
		case "email":
		case "url":
		case "uuid":
		case "date":
		case "objectID":
		case "luhn":
		case "mac":
			schema = stringRule(type, rule, field, warnings);
			break;
		case "number":
			schema = numberRule(rule);
			break;
		case "boolean":
			schema = { type: "boolean" };
			break;
		case "enum":
			schema = { enum: Array.isArray(rule.values) ? [...rule.values] : [] };
			break;
		case "equal":
			schema = { const: rule.value };
			break;
		case "object":
			schema = objectRule(rule, field, opts, warnings);
			break;
		case "record":
			schema = {
				type: "object",
				additionalProperties:
					rule.value !== undefined
						? toSchema(rule.value, `${field}.*`, opts, warnings)
						: {}
			};
			break;
		case "array":
			schema = arrayRule(rule, field, opts, warnings);
			break;
		case "tuple":
			schema = {
				type: "array",
				...(Array.isArray(rule.items)
					? {
							prefixItems: rule.items.map((r, i) =>
								toSchema(r, `${field}[${i}]`, opts, warnings)
							),
							minItems: rule.items.length,
							maxItems: rule.items.length
						}
					: {})
			};
			break;
		case "multi":
			schema = {
				anyOf: (Array.isArray(rule.rules) ? rule.rules : []).map(r =>
					toSchema(r, field, opts, warnings)
				)
			};
			break;
		case "custom":
			schema = opts.custom ? opts.custom(rule, field) : { type: "string" };
			break;
		case "any":
			schema = {};
			break;
		default:
			warnings.push(`${field}: rule type "${type}" has no JSON Schema conversion`);
			schema = {};
	}
	if (rule.default !== undefined && typeof rule.default !== "function")
		schema.default = rule.default;
	if (rule.nullable === true && typeof schema.type === "string")
		schema.type = [schema.type, "null"];
	if (typeof rule.label === "string") schema.title = rule.label;
	return schema;
}

function stringRule(type: string, rule: Rule, field: string, warnings: string[]): JsonSchema {
	const schema: JsonSchema = { type: "string" };
	const format: Record<string, string> = {
		email: "email",
		url: "uri",
		uuid: "uuid",
		date: "date-time"
	};
	if (format[type]) schema.format = format[type];
	if (type === "objectID") schema.pattern = "^[0-9a-fA-F]{24}$";
	if (typeof rule.length === "number") {
		schema.minLength = rule.length;
		schema.maxLength = rule.length;
	}
	if (typeof rule.min === "number") schema.minLength = rule.min;
	if (typeof rule.max === "number") schema.maxLength = rule.max;
	if (rule.empty === false && !(typeof schema.minLength === "number" && schema.minLength > 0))
		schema.minLength = 1;
	if (Array.isArray(rule.enum)) schema.enum = [...rule.enum];
	const classes: Record<string, string> = {
		alpha: "^[a-zA-Z]+$",
		numeric: "^-?[0-9]\\d*(\\.\\d+)?$",
		alphanum: "^[a-zA-Z0-9]+$",
		alphadash: "^[a-zA-Z0-9_-]+$",
		hex: "^[0-9a-fA-F]+$"
	};
	const patterns: string[] = [];
	for (const [key, pattern] of Object.entries(classes))
		if (rule[key] === true) patterns.push(pattern);
	if (type === "string") {
		const own = patternOf(rule, field, warnings);
		if (own !== null) patterns.push(own);
	}
	if (rule.singleLine === true) patterns.push("^[^\\n]*$");
	if (patterns.length === 1) schema.pattern = patterns[0];
	else if (patterns.length > 1)
		schema.allOf = patterns.map(pattern => ({ type: "string", pattern }));
	return schema;
}

function numberRule(rule: Rule): JsonSchema {
	const schema: JsonSchema = { type: rule.integer === true ? "integer" : "number" };
	if (typeof rule.min === "number") schema.minimum = rule.min;
	if (typeof rule.max === "number") schema.maximum = rule.max;
	if (typeof rule.equal === "number") schema.const = rule.equal;
	if (typeof rule.notEqual === "number") schema.not = { const: rule.notEqual };
	if (rule.positive === true) schema.exclusiveMinimum = 0;
	if (rule.negative === true) schema.exclusiveMaximum = 0;
	return schema;
}

function objectRule(rule: Rule, field: string, opts: ConvertOptions, warnings: string[]) {
	const props = (rule.props ?? rule.properties) as Record<string, unknown> | undefined;
	const schema: JsonSchema = { type: "object" };
	if (props) Object.assign(schema, propertiesOf(props, field, opts, warnings));
	if (rule.strict === true) schema.additionalProperties = false;
	if (typeof rule.minProps === "number") schema.minProperties = rule.minProps;
	if (typeof rule.maxProps === "number") schema.maxProperties = rule.maxProps;
	return schema;
}

function arrayRule(rule: Rule, field: string, opts: ConvertOptions, warnings: string[]) {
	const schema: JsonSchema = { type: "array" };
	if (rule.items !== undefined) schema.items = toSchema(rule.items, `${field}[]`, opts, warnings);
	if (typeof rule.length === "number") {
		schema.minItems = rule.length;
		schema.maxItems = rule.length;
	}
	if (typeof rule.min === "number") schema.minItems = rule.min;
	if (typeof rule.max === "number") schema.maxItems = rule.max;
	if (rule.empty === false && schema.minItems === undefined) schema.minItems = 1;
	if (rule.unique === true) schema.uniqueItems = true;
	if (Array.isArray(rule.enum))
		schema.items = { ...(schema.items as JsonSchema), enum: rule.enum };
	if (rule.contains !== undefined) schema.contains = { const: rule.contains };
	return schema;
}

/** `properties` and `required` of an object whose fields follow these rules. */
function propertiesOf(
	props: Record<string, unknown>,
	parent: string,
	opts: ConvertOptions,
	warnings: string[]
) {
	const properties: Record<string, JsonSchema> = {};
	const required: string[] = [];
	for (const [name, rule] of Object.entries(props)) {
		if (name.startsWith("$$")) continue;
		const r = normalize(rule);
		if (isRule(r) && r.type === "forbidden") continue;
		const field = parent ? `${parent}.${name}` : name;
		properties[name] = toSchema(rule, field, opts, warnings);
		if (!isOptional(rule)) required.push(name);
	}
	return required.length > 0 ? { properties, required } : { properties };
}

function toSchema(rule: unknown, field: string, opts: ConvertOptions, warnings: string[]) {
	const r = normalize(rule);
	if (r === null) {
		warnings.push(`${field}: not a validation rule`);
		return {};
	}
	if (Array.isArray(r)) return { anyOf: r.map(x => convertRule(x, field, opts, warnings)) };
	return convertRule(r, field, opts, warnings);
}

/** One rule -> a JSON Schema. */
export function ruleToSchema(rule: unknown, field = "", opts: ConvertOptions = {}): Converted {
	const warnings: string[] = [];
	const schema = toSchema(rule, field || "value", opts, warnings);
	return { schema, warnings };
}

/**
 * An action's `params` -> the JSON Schema of the object it accepts. `$$strict: true` forbids
 * unknown fields; `"remove"` (drops them) and the default (keeps them) both accept them.
 */
export function paramsToSchema(
	params: Record<string, unknown>,
	opts: ConvertOptions = {}
): Converted {
	const warnings: string[] = [];
	const schema: JsonSchema = {
		type: "object",
		...propertiesOf(params, "", opts, warnings)
	};
	if (params.$$strict === true) schema.additionalProperties = false;
	return { schema, warnings };
}
