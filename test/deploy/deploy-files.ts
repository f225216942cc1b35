/**
 * Reading the deployment files for the offline checks: the services of this repo, the compose
 * file (with compose's own variable interpolation), the Kubernetes manifests, env files, and the
 * broker's shutdown timeout as moleculer.config.ts computes it.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import YAML from "yaml";

export const ROOT = path.resolve(__dirname, "..", "..");
export const K8S_DIR = path.join(ROOT, "k8s");

export const read = (rel: string) => fs.readFileSync(path.join(ROOT, rel), "utf8");

export const packageVersion = (): string => JSON.parse(read("package.json")).version;

/** Every folder under services/ holding a `*.service.ts`: what SERVICES can name. */
export function serviceNames(): string[] {
	const dir = path.join(ROOT, "services");
	return fs
		.readdirSync(dir, { withFileTypes: true })
		.filter(d => d.isDirectory())
		.filter(d => fs.readdirSync(path.join(dir, d.name)).some(f => f.endsWith(".service.ts")))
		.map(d => d.name)
		.sort();
}

/** KEY=value lines of an env file (comments and blank lines skipped). */
export function readEnvFile(rel: string): Record<string, string> {
	const out: Record<string, string> = {};
	for (const line of read(rel).split("\n")) {
		const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=(.*)$/.exec(line);
		if (m) out[m[1]] = m[2].trim();
	}
	return out;
}

/** Names that hold secrets: their values may only come from an env file or a Secret. */
export const SECRET_NAME = /SECRET|PASSWORD|PASSWD|TOKEN|API_?KEY|PRIVATE|CREDENTIAL|SMTP_URL/i;

const REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}/g;

/** The variables a compose string refers to (`${VAR}`, `${VAR:-default}`, `${VAR:?error}`). */
export function composeRefs(value: string): string[] {
	return [...value.replace(/\$\$/g, "").matchAll(REF)].map(m => m[1]);
}

/** Compose's interpolation of one string: `$$` escapes, `-`/`:-` defaults, `?`/`:?` errors. */
export function interpolate(value: string, env: Record<string, string | undefined>): string {
	return value
		.split("$$")
		.map(part =>
			part.replace(REF, (_all, name: string, op?: string, arg?: string) => {
				const v = env[name];
				const unset = v === undefined;
				const empty = unset || v === "";
				switch (op) {
					case ":-":
						return empty ? (arg ?? "") : v;
					case "-":
						return unset ? (arg ?? "") : v;
					case ":?":
						if (empty) throw new Error(`required variable ${name}: ${arg}`);
						return v;
					case "?":
						if (unset) throw new Error(`required variable ${name}: ${arg}`);
						return v;
					default:
						return v ?? "";
				}
			})
		)
		.join("$");
}

function mapStrings(value: unknown, fn: (s: string) => string): unknown {
	if (typeof value === "string") return fn(value);
	if (Array.isArray(value)) return value.map(v => mapStrings(v, fn));
	if (value && typeof value === "object")
		return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, mapStrings(v, fn)]));
	return value;
}

export type ComposeService = {
	image?: string;
	build?: unknown;
	command?: string | string[];
	entrypoint?: string | string[];
	environment?: Record<string, string>;
	ports?: string[];
	healthcheck?: { test: string[]; interval?: string };
	depends_on?: Record<string, { condition: string }>;
	stop_grace_period?: string;
	container_name?: string;
	volumes?: string[];
};
export type ComposeFile = { services: Record<string, ComposeService>; [k: string]: unknown };

/** docker-compose.yml with YAML merge keys (`<<: *anchor`) resolved; `${...}` left as written. */
export function composeRaw(): ComposeFile {
	const doc = YAML.parseDocument(read("docker-compose.yml"), { merge: true });
	if (doc.errors.length) throw new Error(doc.errors.map(e => e.message).join("\n"));
	return doc.toJS() as ComposeFile;
}

/** docker-compose.yml as `docker compose` sees it with the given variables (.env). */
export function composeWith(env: Record<string, string | undefined>): ComposeFile {
	return mapStrings(composeRaw(), s => interpolate(s, env)) as ComposeFile;
}

export interface Manifest {
	file: string;
	index: number;
	obj: Record<string, any>;
}

