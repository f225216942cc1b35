import {
	ConfigError,
	envFlag,
	envNumber,
	loadBrokerSettings,
	loadSettings
} from "../../../../platform/runtime/settings";

describe("settings", () => {
	it("has safe defaults for development", () => {
		const s = loadSettings({});
		expect(s.env).toBe("development");
		expect(s.port).toBe(3000);
		expect(s.acceptSockets).toBe(8);
		expect(s.mongoUri).toBeUndefined();
		expect(s.dataDir).toMatch(/data$/);
		expect(s.jwt.secret.length).toBeGreaterThanOrEqual(32);
		expect(s.passwordHashCost).toBe(131072);
	});

	it("stops production without JWT_SECRET with one clear message", () => {
		expect(() => loadSettings({ NODE_ENV: "production" })).toThrow(
			new ConfigError("JWT_SECRET is required when NODE_ENV=production")
		);
		expect(loadSettings({ NODE_ENV: "production", JWT_SECRET: "s".repeat(40) }).env).toBe(
			"production"
		);
	});

	it("rejects malformed values naming the variable", () => {
		expect(() => loadSettings({ PORT: "http" })).toThrow(/PORT must be an integer/);
		expect(() => loadSettings({ PORT: "70000" })).toThrow(/PORT/);
		expect(() => loadSettings({ HTTP_ACCEPT_SOCKETS: "0" })).toThrow(
			/HTTP_ACCEPT_SOCKETS must be an integer between 1 and 64/
		);
		expect(() => loadSettings({ JWT_SECRET: "short" })).toThrow(
			/JWT_SECRET must be at least 32/
		);
		expect(() => loadSettings({ MONGO_URI: "postgres://x" })).toThrow(/MONGO_URI/);
		expect(() => loadSettings({ ADMIN_EMAIL: "a@b.c" })).toThrow(/set together/);
		expect(() => loadSettings({ PASSWORD_HASH_COST: "3000" })).toThrow(/power of two/);
		expect(() => loadSettings({ SEED_CATALOG: "maybe" })).toThrow(/SEED_CATALOG/);
		expect(() => loadSettings({ ORDER_RECOVERY_INTERVAL_MS: "soon" })).toThrow(
			/ORDER_RECOVERY_INTERVAL_MS must be an integer/
		);
		expect(() => loadSettings({ PAYMENT_LEASE_MS: "0" })).toThrow(/PAYMENT_LEASE_MS/);
		expect(() => loadSettings({ READY_REQUIRES: "users, ord ers" })).toThrow(
			/READY_REQUIRES: 'ord ers' is not a service name/
		);
	});

	it("parses the broker's own settings the same way: garbage is refused, not defaulted", () => {
		expect(
			envNumber({ CIRCUIT_BREAKER_THRESHOLD: "0.5" }, "CIRCUIT_BREAKER_THRESHOLD", 1)
		).toBe(0.5);
		expect(envNumber({}, "REQUEST_TIMEOUT", 10_000)).toBe(10_000);
		expect(() => envNumber({ REQUEST_TIMEOUT: "10s" }, "REQUEST_TIMEOUT", 1)).toThrow(
			ConfigError
		);
		expect(() => envNumber({ RETRY_RETRIES: "-1" }, "RETRY_RETRIES", 3)).toThrow(/at least 0/);
		expect(envFlag({ FAILOVER: "off" }, "FAILOVER", true)).toBe(false);
		expect(() => envFlag({ FAILOVER: "nope" }, "FAILOVER", true)).toThrow(/true or false/);
	});

	it("reads lists and numbers", () => {
		const s = loadSettings({
			CORS_ORIGINS: "https://a.example, https://b.example",
			RATE_LIMIT_MAX: "5",
			HTTP_ACCEPT_SOCKETS: "1"
		});
		expect(s.acceptSockets).toBe(1);
		expect(s.corsOrigins).toEqual(["https://a.example", "https://b.example"]);
		expect(s.rateLimit.limit).toBe(5);
		expect(loadSettings({ READY_REQUIRES: "users, orders" }).readyRequires).toEqual([
			"users",
			"orders"
		]);
		expect(loadSettings({ ORDER_STUCK_AFTER_MS: "1500" }).orders.stuckAfterMs).toBe(1500);
	});

	describe("the broker's own, one test per kind of value", () => {
		it("defaults to an embedded node with moleculer's usual options", () => {
			const b = loadBrokerSettings({});
			expect(b).toMatchObject({
				transporter: undefined,
				namespace: "shopmesh",
				logLevel: "info",
				jsonLogs: false,
				requestTimeout: 10_000,
				strategy: "RoundRobin",
				cacher: "memory",
				metrics: { enabled: false, port: undefined },
				tracing: { exporter: undefined, zipkinUrl: "http://zipkin:9411" },
				health: { port: undefined, host: "0.0.0.0" },
				failover: true
			});
			expect(loadBrokerSettings({ NODE_ENV: "production" }).jsonLogs).toBe(true);
		});

		it("a choice: any case accepted and answered as listed, anything else refused", () => {
			expect(loadBrokerSettings({ LOGLEVEL: "WARN" }).logLevel).toBe("warn");
			expect(loadBrokerSettings({ STRATEGY: "latency" }).strategy).toBe("Latency");
			expect(loadBrokerSettings({ LOG_FORMAT: "json" }).jsonLogs).toBe(true);
			expect(() => loadBrokerSettings({ LOGLEVEL: "loud" })).toThrow(
				new ConfigError(
					'LOGLEVEL must be one of fatal, error, warn, info, debug, trace (got "loud")'
				)
			);
			expect(() => loadBrokerSettings({ STRATEGY: "fastest" })).toThrow(/^STRATEGY/);
			expect(() => loadBrokerSettings({ LOG_FORMAT: "yaml" })).toThrow(/^LOG_FORMAT/);
			// jaeger-client is unmaintained: Jaeger takes zipkin's format instead.
			expect(() => loadBrokerSettings({ TRACING_EXPORTER: "jaeger" })).toThrow(
				/TRACING_EXPORTER must be one of console, zipkin, event/
			);
		});

		it("a URL of the right scheme", () => {
			expect(
				loadBrokerSettings({ TRACING_EXPORTER: "zipkin", ZIPKIN_URL: "https://z:9411" })
					.tracing
			).toEqual({ exporter: "zipkin", zipkinUrl: "https://z:9411" });
			expect(() => loadBrokerSettings({ ZIPKIN_URL: "zipkin:9411" })).toThrow(
				/ZIPKIN_URL must start with http:\/\/ or https:\/\//
			);
		});

		it("moleculer's metrics: with Prometheus's port, or METRICS_ENABLED said either way", () => {
			const metrics = (env: NodeJS.ProcessEnv) => loadBrokerSettings(env).metrics;
			expect(metrics({})).toEqual({ enabled: false, port: undefined });
			expect(metrics({ METRICS_PORT: "3030" })).toEqual({ enabled: true, port: 3030 });
			expect(metrics({ METRICS_ENABLED: "true" })).toEqual({
				enabled: true,
				port: undefined
			});
			expect(metrics({ METRICS_PORT: "3030", METRICS_ENABLED: "false" })).toEqual({
				enabled: false,
				port: 3030
			});
		});

		it("a port, a number and a flag, each refused when malformed", () => {
			expect(loadBrokerSettings({ METRICS_PORT: "3030" }).metrics.port).toBe(3030);
			expect(() => loadBrokerSettings({ METRICS_ENABLED: "sometimes" })).toThrow(
				/^METRICS_ENABLED/
			);
			expect(() => loadBrokerSettings({ HEALTH_PORT: "99999" })).toThrow(/^HEALTH_PORT/);
			expect(() => loadBrokerSettings({ REQUEST_TIMEOUT: "10s" })).toThrow(
				/^REQUEST_TIMEOUT/
			);
			expect(loadBrokerSettings({ BULKHEAD_ENABLED: "no" }).bulkhead.enabled).toBe(false);
			expect(() => loadBrokerSettings({ PREFER_LOCAL: "maybe" })).toThrow(/^PREFER_LOCAL/);
		});

		it("a cacher: none or false turn it off, Memory is ours, any other name goes to moleculer", () => {
			expect(loadBrokerSettings({ CACHER: "None" }).cacher).toBe("none");
			expect(loadBrokerSettings({ CACHER: "false" }).cacher).toBe("none");
			expect(loadBrokerSettings({ CACHER: "MEMORY" }).cacher).toBe("memory");
			expect(loadBrokerSettings({ CACHER: "Redis" }).cacher).toBe("Redis");
		});

		it("are checked with the services' settings, so a bad one stops any node", () => {
			expect(() => loadSettings({ LOGLEVEL: "loud" })).toThrow(/^LOGLEVEL/);
		});
	});

	it("a size and the console's polling", () => {
		expect(loadSettings({ BODY_LIMIT: "1mb" }).bodyLimit).toBe("1mb");
		expect(() => loadSettings({ BODY_LIMIT: "lots" })).toThrow(/^BODY_LIMIT/);
		expect(loadSettings({}).ops).toEqual({ intervalMs: 1000, historySize: 300 });
		expect(() => loadSettings({ OPS_INTERVAL_MS: "fast" })).toThrow(/^OPS_INTERVAL_MS/);
	});
});
