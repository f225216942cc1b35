/**
 * Event-loop-delay fuzzing: worst-case strings (the attack strings recheck finds for every
 * pattern the params declare and for fastest-validator's built-in email and url expressions, long
 * runs of characters, values at and past their length limit) and huge or deeply nested arrays,
 * sent to every parameter of every public operation. The operations and their parameters come
 * from the gateway's own OpenAPI description (scripts/openapi.ts), so a new route or param is
 * fuzzed without touching this file.
 *
 * No answer may hold the event loop (perf_hooks.monitorEventLoopDelay) for more than 50 ms, and
 * each is a 2xx, or a 4xx with a machine-readable `type`; never a 5xx.
 */
import fs from "node:fs";
import path from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { check } from "recheck";
import ts from "typescript";
import { systemDocument } from "../../scripts/openapi";
import { bearer, startShop, type Shop } from "./fixtures";

jest.setTimeout(120_000);

/** The longest an answer may hold the event loop. */
const MAX_BLOCK_MS = 50;
/** Tries of a request that blocked before it counts as blocking. */
const REPEATS = 3;
/** Attack strings are this long: the old cubic email check held the loop ~0.4 s at it. */
const ATTACK_LENGTH = 2000;
/** Longer than any limit, well within the body limit. */
const HUGE_LENGTH = 60_000;

type Schema = Record<string, any>;
type Slot = { in: "path" | "query" | "header" | "body"; name: string; at: (string | 0)[] };
type Operation = {
	method: string;
	path: string;
	slots: Slot[];
	arrays: Slot[];
	schemas: Schema[];
	/** Answers a stream of Server-Sent Events: its body never ends. */
	stream: boolean;
};

const { document } = systemDocument();
const BASE = document.servers?.[0]?.url ?? "/api";

/** Scalar leaves (every one can be sent a string) and arrays of a JSON body schema. */
function bodySlots(schema: Schema | undefined, at: (string | 0)[], out: Operation) {
	if (!schema) return;
	if (schema.$ref) return bodySlots(resolve(schema.$ref), at, out);
	for (const alt of [...(schema.anyOf ?? []), ...(schema.oneOf ?? []), ...(schema.allOf ?? [])])
		bodySlots(alt, at, out);
	if (schema.properties)
		for (const [name, sub] of Object.entries<Schema>(schema.properties))
			bodySlots(sub, [...at, name], out);
	else if (schema.items) {
		out.arrays.push({ in: "body", name: at.join("."), at });
		bodySlots(schema.items, [...at, 0], out);
	} else if (at.length > 0) {
		out.slots.push({ in: "body", name: at.join("."), at });
		out.schemas.push(schema);
	}
}

