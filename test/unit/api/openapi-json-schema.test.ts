/**
 * fastest-validator rules -> JSON Schema: the shapes, and that the schema accepts exactly what the
 * action's validator accepts (checked value by value against moleculer's own validator).
 */
import Ajv2020 from "ajv/dist/2020";
import addFormats from "ajv-formats";
import { Validators } from "moleculer";
import { IdParam, PageParams, secretParam } from "../../../contracts/params";
import {
	isOptional,
	paramsToSchema,
	parseShorthand,
	ruleToSchema
} from "../../../services/api/json-schema";

const ajv = addFormats(new Ajv2020({ strict: true, allErrors: true }));
const fastest = new Validators.Fastest();

/** Does moleculer's validator accept `{ value }` under `{ value: rule }`? */
function validatorAccepts(rule: unknown, value: unknown): boolean {
	const params = value === undefined ? {} : { value: structuredClone(value) };
	try {
		return fastest.validate(params, { value: rule } as never) === true;
	} catch {
		return false;
	}
}

describe("parseShorthand", () => {
	it("reads types, flags, numbers and booleans like the validator", () => {
		expect(parseShorthand("string|min:3|max:10|optional")).toEqual({
			type: "string",
			min: 3,
			max: 10,
			optional: true
		});
		expect(parseShorthand("number|integer|no-convert|equal:5")).toEqual({
			type: "number",
			integer: true,
			convert: false,
			equal: 5
		});
		expect(parseShorthand("string[]|min:1")).toEqual({
			type: "array",
			items: "string",
			min: 1
		});
		expect(parseShorthand("string|pattern:^[a-z]+$")).toEqual({
			type: "string",
			pattern: "^[a-z]+$"
		});
	});
});

describe("ruleToSchema", () => {
	const cases: [string, unknown, object][] = [
		[
			"string with min, max and a RegExp pattern",
			{ type: "string", min: 1, max: 64, pattern: /^[A-Za-z0-9_-]+$/ },
			{ type: "string", minLength: 1, maxLength: 64, pattern: "^[A-Za-z0-9_-]+$" }
		],
		[
			"string with a string pattern, length and enum",
			{ type: "string", length: 2, pattern: "^[A-Z]+$", enum: ["DE", "FR"] },
			{ type: "string", minLength: 2, maxLength: 2, pattern: "^[A-Z]+$", enum: ["DE", "FR"] }
		],
		["email", { type: "email", max: 254 }, { type: "string", format: "email", maxLength: 254 }],
		[
			"integer with bounds and a default",
			PageParams.pageSize,
			{ type: "integer", minimum: 1, maximum: 100, default: 20 }
		],
		[
			"positive number and notEqual",
			{ type: "number", positive: true, notEqual: 3 },
			{ type: "number", exclusiveMinimum: 0, not: { const: 3 } }
		],
		["boolean", { type: "boolean", convert: true }, { type: "boolean" }],
		["enum", { type: "enum", values: ["a", "b"] }, { enum: ["a", "b"] }],
		["shorthand", "string|max:5|optional", { type: "string", maxLength: 5 }],
		[
			"array with items, min and max",
			{ type: "array", min: 1, max: 3, items: "number|integer" },
			{ type: "array", items: { type: "integer" }, minItems: 1, maxItems: 3 }
		],
		[
			"strict object with an optional prop",
			{ type: "object", strict: true, props: { a: "string", b: "number|optional" } },
			{
				type: "object",
				properties: { a: { type: "string" }, b: { type: "number" } },
				required: ["a"],
				additionalProperties: false
			}
		],
		[
			"object that removes unknown props",
			{ type: "object", strict: "remove", props: { a: { type: "string" } } },
			{ type: "object", properties: { a: { type: "string" } }, required: ["a"] }
		],
		[
			"custom secret param as a string",
			secretParam("cvc", 4, () => true, "m"),
			{ type: "string" }
		],
		["alternatives", ["string", "number"], { anyOf: [{ type: "string" }, { type: "number" }] }],
		["nullable", { type: "string", nullable: true }, { type: ["string", "null"] }]
	];
	it.each(cases)("%s", (_name, rule, expected) => {
		const { schema, warnings } = ruleToSchema(rule, "f");
		expect(schema).toEqual(expected);
		expect(warnings).toEqual([]);
		expect(() => ajv.compile(schema)).not.toThrow();
	});

	it("warns instead of guessing: a lost pattern, unknown types, unsupported flags", () => {
		expect(ruleToSchema({ type: "string", pattern: {} }, "phone")).toEqual({
			schema: { type: "string" },
			warnings: ["phone: pattern lost (a RegExp does not survive service discovery)"]
		});
		expect(ruleToSchema({ type: "class", instanceOf: Buffer }, "file").warnings).toEqual([
			'file: rule type "class" has no JSON Schema conversion'
		]);
		expect(ruleToSchema({ type: "string", pattern: /^a$/i }, "x")).toEqual({
			schema: { type: "string" },
			warnings: ['x: pattern flags "i" have no JSON Schema equivalent']
		});
	});

	it("lets the caller describe custom rules", () => {
		const { schema } = ruleToSchema({ type: "custom" }, "x", {
			custom: () => ({ type: "integer" })
		});
		expect(schema).toEqual({ type: "integer" });
	});
});

