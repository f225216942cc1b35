import {
	ConfigError,
	envFlag,
	envNumber,
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
});