function resolve(ref: string): Schema {
	return ref
		.replace(/^#\//, "")
		.split("/")
		.reduce<any>((s, k) => s?.[k], document);
}

const OPERATIONS: Operation[] = Object.entries<Record<string, any>>(document.paths).flatMap(
	([p, item]) =>
		Object.entries<any>(item).map(([method, op]) => {
			const out: Operation = {
				method,
				path: p,
				slots: [],
				arrays: [],
				schemas: [],
				stream: Boolean(op.responses?.["200"]?.content?.["text/event-stream"])
			};
			for (const prm of op.parameters ?? []) {
				out.slots.push({ in: prm.in, name: prm.name, at: [] });
				out.schemas.push(prm.schema ?? {});
			}
			// Headers the gateway reads on every request.
			for (const name of ["X-Request-ID", "Authorization"]) {
				out.slots.push({ in: "header", name, at: [] });
				out.schemas.push({ type: "string" });
			}
			bodySlots(op.requestBody?.content?.["application/json"]?.schema, [], out);
			return out;
		})
);

/** Every `pattern` the request schemas declare. */
function patternsOf(schema: unknown, out: Set<string>) {
	if (!schema || typeof schema !== "object") return;
	const s = schema as Schema;
	if (typeof s.pattern === "string") out.add(s.pattern);
	for (const v of Object.values(s)) patternsOf(v, out);
}

/** The expressions fastest-validator's own email and url rules run, read from its source. */
function builtInPatterns(): { rule: string; source: string; flags: string }[] {
	const dir = path.dirname(require.resolve("fastest-validator/lib/rules/email.js"));
	return ["email", "url"].flatMap(rule =>
		[
			...fs
				.readFileSync(path.join(dir, `${rule}.js`), "utf8")
				.matchAll(/^const \w*PATTERN = \/(.+)\/([a-z]*);$/gm)
		].map(m => ({ rule, source: m[1], flags: m[2] }))
	);
}

/**
 * recheck's attack, its pumps repeated to about ATTACK_LENGTH characters; and the same with a
 * character after it, so that trimming (as the email rule does) cannot remove the mismatch.
 */
function scaled(attack: { pumps: { prefix: string; pump: string }[]; suffix: string }): string[] {
	const pumped = attack.pumps.reduce((n, p) => n + p.pump.length, 0) || 1;
	const times = Math.max(1, Math.ceil(ATTACK_LENGTH / pumped));
	const s = attack.pumps.map(p => p.prefix + p.pump.repeat(times)).join("") + attack.suffix;
	return [s, s + "!"];
}

/**
 * Long runs of the characters patterns and address checks backtrack on, then a mismatch that
 * survives trimming (a tab before a last character).
 */
const RUNS = [
	"a",
	"0",
	"@",
	".",
	"-",
	" ",
	"\t",
	"+",
	"(",
	"/",
	":",
	"_",
	"@.",
	"a@",
	"a.",
	"0 ",
	"é"
]
	.map(run => run.repeat(Math.ceil(ATTACK_LENGTH / run.length)) + "\t!")
	.concat(["a".repeat(ATTACK_LENGTH) + "\u0000", "\u200b".repeat(ATTACK_LENGTH)]);

/** The values sent to one slot: every attack, and lengths at and past the slot's own limit. */
function valuesFor(slot: Slot, schema: Schema, attacks: string[]): string[] {
	const values = [...attacks, ...RUNS];
	const max = typeof schema.maxLength === "number" ? schema.maxLength : undefined;
	if (max !== undefined) values.push("a".repeat(max), "a".repeat(max + 1), "1".repeat(max + 1));
	if (slot.in === "body") values.push("a".repeat(HUGE_LENGTH));
	return values;
}

const ID = "doesnotexist0000";

function setAt(at: (string | 0)[], value: unknown): unknown {
	if (at.length === 0) return value;
	const [head, ...rest] = at;
	return head === 0 ? [setAt(rest, value)] : { [head]: setAt(rest, value) };
}

/**
 * Regular expression literals of the code that are super-linear for recheck and why each is
 * harmless: they read only configuration or the text of internal errors, never a request.
 */
const TRUSTED_INPUT_ONLY: Record<string, string> = {
	"platform/http/body-limits.ts ^\\s*(\\d+(?:\\.\\d+)?)\\s*(b|kb|mb|gb)?\\s*$":
		"BODY_LIMIT (configuration)",
	"platform/runtime/settings.ts ^\\s*\\d+(\\.\\d+)?\\s*(b|kb|mb|gb)?\\s*$":
		"BODY_LIMIT (configuration)",
	"platform/persistence/sqlite-adapter.ts failed: [^.]+\\.(\\S+)": "SQLite's own error message",
	"services/notifications/delivery.ts [a-z][a-z0-9+.-]*:\\/\\/[^\\s'\"<>]*":
		"a mail transport's error; the request text in it is bounded by the params",
	"services/notifications/delivery.ts [^\\s'\"<>@/]+:[^\\s'\"<>@/]*@[^\\s'\"<>]+":
		"a mail transport's error; the request text in it is bounded by the params",
	"services/notifications/delivery.ts [^\\s'\"<>@]+@[^\\s'\"<>]+":
		"a mail transport's error; the request text in it is bounded by the params"
};

/** Every regular expression literal in the code a request can reach (not tests, not scripts). */
function regexLiterals(): { where: string; source: string; flags: string }[] {
	const root = path.resolve(__dirname, "../..");
	const walk = (dir: string): string[] =>
		fs.readdirSync(dir, { withFileTypes: true }).flatMap(e => {
			const full = path.join(dir, e.name);
			return e.isDirectory() ? walk(full) : e.name.endsWith(".ts") ? [full] : [];
		});
	const out: { where: string; source: string; flags: string }[] = [];
	for (const dir of ["services", "lib", "platform", "mixins", "contracts"]) {
		if (!fs.existsSync(path.join(root, dir))) continue;
		for (const file of walk(path.join(root, dir))) {
			const rel = path.relative(root, file);
			const visit = (node: ts.Node): void => {
				if (ts.isRegularExpressionLiteral(node)) {
					const end = node.text.lastIndexOf("/");
					const source = node.text.slice(1, end);
					out.push({
						where: `${rel} ${source}`,
						source,
						flags: node.text.slice(end + 1)
					});
				}
				ts.forEachChild(node, visit);
			};
			visit(
				ts.createSourceFile(
					file,
					fs.readFileSync(file, "utf8"),
					ts.ScriptTarget.Latest,
					true
				)
			);
		}
	}
	return out;
}

type Sent = { status: number; body: any; headers: Record<string, string> };

let shop: Shop;
/** Sampled every LOOP_RESOLUTION_MS; the first sample after a reset is only a new baseline. */
const LOOP_RESOLUTION_MS = 2;
const loop = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
const tick = () => new Promise(r => setTimeout(r, LOOP_RESOLUTION_MS + 1));

beforeAll(async () => {
	// Limits off: every request must reach the validator and the handlers, not a 429.
	shop = await startShop({
		RATE_LIMIT_MAX: "0",
		LOGIN_MAX_FAILURES: "1000000",
		LOGIN_CLIENT_MAX_FAILURES: "1000000"
	});
	loop.enable();
});
afterAll(async () => {
	loop.disable();
	await shop?.stop();
});

/** Reads an answer's JSON; a stream of events only up to its headers, then hangs up. */
function readAnswer(res: any, done: (err: Error | null, body: unknown) => void) {
	if (/^text\/event-stream/.test(res.headers["content-type"] ?? "")) {
		res.destroy();
		return done(null, {});
	}
	let text = "";
	res.setEncoding("utf8");
	res.on("data", (chunk: string) => (text += chunk));
	res.on("end", () => {
		try {
			done(null, JSON.parse(text));
		} catch {
			done(null, text);
		}
	});
}

/** One request with `slot` set to `value` (raw JSON when `raw`), or null when HTTP cannot carry it. */
function request(op: Operation, slot: Slot | null, value: unknown, raw?: string) {
	let url = BASE + op.path;
	for (const s of op.slots.filter(s => s.in === "path"))
		url = url.replace(`{${s.name}}`, encodeURIComponent(s === slot ? String(value) : ID));
	if (slot?.in === "query")
		url += `?${encodeURIComponent(slot.name)}=${encodeURIComponent(String(value))}`;
	// A request line or header past Node's 16 kB header limit is Node's own 431, before the gateway.
	if (url.length > 12_000) return null;
	if (slot?.in === "header" && !/^[\t\x20-\x7e]*$/.test(String(value))) return null;
	const req = (shop.http as any)[op.method](url).set(bearer(shop.adminToken));
	if (op.stream) req.buffer(true).parse(readAnswer);
	if (slot?.in === "header")
		req.set(
			slot.name,
			slot.name === "Authorization" ? `Bearer ${String(value)}` : String(value)
		);
	if (raw !== undefined) return req.set("Content-Type", "application/json").send(raw);
	if (slot?.in === "body") return req.send(setAt(slot.at, value));
	return req;
}

/** The longest the loop was held while `send` ran, in ms, and the answer. */
async function timed(send: () => PromiseLike<Sent>): Promise<{ res: Sent; ms: number }> {
	loop.reset();
	// The histogram ignores the first sample after a reset: a block before it would go unseen.
	await tick();
	const res = await send();
	// Let a timer come due, so a block at the very end of the answer is sampled too.
	await tick();
	return { res, ms: loop.max / 1e6 };
}

const problems: string[] = [];

/** Sends it; records a 5xx, a 4xx without `type`, or a block (over MAX_BLOCK_MS REPEATS times running). */
async function probe(what: string, send: () => PromiseLike<Sent> | null) {
	if (problems.length >= 10) return; // enough to see the class; keeps a bad run bounded
	const first = send();
	if (!first) return;
	let { res, ms } = await timed(() => first);
	// A block is deterministic; a scheduling hiccup or GC pause of a busy machine is not: a
	// request counts as blocking only when it blocks every time of REPEATS.
	for (let i = 1; i < REPEATS && ms > MAX_BLOCK_MS; i++) {
		await new Promise(r => setTimeout(r, 50));
		({ res, ms } = await timed(() => send()!));
	}
	const label = `${what}: ${res.status}`;
	if (ms > MAX_BLOCK_MS) problems.push(`${label} held the event loop ${Math.round(ms)} ms`);
	if (res.status === 429) problems.push(`${label}: rate-limited, the params were never read`);
	if (res.status >= 500) problems.push(`${label} ${JSON.stringify(res.body).slice(0, 200)}`);
	else if (res.status >= 400 && typeof res.body?.type !== "string")
		problems.push(`${label} without a type`);
}

describe("worst-case input to every public operation", () => {
	let attacks: string[] = [];

	it("the probe sees a block (the measurement itself is right)", async () => {
		const { ms } = await timed(async () => {
			const until = Date.now() + 2 * MAX_BLOCK_MS;
			while (Date.now() < until);
			return { status: 200, body: {}, headers: {} };
		});
		expect(ms).toBeGreaterThan(MAX_BLOCK_MS);
	});

	it("the description lists every operation, with its params", () => {
		expect(OPERATIONS.length).toBeGreaterThanOrEqual(30);
		const slots = OPERATIONS.flatMap(op =>
			op.slots.map(s => `${op.method} ${op.path} ${s.name}`)
		);
		expect(slots).toEqual(
			expect.arrayContaining([
				"post /users email",
				"post /users/login email",
				"patch /users/me phone",
				"post /orders items.0.productId",
				"post /orders Idempotency-Key",
				"get /products q"
			])
		);
	});

	it("every pattern the params declare is linear for recheck; built-in ones give attacks", async () => {
		const declared = new Set<string>();
		for (const op of Object.values<any>(document.paths))
			for (const o of Object.values<any>(op)) {
				patternsOf(o.parameters, declared);
				patternsOf(o.requestBody, declared);
			}
		expect(declared.size).toBeGreaterThan(3);
		const unsafe: string[] = [];
		for (const source of declared) {
			const d = await check(source, "", { timeout: 10_000 });
			if (d.status === "vulnerable") attacks.push(...scaled(d.attack));
			if (d.status !== "safe") unsafe.push(`${source}: ${d.status}`);
		}
		expect(unsafe).toEqual([]);

		// fastest-validator's expressions are fuzzed (a param of those types must never reach them).
		const builtIn = builtInPatterns();
		expect(builtIn.map(b => b.rule).sort()).toEqual(expect.arrayContaining(["email", "url"]));
		for (const b of builtIn) {
			const d = await check(b.source, b.flags, { timeout: 10_000 });
			if (d.status === "vulnerable") attacks.push(...scaled(d.attack));
		}
		expect(attacks.length).toBeGreaterThan(0);
		attacks = [...new Set(attacks)];
	});

	it("every regular expression literal of the code is linear, or reads only trusted input", async () => {
		const literals = regexLiterals();
		expect(literals.length).toBeGreaterThan(30);
		const superLinear: string[] = [];
		for (const r of literals) {
			// recheck rejects the stateful flags; they change where a match starts, not its cost.
			const d = await check(r.source, r.flags.replace(/[gy]/g, ""), { timeout: 10_000 });
			if (d.status !== "safe") superLinear.push(r.where);
		}
		expect(superLinear.sort()).toEqual(Object.keys(TRUSTED_INPUT_ONLY).sort());
	});

	it("no answer blocks the loop over 50 ms or is a 5xx, for every string of every param", async () => {
		problems.length = 0;
		let sent = 0;
		for (const op of OPERATIONS)
			for (const [i, slot] of op.slots.entries())
				for (const value of valuesFor(slot, op.schemas[i], attacks)) {
					sent++;
					await probe(
						`${op.method.toUpperCase()} ${op.path} ${slot.in}:${slot.name}=${JSON.stringify(value.slice(0, 12))}…(${value.length})`,
						() => request(op, slot, value)
					);
				}
		expect(sent).toBeGreaterThan(500);
		expect(problems).toEqual([]);
	});

	it("nor for huge and deeply nested arrays, in every array param and every JSON body", async () => {
		problems.length = 0;
		const deep = (n: number) => "[".repeat(n) + "]".repeat(n);
		for (const op of OPERATIONS) {
			for (const slot of op.arrays) {
				const json = (v: unknown) =>
					JSON.stringify(setAt(slot.at, "\u0001")).replace(
						'"\\u0001"',
						JSON.stringify(v) ?? "null"
					);
				for (const value of [
					Array.from({ length: 25_000 }, () => ({})),
					Array.from({ length: 25_000 }, () => ""),
					Array.from({ length: 2_000 }, () => "a".repeat(20))
				])
					await probe(
						`${op.method.toUpperCase()} ${op.path} ${slot.name}[${value.length}]`,
						() => request(op, null, null, json(value))
					);
				await probe(
					`${op.method.toUpperCase()} ${op.path} ${slot.name} nested 20000 deep`,
					() =>
						request(
							op,
							null,
							null,
							JSON.stringify(setAt(slot.at, "\u0001")).replace(
								'"\\u0001"',
								deep(20_000)
							)
						)
				);
			}
			if (op.slots.some(s => s.in === "body") || op.arrays.length > 0) {
				await probe(`${op.method.toUpperCase()} ${op.path} body nested 20000 deep`, () =>
					request(op, null, null, deep(20_000))
				);
				await probe(
					`${op.method.toUpperCase()} ${op.path} body of 25000 empty objects`,
					() =>
						request(
							op,
							null,
							null,
							JSON.stringify(Array.from({ length: 25_000 }, () => ({})))
						)
				);
			}
		}
		expect(problems).toEqual([]);
	});
});
