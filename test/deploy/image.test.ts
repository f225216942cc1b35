/**
 * Offline checks of the container image: the Dockerfile read as Docker would (no engine here),
 * and the tree its build stage produces (`tsc -p tsconfig.build.json`) started the way its CMD
 * starts it, on plain Node without a TypeScript loader.
 */
import { execFileSync, spawn } from "node:child_process";
import { builtinModules } from "node:module";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { freePort, stopNode, waitForHttp, type RunningNode } from "../../scripts/cluster-lib";
import { read, ROOT } from "./deploy-files";

interface Stage {
	from: string;
	name?: string;
	lines: string[];
}

/** Dockerfile instructions by stage (continuation lines joined, comments dropped). */
function stages(): Stage[] {
	const joined = read("Dockerfile")
		.split("\n")
		.filter(l => !/^\s*#/.test(l))
		.join("\n")
		.replace(/\\\n/g, " ");
	const out: Stage[] = [];
	for (const line of joined
		.split("\n")
		.map(l => l.trim())
		.filter(Boolean)) {
		const from = /^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/i.exec(line);
		if (from) out.push({ from: from[1], name: from[2], lines: [] });
		else out.at(-1)?.lines.push(line);
	}
	return out;
}

const instr = (stage: Stage, name: string) =>
	stage.lines
		.filter(l => l.toUpperCase().startsWith(`${name} `))
		.map(l => l.slice(name.length + 1).trim());

const tsconfigBuild = () => {
	const build = JSON.parse(read("tsconfig.build.json"));
	const base = JSON.parse(read(build.extends ?? "tsconfig.json"));
	return {
		include: build.include as string[],
		outDir: (build.compilerOptions?.outDir ?? base.compilerOptions.outDir) as string,
		rootDir: (build.compilerOptions?.rootDir ?? base.compilerOptions.rootDir) as string
	};
};

describe("Dockerfile", () => {
	const all = stages();
	const runtime = all.at(-1)!;

	it("is multi-stage on one pinned Node image, the Node the project runs on", () => {
		expect(all.length).toBeGreaterThanOrEqual(2);
		const pkg = JSON.parse(read("package.json"));
		const devNode = /(\d+)\./.exec(pkg.devDependencies.node)![1];
		for (const s of all) {
			expect(s.from).toMatch(/^node:\d+\.\d+\.\d+-[a-z]+(-slim)?(@sha256:[a-f0-9]{64})?$/);
			expect(s.from).toBe(all[0].from);
			expect(s.from.startsWith(`node:${devNode}.`)).toBe(true);
		}
	});

	it("compiles in a build stage what tsconfig.build.json compiles", () => {
		const build = all.find(s => s.lines.some(l => /tsc\b.*-p tsconfig\.build\.json/.test(l)))!;
		expect(build).toBeDefined();
		expect(build).not.toBe(runtime);
		const copied = instr(build, "COPY").flatMap(args => args.split(/\s+/).slice(0, -1));
		for (const p of [
			...tsconfigBuild().include,
			"tsconfig.json",
			"tsconfig.build.json",
			"package-lock.json"
		])
			expect({ p, copied: copied.includes(p) }).toEqual({ p, copied: true });
		// The build stage installs dev dependencies (TypeScript), the runtime does not.
		expect(instr(build, "RUN").join(" ")).toMatch(/npm ci(?![^&]*--omit=dev)/);
	});

	it("runs as a non-root user with production dependencies only and NODE_ENV=production", () => {
		const user = instr(runtime, "USER").at(-1)!;
		expect(user).toMatch(/^[1-9]\d*(:\d+)?$/); // numeric, so Kubernetes can check runAsNonRoot
		expect(instr(runtime, "ENV").join(" ")).toMatch(/NODE_ENV=production/);
		const modules = instr(runtime, "COPY").find(c => /node_modules/.test(c))!;
		const from = /--from=(\S+)/.exec(modules)![1];
		const deps = all.find(s => s.name === from)!;
		expect(instr(deps, "RUN").join(" ")).toMatch(/npm ci [^&]*--omit=dev/);
		expect(instr(runtime, "RUN").join(" ")).not.toMatch(/npm (ci|install)/);
	});

	it("starts moleculer-runner on the compiled config, in exec form, with a readiness health check", () => {
		const { outDir } = tsconfigBuild();
		const cmd = JSON.parse(instr(runtime, "CMD").at(-1)!);
		expect(cmd).toEqual([
			"node",
			"node_modules/moleculer/bin/moleculer-runner.js",
			"--config",
			`${outDir}/moleculer.config.js`
		]);
		expect(instr(runtime, "COPY").some(c => c.includes(`/app/${outDir}`))).toBe(true);
		expect(instr(runtime, "HEALTHCHECK").join(" ")).toMatch(/HEALTH_PORT.*\/ready/);
		expect(instr(runtime, "ENV").join(" ")).toMatch(/HEALTH_PORT=\d+/);
	});

	it("holds the operator console's assets: its page files beside the compiled gateway, uPlot in production dependencies", () => {
		const { outDir } = tsconfigBuild();
		const build = all.find(s => s.name === "build")!;
		expect(instr(build, "RUN").join(" && ")).toContain(
			`cp -r services/api/ops-page ${outDir}/services/api/ops-page`
		);
		const pkg = JSON.parse(read("package.json"));
		expect(pkg.dependencies.uplot).toBeDefined();
	});

	it("keeps secrets and local state out of the build context", () => {
		const ignored = read(".dockerignore")
			.split("\n")
			.map(l => l.trim())
			.filter(l => l && !l.startsWith("#"));
		for (const p of ["**/.env", "node_modules", "dist", "data", ".git"])
			expect(ignored).toContain(p);
		for (const p of tsconfigBuild().include) expect(ignored).not.toContain(p);
	});
});

describe("the compiled tree (what the image runs)", () => {
	let outDir: string;
	let node: RunningNode | undefined;

	beforeAll(() => {
		outDir = fs.mkdtempSync(path.join(os.tmpdir(), "shopmesh-build-"));
		try {
			execFileSync(
				process.execPath,
				[
					path.join(ROOT, "node_modules/typescript/bin/tsc"),
					"-p",
					"tsconfig.build.json",
					"--outDir",
					outDir
				],
				{ cwd: ROOT, stdio: "pipe", encoding: "utf8" }
			);
		} catch (err) {
			// As in the image's build stage, a compile error fails the build.
			throw new Error(
				`tsc -p tsconfig.build.json failed:\n${(err as { stdout?: string }).stdout}`
			);
		}
	}, 120_000);

	afterAll(async () => {
		if (node) await stopNode(node, "SIGKILL");
		fs.rmSync(outDir, { recursive: true, force: true });
	});

	it("requires only production dependencies and Node built-ins", () => {
		const pkg = JSON.parse(read("package.json"));
		const allowed = new Set(Object.keys(pkg.dependencies));
		const builtins = new Set(builtinModules);
		const used = new Set<string>();
		const walk = (dir: string) => {
			for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
				const p = path.join(dir, e.name);
				if (e.isDirectory()) walk(p);
				else if (p.endsWith(".js"))
					for (const [, spec] of fs
						.readFileSync(p, "utf8")
						.matchAll(/require\("([^"]+)"\)/g)) {
						if (spec.startsWith(".") || spec.startsWith("node:") || builtins.has(spec))
							continue;
						used.add(
							spec.startsWith("@")
								? spec.split("/").slice(0, 2).join("/")
								: spec.split("/")[0]
						);
					}
			}
		};
		for (const dir of ["services", "contracts", "platform"]) walk(path.join(outDir, dir));
		expect(fs.existsSync(path.join(outDir, "moleculer.config.js"))).toBe(true);
		expect(used.size).toBeGreaterThan(2);
		for (const dep of used)
			expect({ dep, production: allowed.has(dep) }).toEqual({ dep, production: true });
	});

	it("starts a service node on plain Node in production mode and reports ready", async () => {
		const healthPort = await freePort();
		const dataDir = path.join(outDir, "data");
		const proc = spawn(
			process.execPath,
			[
				path.join(ROOT, "node_modules/moleculer/bin/moleculer-runner.js"),
				"--config",
				path.join(outDir, "moleculer.config.js")
			],
			{
				cwd: outDir,
				stdio: ["ignore", "pipe", "pipe"],
				env: {
					PATH: process.env.PATH,
					// The image has node_modules next to the compiled tree; here it is the repo's.
					NODE_PATH: path.join(ROOT, "node_modules"),
					NODE_ENV: "production",
					JWT_SECRET: "compiled-tree-check-".padEnd(40, "x"),
					SERVICES: "users",
					HEALTH_PORT: String(healthPort),
					HEALTH_HOST: "127.0.0.1",
					DATA_DIR: dataDir,
					LOGLEVEL: "info"
				}
			}
		);
		let out = "";
		proc.stdout.on("data", c => (out += c));
		proc.stderr.on("data", c => (out += c));
		node = {
			spec: { services: "users", nodeID: "compiled" },
			proc,
			output: () => out,
			exited: new Promise(r => proc.once("exit", code => r(code)))
		};
		try {
			await waitForHttp(`http://127.0.0.1:${healthPort}/ready`, 30_000);
		} catch (err) {
			throw new Error(`${(err as Error).message}\n${out}`);
		}
		const ready = await (await fetch(`http://127.0.0.1:${healthPort}/ready`)).json();
		expect(ready).toMatchObject({ ready: true, services: ["users"] });
		// Production logs are JSON lines.
		const first = out.split("\n").find(l => l.trim())!;
		expect(JSON.parse(first)).toMatchObject({ level: "info", mod: "broker" });
		// SIGTERM stops it gracefully.
		expect(await stopNode(node, "SIGTERM", 20_000)).toBe(0);
		node = undefined;
	}, 60_000);
});
