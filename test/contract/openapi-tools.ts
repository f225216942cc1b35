/**
 * Checking an OpenAPI document and answers against it:
 * - validate(): @apidevtools/swagger-parser, the standard validator (structure against the
 *   OpenAPI 3.1 schema, every $ref resolved). It is an ES module jest's CommonJS runtime cannot
 *   load, so it runs in a child Node process (bounded in time).
 * - lint(): what swagger-parser does not check for 3.x: unique operationIds, path templates and
 *   path parameters in agreement, `required` naming existing properties, and every schema
 *   compiling under Ajv's strict JSON Schema 2020-12 (no unknown or misspelt keywords).
 * - responseValidator(): ajv validation of a body against the schema the document declares for a
 *   path, method and status.
 */
import { spawnSync } from "node:child_process";
import path from "node:path";
import Ajv2020, { type ValidateFunction } from "ajv/dist/2020";
import addFormats from "ajv-formats";

type Doc = { paths: Record<string, Record<string, any>>; components?: Record<string, any> };

const VALIDATE = `
const SwaggerParser = require("@apidevtools/swagger-parser");
let input = "";
process.stdin.on("data", c => (input += c));
process.stdin.on("end", () => {
	SwaggerParser.validate(JSON.parse(input))
		.then(api => { console.log(JSON.stringify({ ok: true, openapi: api.openapi })); })
		.catch(err => { console.log(JSON.stringify({ ok: false, message: err.message })); });
});`;

/** swagger-parser's verdict: `{ ok: true }` or `{ ok: false, message }`. */
export function validate(document: unknown): { ok: boolean; openapi?: string; message?: string } {
	const run = spawnSync(process.execPath, ["-e", VALIDATE], {
		input: JSON.stringify(document),
		cwd: path.resolve(__dirname, "../.."), // where node_modules is
		encoding: "utf8",
		timeout: 20_000
	});
	if (run.status !== 0) throw new Error(`swagger-parser did not run: ${run.stderr || run.error}`);
	return JSON.parse(run.stdout.trim().split("\n").pop()!);
}

function newAjv() {
	return addFormats(new Ajv2020({ strict: true, allErrors: true }));
}

/** Every schema object in the document, with where it is. */
function schemasOf(doc: Doc): [string, unknown][] {
	const out: [string, unknown][] = [];
	for (const [name, s] of Object.entries(doc.components?.schemas ?? {}))
		out.push([`#/components/schemas/${name}`, s]);
	for (const [path, item] of Object.entries(doc.paths))
		for (const [method, op] of Object.entries(item)) {
			for (const p of op.parameters ?? [])
				out.push([`${method} ${path} ${p.name}`, p.schema]);
			for (const [type, media] of Object.entries<any>(op.requestBody?.content ?? {}))
				out.push([`${method} ${path} body ${type}`, media.schema]);
			for (const [status, r] of Object.entries<any>(op.responses ?? {}))
				for (const [type, media] of Object.entries<any>(r.content ?? {}))
					out.push([`${method} ${path} ${status} ${type}`, media.schema]);
		}
	return out;
}

/** Walk a schema: every object with `required` names properties it declares. */
function checkRequired(where: string, schema: unknown, problems: string[]) {
	if (!schema || typeof schema !== "object") return;
	const s = schema as Record<string, unknown>;
	if (Array.isArray(s.required) && s.properties && typeof s.properties === "object")
		for (const name of s.required as string[])
			if (!(name in (s.properties as object)))
				problems.push(`${where}: required '${name}' is not a property`);
	for (const value of Object.values(s))
		if (Array.isArray(value)) value.forEach(v => checkRequired(where, v, problems));
		else if (value && typeof value === "object") checkRequired(where, value, problems);
}

/** Problems swagger-parser does not look for in OpenAPI 3.x documents; [] when none. */
export function lint(doc: Doc): string[] {
	const problems: string[] = [];
	const ids = new Set<string>();
	for (const [path, item] of Object.entries(doc.paths)) {
		const templated = [...path.matchAll(/\{([^}]+)\}/g)].map(m => m[1]).sort();
		for (const [method, op] of Object.entries(item)) {
			if (ids.has(op.operationId)) problems.push(`duplicate operationId ${op.operationId}`);
			ids.add(op.operationId);
			const declared = (op.parameters ?? [])
				.filter((p: any) => p.in === "path")
				.map((p: any) => {
					if (p.required !== true)
						problems.push(`${method} ${path}: path parameter ${p.name} not required`);
					return p.name;
				})
				.sort();
			if (JSON.stringify(declared) !== JSON.stringify(templated))
				problems.push(`${method} ${path}: path parameters ${declared} != ${templated}`);
			if (!op.responses || Object.keys(op.responses).length === 0)
				problems.push(`${method} ${path}: no responses`);
		}
	}
	const ajv = newAjv();
	ajv.addSchema({ $id: "doc", $defs: rebase(doc.components?.schemas ?? {}) });
	for (const [where, schema] of schemasOf(doc)) {
		checkRequired(where, schema, problems);
		try {
			ajv.compile(rebase(schema));
		} catch (err) {
			problems.push(`${where}: ${(err as Error).message}`);
		}
	}
	return problems;
}

const COMPONENT = "#/components/schemas/";

/** `#/components/schemas/X` refs -> `doc#/$defs/X`: the components registered as schema `doc`. */
function rebase(schema: unknown): any {
	if (Array.isArray(schema)) return schema.map(rebase);
	if (!schema || typeof schema !== "object") return schema;
	const out: Record<string, unknown> = {};
	for (const [k, v] of Object.entries(schema))
		out[k] =
			k === "$ref" && typeof v === "string" && v.startsWith(COMPONENT)
				? `doc#/$defs/${v.slice(COMPONENT.length)}`
				: rebase(v);
	return out;
}

/** Validates bodies against the document's response schemas. */
export function responseValidator(doc: Doc) {
	const ajv = newAjv();
	ajv.addSchema({ $id: "doc", $defs: rebase(doc.components?.schemas ?? {}) });
	const cache = new Map<string, ValidateFunction>();
	return {
		/** The declared statuses of an operation. */
		statuses(path: string, method: string): string[] {
			return Object.keys(doc.paths[path]?.[method]?.responses ?? {});
		},
		/** null when `body` is what the document declares for this status; else why not. */
		check(path: string, method: string, status: number, body: unknown): string | null {
			const op = doc.paths[path]?.[method];
			if (!op) return `${method.toUpperCase()} ${path} is not in the document`;
			const response = op.responses?.[String(status)];
			if (!response) return `${method.toUpperCase()} ${path} does not declare ${status}`;
			const schema = response.content?.["application/json"]?.schema;
			if (!schema) return `${method.toUpperCase()} ${path} ${status} has no JSON body`;
			const key = `${method} ${path} ${status}`;
			if (!cache.has(key)) cache.set(key, ajv.compile(rebase(schema)));
			const fn = cache.get(key)!;
			return fn(body)
				? null
				: `${method.toUpperCase()} ${path} ${status}: ${ajv.errorsText(fn.errors)} in ${JSON.stringify(body)}`;
		}
	};
}