/** The YAML files of k8s/ (the kustomization included). */
export function k8sFiles(): string[] {
	return fs
		.readdirSync(K8S_DIR)
		.filter(f => /\.ya?ml$/.test(f))
		.sort();
}

/** Every object of every manifest file in k8s/ (not the kustomization). */
export function manifests(): Manifest[] {
	const out: Manifest[] = [];
	for (const file of k8sFiles().filter(f => f !== "kustomization.yaml")) {
		const docs = YAML.parseAllDocuments(fs.readFileSync(path.join(K8S_DIR, file), "utf8"));
		docs.forEach((doc, index) => {
			if ("errors" in doc && doc.errors.length)
				throw new Error(`${file}#${index}: ${doc.errors.map(e => e.message).join("; ")}`);
			const obj = doc.toJS();
			if (obj != null) out.push({ file, index, obj });
		});
	}
	return out;
}

export function kustomization(): Record<string, any> {
	return YAML.parse(fs.readFileSync(path.join(K8S_DIR, "kustomization.yaml"), "utf8"));
}

export const describeManifest = (m: Manifest) =>
	`${m.file}#${m.index} ${m.obj?.kind}/${m.obj?.metadata?.name}`;

/** Pod templates of workloads, with the manifest they belong to. */
export function podTemplates(all: Manifest[]) {
	return all
		.filter(m => ["Deployment", "StatefulSet", "Job"].includes(m.obj.kind))
		.map(m => ({ m, pod: m.obj.spec.template as Record<string, any> }));
}

/**
 * A pinned image: an explicit version tag with at least major.minor.patch (not `latest`, not a
 * floating `6.0` or `2-alpine`), or a digest.
 */
export function isPinnedImage(ref: string): boolean {
	if (/@sha256:[a-f0-9]{64}$/.test(ref)) return true;
	const tag = /:([\w][\w.-]{0,127})$/.exec(ref)?.[1];
	return tag != null && tag !== "latest" && /^v?\d+\.\d+\.\d+([-.][\w.-]+)?$/.test(tag);
}

/**
 * The broker's graceful shutdown budget in ms, as moleculer.config.ts computes it from the given
 * environment (the deployment's SHUTDOWN_TIMEOUT, or the config's default).
 */
export function shutdownTimeoutMs(env: Record<string, string | undefined>): number {
	const saved = { ...process.env };
	let timeout: number | undefined;
	try {
		for (const [k, v] of Object.entries(env)) {
			if (v === undefined) delete process.env[k];
			else process.env[k] = v;
		}
		jest.isolateModules(() => {
			// eslint-disable-next-line @typescript-eslint/no-require-imports
			const config = require("../../moleculer.config").default;
			timeout = config.tracking?.enabled === false ? 0 : config.tracking?.shutdownTimeout;
		});
	} finally {
		for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
		Object.assign(process.env, saved);
	}
	if (typeof timeout !== "number") throw new Error("moleculer.config.ts has no tracking timeout");
	return timeout;
}

/** Go-style durations as compose writes them: `30s`, `1m30s`, `500ms`. */
export function durationSeconds(value: string): number {
	const units: Record<string, number> = { h: 3600, m: 60, s: 1, ms: 0.001, us: 1e-6, ns: 1e-9 };
	const parts = [...value.matchAll(/(\d+(?:\.\d+)?)(h|ms|m|s|us|ns)/g)];
	if (!parts.length || parts.map(p => p[0]).join("") !== value)
		throw new Error(`not a duration: ${value}`);
	return parts.reduce((sum, p) => sum + Number(p[1]) * units[p[2]], 0);
}

/** Whether git ignores a path and does not track it (a committed secret file is a leak). */
export function gitIgnoredAndUntracked(rel: string): { ignored: boolean; tracked: boolean } {
	const git = (args: string[]) =>
		execFileSync("git", args, {
			cwd: ROOT,
			encoding: "utf8",
			stdio: ["ignore", "pipe", "pipe"]
		});
	let ignored = true;
	try {
		git(["check-ignore", "-q", "--no-index", rel]);
	} catch {
		ignored = false;
	}
	const tracked = git(["ls-files", "--", rel]).trim() !== "";
	return { ignored, tracked };
}
