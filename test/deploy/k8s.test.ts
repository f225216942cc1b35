/**
 * Offline checks of k8s/: every object validated against the Kubernetes OpenAPI schema shipped in
 * kubernetes-models (and type-checked against its interfaces, which also catches misspelled
 * fields the API server would reject), the kustomization complete, and the invariants a
 * deployment relies on. No cluster is needed.
 */
import fs from "node:fs";
import path from "node:path";
import ts from "typescript";
import { Namespace } from "kubernetes-models/v1/Namespace";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { Service } from "kubernetes-models/v1/Service";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { StatefulSet } from "kubernetes-models/apps/v1/StatefulSet";
import { Job } from "kubernetes-models/batch/v1/Job";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1/PodDisruptionBudget";
import { HorizontalPodAutoscaler } from "kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler";
import { Ingress } from "kubernetes-models/networking.k8s.io/v1/Ingress";
import {
	composeRaw,
	describeManifest,
	gitIgnoredAndUntracked,
	isPinnedImage,
	k8sFiles,
	K8S_DIR,
	kustomization,
	manifests,
	packageVersion,
	podTemplates,
	readEnvFile,
	ROOT,
	SECRET_NAME,
	serviceNames,
	shutdownTimeoutMs,
	type Manifest
} from "./deploy-files";

/** The kinds k8s/ may use: model class for validation, module and interface for type checks. */
const MODELS: Record<
	string,
	{ model: new (data: any) => { validate(): void }; module: string; type: string }
> = {
	"v1/Namespace": {
		model: Namespace,
		module: "kubernetes-models/v1/Namespace",
		type: "INamespace"
	},
	"v1/ConfigMap": {
		model: ConfigMap,
		module: "kubernetes-models/v1/ConfigMap",
		type: "IConfigMap"
	},
	"v1/Service": { model: Service, module: "kubernetes-models/v1/Service", type: "IService" },
	"apps/v1/Deployment": {
		model: Deployment,
		module: "kubernetes-models/apps/v1/Deployment",
		type: "IDeployment"
	},
	"apps/v1/StatefulSet": {
		model: StatefulSet,
		module: "kubernetes-models/apps/v1/StatefulSet",
		type: "IStatefulSet"
	},
	"batch/v1/Job": { model: Job, module: "kubernetes-models/batch/v1/Job", type: "IJob" },
	"policy/v1/PodDisruptionBudget": {
		model: PodDisruptionBudget,
		module: "kubernetes-models/policy/v1/PodDisruptionBudget",
		type: "IPodDisruptionBudget"
	},
	"autoscaling/v2/HorizontalPodAutoscaler": {
		model: HorizontalPodAutoscaler,
		module: "kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler",
		type: "IHorizontalPodAutoscaler"
	},
	"networking.k8s.io/v1/Ingress": {
		model: Ingress,
		module: "kubernetes-models/networking.k8s.io/v1/Ingress",
		type: "IIngress"
	}
};

const modelOf = (m: Manifest) => MODELS[`${m.obj.apiVersion}/${m.obj.kind}`];

/** Schema validation: the errors of each object (empty when all are valid). */
function schemaErrors(all: Manifest[]): string[] {
	const errors: string[] = [];
	for (const m of all) {
		const entry = modelOf(m);
		if (!entry) {
			errors.push(`${describeManifest(m)}: no schema for ${m.obj.apiVersion} ${m.obj.kind}`);
			continue;
		}
		try {
			new entry.model(m.obj).validate();
		} catch (err) {
			errors.push(`${describeManifest(m)}: ${(err as Error).message}`);
		}
	}
	return errors;
}

/**
 * Type-check every object against its kubernetes-models interface. Object literals get excess
 * property checks, so a misspelled or misplaced field (`livenesProbe`, `resource:`) is an error
 * here as it is for `kubectl apply` (strict field validation), while the JSON schema lets it pass.
 */