describe("isOptional", () => {
	it("is true for optional, defaulted and forbidden fields only", () => {
		expect(isOptional({ type: "string", optional: true })).toBe(true);
		expect(isOptional(PageParams.page)).toBe(true);
		expect(isOptional("string|optional")).toBe(true);
		expect(isOptional({ type: "forbidden" })).toBe(true);
		expect(isOptional(IdParam)).toBe(false);
		expect(isOptional("string")).toBe(false);
	});
});

describe("paramsToSchema", () => {
	it("makes an object of the action's params; $$strict: true forbids others", () => {
		const { schema } = paramsToSchema({
			$$strict: true,
			id: IdParam,
			reason: { type: "string", max: 200, optional: true },
			secret: { type: "forbidden" }
		});
		expect(schema).toEqual({
			type: "object",
			properties: {
				id: { type: "string", minLength: 1, maxLength: 64, pattern: "^[A-Za-z0-9_-]+$" },
				reason: { type: "string", maxLength: 200 }
			},
			required: ["id"],
			additionalProperties: false
		});
		expect(paramsToSchema({ $$strict: "remove", a: "string" }).schema).not.toHaveProperty(
			"additionalProperties"
		);
	});
});

describe("the schema accepts what the validator accepts", () => {
	// Rules without sanitizers (trim, convert...), which change values instead of judging them.
	const samples: [string, unknown, unknown[]][] = [
		["id", IdParam, ["abc", "a_b-1", "", "a b", "x".repeat(64), "x".repeat(65), 5, null]],
		[
			"bounded integer",
			{ type: "number", integer: true, min: 1, max: 12 },
			[1, 12, 0, 13, 1.5, "3", true]
		],
		["positive", { type: "number", positive: true }, [1, 0.5, 0, -1]],
		["currency", { type: "string", pattern: /^[A-Z]{3}$/ }, ["EUR", "eur", "EURO", 1]],
		["fixed length", { type: "string", length: 2 }, ["DE", "D", "DEU"]],
		["email", { type: "email", max: 30 }, ["a@b.co", "not-an-email", "a@b", 3]],
		["enum", { type: "enum", values: ["pending", "shipped"] }, ["pending", "nope", 1]],
		["boolean", { type: "boolean" }, [true, false, "true", 0]],
		[
			"array",
			{ type: "array", min: 1, max: 2, items: { type: "number", integer: true } },
			[[1], [1, 2], [], [1, 2, 3], ["1"], "1"]
		],
		[
			"strict object",
			{ type: "object", strict: true, props: { a: "number", b: "string|optional" } },
			[{ a: 1 }, { a: 1, b: "x" }, { b: "x" }, { a: 1, c: 2 }, { a: "1" }, []]
		],
		["shorthand", "string|min:2|max:3", ["ab", "abc", "a", "abcd"]]
	];
	it.each(samples)("%s", (_name, rule, values) => {
		const { schema, warnings } = ruleToSchema(rule, "value");
		expect(warnings).toEqual([]);
		const check = ajv.compile(schema);
		for (const value of values)
			expect([value, check(value)]).toEqual([value, validatorAccepts(rule, value)]);
	});

	it("optional and required fields of params agree with the validator", () => {
		const params = { id: IdParam, note: { type: "string", optional: true }, ...PageParams };
		const check = ajv.compile(paramsToSchema(params).schema);
		for (const value of [
			{ id: "a" },
			{ note: "x" },
			{ id: "a", page: 0 },
			{ id: "a", page: 2 }
		]) {
			let accepted = true;
			try {
				fastest.validate(structuredClone(value), params as never);
			} catch {
				accepted = false;
			}
			expect([value, check(value)]).toEqual([value, accepted]);
		}
	});
});
