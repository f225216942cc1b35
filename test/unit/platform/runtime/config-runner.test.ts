/**
 * moleculer.config.ts as moleculer-runner sees it: the runner copies environment variables named
 * like options over the config, and must not undo what the config computed from them.
 */
import { Runner } from "moleculer";

const saved = { ...process.env };
afterEach(() => {
	process.env = { ...saved };
	jest.resetModules();
});

function configAsRunnerSeesIt(env: Record<string, string>) {
	Object.assign(process.env, env);
	// A fresh module per environment (jest.resetModules after each test).
	// eslint-disable-next-line @typescript-eslint/no-require-imports
	const { default: config } = require("../../../../moleculer.config");
	return new (Runner as any)().overwriteFromEnv(config);
}

it("keeps the NATS transporter object with its reconnect options under TRANSPORTER", () => {
	const config = configAsRunnerSeesIt({ TRANSPORTER: "nats://127.0.0.1:4222" });
	expect(config.transporter).toEqual({
		type: "CoalescingNATS",
		options: expect.objectContaining({ url: "nats://127.0.0.1:4222", maxReconnectAttempts: -1 })
	});
});

it("turns the cacher off with CACHER=none or false; Memory is the scoped memory cacher", () => {
	expect(configAsRunnerSeesIt({ CACHER: "none" }).cacher).toBeNull();
	jest.resetModules();
	expect(configAsRunnerSeesIt({ CACHER: "false" }).cacher).toBeNull();
	jest.resetModules();
	expect(configAsRunnerSeesIt({ CACHER: "Memory" }).cacher).toEqual({ type: "ScopedMemory" });
	jest.resetModules();
	expect(configAsRunnerSeesIt({ CACHER: "Redis" }).cacher).toBe("Redis");
});

it("counts the business metrics whenever moleculer's metrics are on, with or without Prometheus", () => {
	const names = (env: Record<string, string>) => {
		const config = configAsRunnerSeesIt(env);
		jest.resetModules();
		return config.middlewares.map((m: { name?: string }) => m.name);
	};
	expect(names({})).not.toContain("BusinessMetrics");
	expect(names({ METRICS_ENABLED: "true" })).toContain("BusinessMetrics");
	expect(names({ METRICS_PORT: "3030" })).toContain("BusinessMetrics");
	expect(names({ METRICS_PORT: "3030", METRICS_ENABLED: "false" })).not.toContain(
		"BusinessMetrics"
	);
});