function typeErrors(all: Manifest[]): string[] {
	const file = path.join(ROOT, "test", "deploy", "__k8s_manifests__.ts");
	const imports = new Set<string>();
	const decls = all.map((m, i) => {
		const entry = modelOf(m);
		if (!entry) return "";
		imports.add(`import type { ${entry.type} } from "${entry.module}";`);
		return `// ${describeManifest(m)}\nexport const m${i}: ${entry.type} = ${JSON.stringify(m.obj, null, 1)};`;
	});
	const source = [...imports, ...decls].join("\n");
	const options: ts.CompilerOptions = {
		strict: true,
		noEmit: true,
		skipLibCheck: true,
		types: [],
		module: ts.ModuleKind.NodeNext,
		moduleResolution: ts.ModuleResolutionKind.NodeNext,
		target: ts.ScriptTarget.ES2022
	};
	const host = ts.createCompilerHost(options);
	const getSourceFile = host.getSourceFile.bind(host);
	host.getSourceFile = (name, lang, ...rest) =>
		path.resolve(name) === file
			? ts.createSourceFile(name, source, lang)
			: getSourceFile(name, lang, ...rest);
	const fileExists = host.fileExists.bind(host);
	host.fileExists = name => path.resolve(name) === file || fileExists(name);
	const readFile = host.readFile.bind(host);
	host.readFile = name => (path.resolve(name) === file ? source : readFile(name));
	const program = ts.createProgram([file], options, host);
	return ts
		.getPreEmitDiagnostics(program)
		.filter(d => d.file && path.resolve(d.file.fileName) === file)
		.map(d => {
			const { line } = d.file!.getLineAndCharacterOfPosition(d.start ?? 0);
			const header = source
				.split("\n")
				.slice(0, line + 1)
				.reverse()
				.find(l => l.startsWith("// "));
			return `${header?.slice(3)}: ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`;
		});
}

const ALL = manifests();
const byKind = (kind: string) => ALL.filter(m => m.obj.kind === kind);
const configMap = () =>
	byKind("ConfigMap").find(m => m.obj.metadata.name === "shopmesh-config")!.obj;
const deployments = () => byKind("Deployment");
const containerEnv = (c: any, name: string): string | undefined =>
	c.env?.find((e: any) => e.name === name)?.value ?? configMap().data[name];
const mainContainer = (m: Manifest) => m.obj.spec.template.spec.containers[0];
const serviceOf = (m: Manifest) => containerEnv(mainContainer(m), "SERVICES");
const selects = (selector: Record<string, string>, labels: Record<string, string>) =>
	Object.entries(selector).every(([k, v]) => labels?.[k] === v);

function broken(mutate: (objs: Manifest[]) => void): Manifest[] {
	const copy = ALL.map(m => ({ ...m, obj: structuredClone(m.obj) }));
	mutate(copy);
	return copy;
}
const findIn = (objs: Manifest[], kind: string, name: string) =>
	objs.find(m => m.obj.kind === kind && m.obj.metadata.name === name)!;

describe("k8s manifests", () => {
	it("parse, and every object is valid against the Kubernetes schema", () => {
		expect(ALL.length).toBeGreaterThan(10);
		expect(schemaErrors(ALL)).toEqual([]);
	});

	it("type-check against the Kubernetes API types (no unknown or misplaced field)", () => {
		expect(typeErrors(ALL)).toEqual([]);
	}, 60_000);

	it("the checks catch broken objects", () => {
		const bad = broken(objs => {
			findIn(objs, "Deployment", "orders").obj.spec.replicas = "three";
			const c = mainContainer(findIn(objs, "Deployment", "users"));
			c.livenesProbe = c.livenessProbe;
			delete c.livenessProbe;
		});
		expect(schemaErrors(bad).join("\n")).toMatch(/orders.*replicas must be integer/);
		expect(typeErrors(bad).join("\n")).toMatch(/Deployment\/users.*livenesProbe/);
	}, 60_000);

	it("kustomization lists every manifest file of k8s/ and nothing else", () => {
		const k = kustomization();
		const files = k8sFiles().filter(f => f !== "kustomization.yaml");
		expect([...k.resources].sort()).toEqual(files);
		expect(k.namespace).toBe("shopmesh");
		for (const m of ALL)
			if (m.obj.kind !== "Namespace")
				expect({ m: describeManifest(m), ns: m.obj.metadata.namespace }).toEqual({
					m: describeManifest(m),
					ns: "shopmesh"
				});
	});

	it("has one Deployment per service in services/, from the one image, chosen by SERVICES", () => {
		const served = deployments().map(serviceOf).sort();
		expect(served).toEqual(serviceNames());
		for (const m of deployments()) {
			expect(m.obj.metadata.name).toBe(serviceOf(m));
			expect(mainContainer(m).image).toBe(`shopmesh:${packageVersion()}`);
		}
	});

	it("gives every container resource requests and limits, and every node probes on HEALTH_PORT", () => {
		const healthPort = Number(configMap().data.HEALTH_PORT);
		for (const { m, pod } of podTemplates(ALL)) {
			for (const c of pod.spec.containers) {
				const where = `${describeManifest(m)} ${c.name}`;
				for (const kind of ["requests", "limits"])
					for (const res of ["cpu", "memory"])
						expect({
							where,
							[`${kind}.${res}`]: c.resources?.[kind]?.[res] != null
						}).toEqual({
							where,
							[`${kind}.${res}`]: true
						});
				// A Job's pod runs to completion: nothing to probe.
				if (m.obj.kind === "Job") continue;
				expect({
					where,
					liveness: !!c.livenessProbe,
					readiness: !!c.readinessProbe
				}).toEqual({
					where,
					liveness: true,
					readiness: true
				});
			}
		}
		for (const m of deployments()) {
			const c = mainContainer(m);
			const health = c.ports.find((p: any) => p.name === "health");
			expect(health.containerPort).toBe(healthPort);
			expect(c.livenessProbe.httpGet).toEqual({ path: "/live", port: "health" });
			expect(c.readinessProbe.httpGet).toEqual({ path: "/ready", port: "health" });
		}
	});

	it("pins every image tag", () => {
		const images = podTemplates(ALL).flatMap(({ pod }) =>
			[...pod.spec.containers, ...(pod.spec.initContainers ?? [])].map((c: any) => c.image)
		);
		expect(images.length).toBeGreaterThan(7);
		for (const image of images)
			expect({ image, pinned: isPinnedImage(image) }).toEqual({ image, pinned: true });
		for (const i of kustomization().images ?? [])
			expect({
				image: i.name,
				pinned: isPinnedImage(`${i.newName ?? i.name}:${i.newTag}`)
			}).toEqual({
				image: i.name,
				pinned: true
			});
	});

	it("runs the same NATS and MongoDB versions as docker-compose.yml", () => {
		const compose = composeRaw().services;
		const image = (name: string) =>
			byKind("StatefulSet").find(m => m.obj.metadata.name === name)!.obj.spec.template.spec
				.containers[0].image;
		expect(image("nats")).toBe(compose.nats.image);
		expect(image("mongo")).toBe(compose.mongo.image);
	});

	it("holds no secret value: secrets come from the generated Secret of an uncommitted env file", () => {
		// No Secret objects with data, no literals for the generator.
		expect(byKind("Secret")).toEqual([]);
		const k = kustomization();
		for (const gen of k.secretGenerator ?? []) {
			expect(gen.literals).toBeUndefined();
			for (const f of [...(gen.envs ?? []), ...(gen.files ?? [])]) {
				const rel = path.relative(ROOT, path.join(K8S_DIR, f));
				expect({ rel, ...gitIgnoredAndUntracked(rel) }).toEqual({
					rel,
					ignored: true,
					tracked: false
				});
			}
		}
		const example = readEnvFile("k8s/.env.example");
		for (const [key, value] of Object.entries(example))
			if (SECRET_NAME.test(key)) expect({ key, value }).toEqual({ key, value: "" });
		for (const key of Object.keys(configMap().data))
			expect({ key, secret: SECRET_NAME.test(key) }).toEqual({ key, secret: false });
		const secretNames = new Set((k.secretGenerator ?? []).map((g: any) => g.name));
		for (const { m, pod } of podTemplates(ALL)) {
			for (const c of pod.spec.containers) {
				for (const e of c.env ?? []) {
					const where = `${describeManifest(m)} ${e.name}`;
					const ref = e.valueFrom?.secretKeyRef;
					if (ref) {
						expect({ where, secret: ref.name, key: ref.key in example }).toEqual({
							where,
							secret: [...secretNames][0],
							key: true
						});
						expect(secretNames.has(ref.name)).toBe(true);
					}
					if (SECRET_NAME.test(e.name))
						expect({ where, value: e.value }).toEqual({ where, value: undefined });
					// Credentials in URLs only as $(VAR) references to variables from the Secret.
					const userinfo = /^[a-z+]+:\/\/([^/@]*)@/.exec(e.value ?? "")?.[1];
					if (userinfo) {
						expect({
							where,
							literal: userinfo.replace(/\$\([A-Z_]+\)/g, "").replace(":", "")
						}).toEqual({
							where,
							literal: ""
						});
						for (const [, v] of userinfo.matchAll(/\$\(([A-Z_]+)\)/g))
							expect(
								c.env.find((x: any) => x.name === v)?.valueFrom?.secretKeyRef
							).toBeDefined();
					}
				}
			}
		}
	});

	it("gives pods longer to stop than the broker's graceful shutdown (plus preStop) takes", () => {
		const timeoutSec =
			shutdownTimeoutMs({ SHUTDOWN_TIMEOUT: configMap().data.SHUTDOWN_TIMEOUT }) / 1000;
		expect(timeoutSec).toBeGreaterThan(0);
		for (const m of deployments()) {
			const pod = m.obj.spec.template.spec;
			const preStop = pod.containers[0].lifecycle?.preStop?.exec?.command ?? [];
			const pause = preStop[0] === "sleep" ? Number(preStop[1]) : 0;
			const grace = pod.terminationGracePeriodSeconds ?? 30;
			expect({ m: describeManifest(m), enough: grace >= timeoutSec + pause + 5 }).toEqual({
				m: describeManifest(m),
				enough: true
			});
		}
	});

	it("autoscales orders and the gateway, and leaves their replica count to the autoscaler", () => {
		const hpas = byKind("HorizontalPodAutoscaler");
		expect(hpas.map(h => h.obj.spec.scaleTargetRef.name).sort()).toEqual(["api", "orders"]);
		for (const h of hpas) {
			const target = deployments().find(
				d => d.obj.metadata.name === h.obj.spec.scaleTargetRef.name
			);
			expect(target).toBeDefined();
			expect(h.obj.spec.scaleTargetRef.kind).toBe("Deployment");
			expect(target!.obj.spec.replicas).toBeUndefined();
			expect(h.obj.spec.minReplicas).toBeGreaterThanOrEqual(2);
		}
	});

	it("has a PodDisruptionBudget for every Deployment that still lets a node drain", () => {
		const hpaMin = Object.fromEntries(
			byKind("HorizontalPodAutoscaler").map(h => [
				h.obj.spec.scaleTargetRef.name,
				h.obj.spec.minReplicas
			])
		);
		for (const d of deployments()) {
			const labels = d.obj.spec.template.metadata.labels;
			const pdbs = byKind("PodDisruptionBudget").filter(p =>
				selects(p.obj.spec.selector.matchLabels, labels)
			);
			expect({ d: d.obj.metadata.name, pdbs: pdbs.length }).toEqual({
				d: d.obj.metadata.name,
				pdbs: 1
			});
			const replicas = d.obj.spec.replicas ?? hpaMin[d.obj.metadata.name];
			expect(pdbs[0].obj.spec.minAvailable).toBeLessThan(replicas);
		}
	});

	it("exposes the gateway through a Service and an Ingress", () => {
		const api = deployments().find(d => serviceOf(d) === "api")!;
		const svc = byKind("Service").find(s => s.obj.metadata.name === "api")!;
		expect(selects(svc.obj.spec.selector, api.obj.spec.template.metadata.labels)).toBe(true);
		const http = mainContainer(api).ports.find(
			(p: any) => p.name === svc.obj.spec.ports[0].targetPort
		);
		expect(http.containerPort).toBe(Number(containerEnv(mainContainer(api), "PORT")));
		const ingress = byKind("Ingress")[0].obj;
		const backend = ingress.spec.rules[0].http.paths[0].backend.service;
		expect(backend.name).toBe("api");
		expect(backend.port.name).toBe(svc.obj.spec.ports[0].name);
		// Nothing else is exposed.
		expect(byKind("Ingress")).toHaveLength(1);
		expect(
			byKind("Service").filter(s => s.obj.spec.type && s.obj.spec.type !== "ClusterIP")
		).toEqual([]);
	});

	it("runs NATS (JetStream) and MongoDB as StatefulSets on persistent volumes", () => {
		const sts = Object.fromEntries(
			byKind("StatefulSet").map(s => [s.obj.metadata.name, s.obj])
		);
		expect(Object.keys(sts).sort()).toEqual(["mongo", "nats"]);
		const nats = sts.nats.spec.template.spec.containers[0];
		expect([...(nats.command ?? []), ...(nats.args ?? [])].join(" ")).toMatch(
			/(^|\s)(-js|--jetstream)(\s|$)/
		);
		for (const [name, s] of Object.entries<any>(sts)) {
			const claims = s.spec.volumeClaimTemplates.map((v: any) => v.metadata.name);
			const mounts = s.spec.template.spec.containers[0].volumeMounts.map((v: any) => v.name);
			expect({ name, mounted: claims.every((c: string) => mounts.includes(c)) }).toEqual({
				name,
				mounted: true
			});
			expect(
				byKind("Service").some(
					x =>
						x.obj.metadata.name === s.spec.serviceName &&
						x.obj.spec.clusterIP === "None"
				)
			).toBe(true);
		}
		expect(configMap().data.TRANSPORTER).toMatch(/^nats:\/\/nats-0\.nats-headless:4222,/);
	});

	it("runs NATS as a 3-node JetStream cluster the services know every server of, streams kept 3 times", () => {
		const nats = byKind("StatefulSet").find(s => s.obj.metadata.name === "nats")!.obj;
		expect(nats.spec.replicas).toBe(3);
		const args: string[] = nats.spec.template.spec.containers[0].args;
		const routes = args.find(a => a.startsWith("--routes="))!.slice("--routes=".length);
		const pods = [0, 1, 2].map(i => `nats-${i}.${nats.spec.serviceName}`);
		expect(routes.split(",")).toEqual(pods.map(p => `nats://${p}:6222`));
		expect(args).toContain("--server_name=$(POD_NAME)");
		expect(configMap().data.TRANSPORTER.split(",")).toEqual(pods.map(p => `nats://${p}:4222`));
		expect(configMap().data.EVENTS_STREAM_REPLICAS).toBe("3");
		const pdb = byKind("PodDisruptionBudget").find(p => p.obj.metadata.name === "nats")!.obj;
		expect(pdb.spec.maxUnavailable).toBe(1);
		expect(pdb.spec.selector.matchLabels).toEqual(nats.spec.selector.matchLabels);
	});

	it("runs MongoDB as a 3-member replica set the services know every member of, with a PDB", () => {
		const mongo = byKind("StatefulSet").find(s => s.obj.metadata.name === "mongo")!.obj;
		expect(mongo.spec.replicas).toBe(3);
		const args: string[] = mongo.spec.template.spec.containers[0].args;
		expect(args[args.indexOf("--replSet") + 1]).toBe("rs0");
		expect(args).toContain("--keyFile");
		const hosts = [0, 1, 2].map(i => `mongo-${i}.${mongo.spec.serviceName}:27017`);
		// The Job initiates the set with exactly these members.
		const job = byKind("Job").find(j => j.obj.metadata.name === "mongo-init-replica-set")!.obj;
		const script = job.spec.template.spec.containers[0].command.join(" ");
		expect(script).toContain("rs.initiate");
		expect(script).toContain('_id: "rs0"');
		expect(script).toContain("mongo-${i}.mongo-headless:27017");
		for (const d of deployments()) {
			const uri = containerEnv(mainContainer(d), "MONGO_URI");
			if (uri === undefined) continue;
			const { host, search } = /^mongodb:\/\/[^@]*@(?<host>[^/]*)\/(?<search>.*)$/.exec(
				uri
			)!.groups!;
			expect({ d: d.obj.metadata.name, hosts: host.split(",") }).toEqual({
				d: d.obj.metadata.name,
				hosts
			});
			expect(new URLSearchParams(search).get("replicaSet")).toBe("rs0");
		}
		expect(deployments().filter(d => containerEnv(mainContainer(d), "MONGO_URI"))).toHaveLength(
			5
		);
		const pdb = byKind("PodDisruptionBudget").find(p => p.obj.metadata.name === "mongo")!.obj;
		expect(pdb.spec.maxUnavailable).toBe(1);
		expect(pdb.spec.selector.matchLabels).toEqual(mongo.spec.selector.matchLabels);
	});

	it("meets the restricted Pod Security Standard the namespace enforces", () => {
		const ns = byKind("Namespace")[0].obj;
		expect(ns.metadata.labels["pod-security.kubernetes.io/enforce"]).toBe("restricted");
		for (const { m, pod } of podTemplates(ALL)) {
			const podSec = pod.spec.securityContext ?? {};
			for (const c of pod.spec.containers) {
				const sec = c.securityContext ?? {};
				const where = `${describeManifest(m)} ${c.name}`;
				expect({
					where,
					runAsNonRoot: sec.runAsNonRoot ?? podSec.runAsNonRoot,
					allowPrivilegeEscalation: sec.allowPrivilegeEscalation,
					dropAll: sec.capabilities?.drop?.includes("ALL"),
					seccomp: (sec.seccompProfile ?? podSec.seccompProfile)?.type
				}).toEqual({
					where,
					runAsNonRoot: true,
					allowPrivilegeEscalation: false,
					dropAll: true,
					seccomp: "RuntimeDefault"
				});
			}
		}
	});

	it("has no manifest file outside the kustomization and no stray file in k8s/", () => {
		const stray = fs
			.readdirSync(K8S_DIR)
			.filter(f => !/\.ya?ml$/.test(f) && f !== ".env.example" && f !== ".env");
		expect(stray).toEqual([]);
	});
});
