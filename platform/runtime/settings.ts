/**
 * Every setting of a node, read from the environment and validated in one place: the broker's
 * own (`broker`, which moleculer.config.ts turns into broker options) and the services'.
 * A bad value is a ConfigError naming the variable, never a silent default.
 */
import os from "node:os";
import path from "node:path";

export class ConfigError extends Error {
	override name = "ConfigError";
}

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace"] as const;
export const STRATEGIES = ["RoundRobin", "Random", "CpuUsage", "Latency", "Shard"] as const;
/** Trace exporters; Jaeger takes Zipkin's format on its port 9411 (jaeger-client is unmaintained). */
export const TRACING_EXPORTERS = ["console", "zipkin", "event"] as const;

/** The broker's options, as moleculer.config.ts applies them. */
export interface BrokerSettings {
	/** TRANSPORTER: a NATS URL for a cluster; unset, every service runs in one process. */
	transporter: string | undefined;
	namespace: string;
	nodeID: string | undefined;
	region: string;
	logLevel: (typeof LOG_LEVELS)[number];
	/** One JSON object per log line (production, or LOG_FORMAT=json). */
	jsonLogs: boolean;
	requestTimeout: number;
	retry: { enabled: boolean; retries: number; delay: number; maxDelay: number };
	heartbeatInterval: number;
	heartbeatTimeout: number;
	tracking: { enabled: boolean; shutdownTimeout: number };
	strategy: (typeof STRATEGIES)[number];
	preferLocal: boolean;
	circuitBreaker: {
		enabled: boolean;
		threshold: number;
		minRequestCount: number;
		windowTime: number;
		halfOpenTime: number;
	};
	bulkhead: { enabled: boolean; concurrency: number; maxQueueSize: number };
	/** "memory" (the scoped memory cacher), "none", or another moleculer cacher by name or URL. */
	cacher: string;
	/** Moleculer's own metrics, for Prometheus; the console's traffic is platform/runtime/traffic.ts. */
	metrics: { enabled: boolean; port: number | undefined };
	tracing: { exporter: (typeof TRACING_EXPORTERS)[number] | undefined; zipkinUrl: string };
	health: { port: number | undefined; host: string };
	/** Calls whose instance is gone go to a twin (FAILOVER=false measures without). */
	failover: boolean;
}

export interface Settings {
	env: "production" | "development" | "test";
	broker: BrokerSettings;
	port: number;
	host: string;
	/** Sockets the gateway listens on at `port` (platform/http/listen.ts); 1 where the OS cannot share one. */
	acceptSockets: number;
	dataDir: string;
	mongoUri: string | undefined;
	sqlite: {
		/** Each service its own private in-memory database (NODE_ENV=test without DATA_DIR). */
		inMemory: boolean;
		synchronous: "OFF" | "NORMAL" | "FULL" | "EXTRA";
		busyTimeoutMs: number;
		/** A process stopped with the write lock held is killed after this long (SQLITE_FENCE_STOPPED_MS; 0: never). */
		fenceStoppedMs: number;
		/** WAL checkpoints in a worker thread this often (SQLITE_CHECKPOINT_MS; 0: SQLite's own, in COMMIT). */
		checkpointMs: number;
		/** One COMMIT per event-loop turn for all of a database's operations (SQLITE_GROUP_COMMIT). */
		groupCommit: boolean;
	};
	jwt: { secret: string; expiresInSec: number; issuer: string; audience: string };
	/** scrypt N of new password hashes (r = 8, p = 1). */
	passwordHashCost: number;
	/** Password hashes computed at once (each takes 128 · N · 8 bytes). */
	passwordHashConcurrency: number;
	admin: { email: string; password: string } | undefined;
	corsOrigins: string[];
	/** `redisUrl`: the counters in Redis, shared by every gateway; memory of each one otherwise. */
	rateLimit: { window: number; limit: number; redisUrl: string | undefined };
	/**
	 * Reverse proxies (ingress, load balancer) in front of the gateway that append the client's
	 * address to X-Forwarded-For. 0: the socket's address is the client (the header is ignored).
	 */
	trustProxy: number;
	/** Failed logins allowed per account and per client IP in one window (0 disables either). */
	loginThrottle: { windowMs: number; maxPerAccount: number; maxPerClient: number };
	bodyLimit: string;
	smtpUrl: string | undefined;
	reservationTtlMs: number;
	/** How long an order's Idempotency-Key is remembered (a repeat within it replays the order). */
	idempotencyKeyTtlMs: number;
	lowStockThreshold: number;
	/** Orders' saga recovery: a saga older than `stuckAfterMs` is resumed or compensated. */
	orders: { stuckAfterMs: number; recoveryIntervalMs: number };
	/** Payments' operation lease and the sweep that finishes the operations callers left. */
	payments: { leaseMs: number; recoveryIntervalMs: number };
	/** The sender of emails (MAIL_FROM). */
	mailFrom: string;
	/** The operator console's polling of the cluster. */
	ops: { intervalMs: number; historySize: number };
	/** Services the gateway needs to be ready (READY_REQUIRES). */
	readyRequires: string[];
	seedCatalog: boolean;
	/** Add X-Node-ID (the node that handled the call) to API responses: for operators and tests. */
	responseNodeHeader: boolean;
	/** Durable domain events: JetStream when `natsUrl` is set, in-process otherwise. */
	events: {
		natsUrl: string | undefined;
		namespace: string;
		maxAttempts: number;
		backoffMs: number;
		ackWaitMs: number;
		/** Replicas of each JetStream stream: 3 on a 3-node NATS cluster. */
		streamReplicas: number;
		relayIntervalMs: number;
		/** How often the relay scans every outbox, not only the documents known to hold events. */
		sweepIntervalMs: number;
		/** How long a consumer remembers the id of an event it handled. */
		inboxRetentionMs: number;
	};
}

/** OWASP's minimum scrypt cost (N = 2^17 with r = 8, p = 1). */
export const DEFAULT_PASSWORD_HASH_COST = 1 << 17;

const DEV_JWT_SECRET = "shopmesh-dev-secret-do-not-use-in-production";

function int(
	env: NodeJS.ProcessEnv,
	name: string,
	def: number,
	min = 0,
	max = Number.MAX_SAFE_INTEGER
): number {
	const raw = env[name];
	if (raw == null || raw === "") return def;
	const n = Number(raw);
	if (!Number.isInteger(n) || n < min || n > max)
		throw new ConfigError(
			`${name} must be an integer between ${min} and ${max} (got "${raw}")`
		);
	return n;
}

/** A finite number of at least `min` (the broker's own settings, in moleculer.config.ts). */
export function envNumber(env: NodeJS.ProcessEnv, name: string, def: number, min = 0): number {
	const raw = env[name];
	if (raw == null || raw === "") return def;
	const n = Number(raw);
	if (!Number.isFinite(n) || n < min)
		throw new ConfigError(`${name} must be a number of at least ${min} (got "${raw}")`);
	return n;
}

/** A boolean: 1/true/yes/on or 0/false/no/off (anything else is refused, not read as false). */
export function envFlag(env: NodeJS.ProcessEnv, name: string, def: boolean): boolean {
	return bool(env, name, def);
}

function bool(env: NodeJS.ProcessEnv, name: string, def: boolean): boolean {
	const raw = env[name];
	if (raw == null || raw === "") return def;
	if (/^(1|true|yes|on)$/i.test(raw)) return true;
	if (/^(0|false|no|off)$/i.test(raw)) return false;
	throw new ConfigError(`${name} must be true or false (got "${raw}")`);
}

/** One of `values`, matched without regard to case and answered as listed; `def` when unset. */
function choice<T extends string, D extends T | undefined>(
	env: NodeJS.ProcessEnv,
	name: string,
	values: readonly T[],
	def: D
): T | D {
	const raw = env[name];
	if (raw == null || raw === "") return def;
	const found = values.find(v => v.toLowerCase() === raw.toLowerCase());
	if (!found) throw new ConfigError(`${name} must be one of ${values.join(", ")} (got "${raw}")`);
	return found;
}

/** A NATS server URL (the transporter's own scheme; JetStream follows it). */
export const isNatsUrl = (url: string | undefined): url is string => /^nats:\/\//.test(url ?? "");

/** A URL of one of `schemes` (e.g. "nats", "http"), exactly as written; undefined when unset. */
export function envUrl(
	env: NodeJS.ProcessEnv,
	name: string,
	schemes: string[]
): string | undefined {
	const raw = env[name];
	if (raw == null || raw === "") return undefined;
	const scheme = raw.match(/^([a-z][a-z0-9+.-]*):\/\//i)?.[1];
	if (!scheme || !schemes.includes(scheme))
		throw new ConfigError(
			`${name} must start with ${schemes.map(s => `${s}://`).join(" or ")} (got "${raw}")`
		);
	return raw;
}

/** The broker's options (read before the services': moleculer.config.ts needs them first). */
export function loadBrokerSettings(env: NodeJS.ProcessEnv = process.env): BrokerSettings {
	const num = (name: string, def: number) => envNumber(env, name, def);
	const port = (name: string) => (env[name] ? int(env, name, 0, 0, 65535) : undefined);
	const cacher = (env.CACHER ?? "Memory").trim();
	const metricsPort = port("METRICS_PORT");
	return {
		transporter: env.TRANSPORTER?.trim() || undefined,
		namespace: env.NAMESPACE || "shopmesh",
		nodeID: env.NODEID || undefined,
		region: env.REGION || "local",
		logLevel: choice(env, "LOGLEVEL", LOG_LEVELS, "info"),
		jsonLogs:
			env.NODE_ENV === "production" ||
			choice(env, "LOG_FORMAT", ["text", "json"], "text") === "json",
		requestTimeout: num("REQUEST_TIMEOUT", 10_000),
		retry: {
			enabled: bool(env, "RETRY_ENABLED", true),
			retries: num("RETRY_RETRIES", 3),
			delay: num("RETRY_DELAY", 100),
			maxDelay: num("RETRY_MAX_DELAY", 1000)
		},
		heartbeatInterval: num("HEARTBEAT_INTERVAL", 5),
		heartbeatTimeout: num("HEARTBEAT_TIMEOUT", 15),
		tracking: {
			enabled: bool(env, "TRACKING_ENABLED", true),
			shutdownTimeout: num("SHUTDOWN_TIMEOUT", 10_000)
		},
		strategy: choice(env, "STRATEGY", STRATEGIES, "RoundRobin"),
		preferLocal: bool(env, "PREFER_LOCAL", true),
		circuitBreaker: {
			enabled: bool(env, "CIRCUIT_BREAKER_ENABLED", true),
			threshold: num("CIRCUIT_BREAKER_THRESHOLD", 0.5),
			minRequestCount: num("CIRCUIT_BREAKER_MIN_REQUESTS", 5),
			windowTime: num("CIRCUIT_BREAKER_WINDOW", 30),
			halfOpenTime: num("CIRCUIT_BREAKER_HALF_OPEN_MS", 5_000)
		},
		bulkhead: {
			enabled: bool(env, "BULKHEAD_ENABLED", true),
			concurrency: num("BULKHEAD_CONCURRENCY", 64),
			maxQueueSize: num("BULKHEAD_MAX_QUEUE", 1000)
		},
		cacher: ["", "none", "false"].includes(cacher.toLowerCase())
			? "none"
			: cacher.toLowerCase() === "memory"
				? "memory"
				: cacher,
		// With Prometheus (METRICS_PORT) unless METRICS_ENABLED says otherwise.
		metrics: { enabled: bool(env, "METRICS_ENABLED", metricsPort != null), port: metricsPort },
		tracing: {
			exporter: choice(env, "TRACING_EXPORTER", TRACING_EXPORTERS, undefined),
			zipkinUrl: envUrl(env, "ZIPKIN_URL", ["http", "https"]) ?? "http://zipkin:9411"
		},
		health: { port: port("HEALTH_PORT"), host: env.HEALTH_HOST || "0.0.0.0" },
		failover: bool(env, "FAILOVER", true)
	};
}

export const DEFAULT_MAIL_FROM = "shopmesh <no-reply@shopmesh.local>";

/** A comma-separated list of service names (letters, digits, dashes). */
function serviceNames(env: NodeJS.ProcessEnv, name: string, def: string): string[] {
	const names = list(env[name] ?? def);
	const bad = names.find(n => !/^[a-z][a-z0-9-]{0,39}$/i.test(n));
	if (bad !== undefined) throw new ConfigError(`${name}: '${bad}' is not a service name`);
	return names;
}

function list(raw: string | undefined): string[] {
	return (raw ?? "")
		.split(",")
		.map(s => s.trim())
		.filter(Boolean);
}

/** BODY_LIMIT as body-parser reads it: bytes, or a number with b, kb, mb or gb. */
function bodyLimit(raw: string | undefined): string {
	if (raw == null || raw === "") return "100kb";
	if (!/^\s*\d+(\.\d+)?\s*(b|kb|mb|gb)?\s*$/i.test(raw))
		throw new ConfigError(`BODY_LIMIT must be a size like 100kb or 1mb (got "${raw}")`);
	return raw.trim();
}

/** Parse and validate settings from an environment. Throws ConfigError with one clear line. */
export function loadSettings(env: NodeJS.ProcessEnv = process.env): Settings {
	const nodeEnv =
		env.NODE_ENV === "production" || env.NODE_ENV === "test" ? env.NODE_ENV : "development";

	const secret = env.JWT_SECRET;
	if (nodeEnv === "production" && !secret)
		throw new ConfigError("JWT_SECRET is required when NODE_ENV=production");
	if (secret != null && secret !== "" && secret.length < 32)
		throw new ConfigError("JWT_SECRET must be at least 32 characters long");
	if (nodeEnv === "production" && secret === DEV_JWT_SECRET)
		throw new ConfigError("JWT_SECRET must not be the development default in production");

	const mongoUri = envUrl(env, "MONGO_URI", ["mongodb", "mongodb+srv"]);
	const redisUrl = envUrl(env, "RATE_LIMIT_REDIS_URL", ["redis", "rediss"]);

	const adminEmail = env.ADMIN_EMAIL?.trim();
	const adminPassword = env.ADMIN_PASSWORD;
	if (Boolean(adminEmail) !== Boolean(adminPassword))
		throw new ConfigError("ADMIN_EMAIL and ADMIN_PASSWORD must be set together");
	if (adminPassword && adminPassword.length < 8)
		throw new ConfigError("ADMIN_PASSWORD must be at least 8 characters long");

	// scrypt N (r = 8, p = 1): OWASP's minimum 2^17 by default, 128 MiB per hash (128 · N · r);
	// tests that register many accounts run cheaper (a test at the default cost is kept).
	const passwordHashCost = int(
		env,
		"PASSWORD_HASH_COST",
		nodeEnv === "test" ? 1024 : DEFAULT_PASSWORD_HASH_COST,
		1024,
		1 << 20
	);
	if ((passwordHashCost & (passwordHashCost - 1)) !== 0)
		throw new ConfigError(
			`PASSWORD_HASH_COST must be a power of two (got ${passwordHashCost})`
		);
	const passwordHashConcurrency = int(
		env,
		"PASSWORD_HASH_CONCURRENCY",
		os.availableParallelism(),
		1,
		64
	);
	// Every hash at once must fit: at most a quarter of the machine's memory.
	const hashBytes = 128 * passwordHashCost * 8 * passwordHashConcurrency;
	if (hashBytes > os.totalmem() / 4)
		throw new ConfigError(
			`PASSWORD_HASH_COST × PASSWORD_HASH_CONCURRENCY needs ${Math.round(hashBytes / 2 ** 20)} MiB ` +
				`for concurrent hashes, more than a quarter of this machine's memory`
		);

	return {
		env: nodeEnv,
		broker: loadBrokerSettings(env),
		port: int(env, "PORT", 3000, 0, 65535),
		host: env.HOST || "0.0.0.0",
		acceptSockets: int(env, "HTTP_ACCEPT_SOCKETS", 8, 1, 64),
		dataDir: path.resolve(env.DATA_DIR || "data"),
		mongoUri,
		sqlite: {
			inMemory: nodeEnv === "test" && !env.DATA_DIR,
			synchronous: choice(
				env,
				"SQLITE_SYNCHRONOUS",
				["NORMAL", "FULL", "EXTRA", "OFF"],
				"NORMAL"
			),
			busyTimeoutMs: int(env, "SQLITE_BUSY_TIMEOUT_MS", 5000, 0, 60_000),
			fenceStoppedMs: int(env, "SQLITE_FENCE_STOPPED_MS", 2000, 0, 60_000),
			checkpointMs: int(env, "SQLITE_CHECKPOINT_MS", 1000, 0, 60_000),
			groupCommit: bool(env, "SQLITE_GROUP_COMMIT", true)
		},
		jwt: {
			secret: secret || DEV_JWT_SECRET,
			expiresInSec: int(env, "JWT_EXPIRES_IN", 900, 30, 86400),
			issuer: env.JWT_ISSUER || "shopmesh",
			audience: env.JWT_AUDIENCE || "shopmesh-api"
		},
		passwordHashCost,
		passwordHashConcurrency,
		admin:
			adminEmail && adminPassword
				? { email: adminEmail, password: adminPassword }
				: undefined,
		corsOrigins: list(env.CORS_ORIGINS),
		rateLimit: {
			window: int(env, "RATE_LIMIT_WINDOW_MS", 60_000, 1000),
			limit: int(env, "RATE_LIMIT_MAX", 1200, 0),
			redisUrl
		},
		trustProxy: int(env, "TRUST_PROXY", 0, 0, 10),
		loginThrottle: {
			windowMs: int(env, "LOGIN_THROTTLE_WINDOW_MS", 15 * 60_000, 1000),
			maxPerAccount: int(env, "LOGIN_MAX_FAILURES", 5, 0),
			maxPerClient: int(env, "LOGIN_CLIENT_MAX_FAILURES", 20, 0)
		},
		bodyLimit: bodyLimit(env.BODY_LIMIT),
		smtpUrl: env.SMTP_URL || undefined,
		reservationTtlMs: int(env, "RESERVATION_TTL_MS", 15 * 60_000, 1000),
		idempotencyKeyTtlMs: int(
			env,
			"IDEMPOTENCY_KEY_TTL_MS",
			24 * 3_600_000,
			1000,
			30 * 24 * 3_600_000
		),
		lowStockThreshold: int(env, "LOW_STOCK_THRESHOLD", 5, 0),
		orders: {
			stuckAfterMs: int(env, "ORDER_STUCK_AFTER_MS", 120_000, 100, 24 * 3_600_000),
			recoveryIntervalMs: int(env, "ORDER_RECOVERY_INTERVAL_MS", 15_000, 50, 3_600_000)
		},
		payments: {
			leaseMs: int(env, "PAYMENT_LEASE_MS", 15_000, 100, 3_600_000),
			recoveryIntervalMs: int(env, "PAYMENT_RECOVERY_INTERVAL_MS", 15_000, 50, 3_600_000)
		},
		mailFrom: env.MAIL_FROM?.trim() || DEFAULT_MAIL_FROM,
		ops: {
			intervalMs: int(env, "OPS_INTERVAL_MS", 1000, 50, 60_000),
			historySize: int(env, "OPS_HISTORY_SIZE", 300, 1, 100_000)
		},
		readyRequires: serviceNames(env, "READY_REQUIRES", "users,inventory,payments,orders"),
		seedCatalog: bool(env, "SEED_CATALOG", nodeEnv !== "production"),
		responseNodeHeader: bool(env, "RESPONSE_NODE_HEADER", false),
		events: {
			natsUrl:
				env.EVENTS_NATS_URL || (isNatsUrl(env.TRANSPORTER) ? env.TRANSPORTER : undefined),
			namespace: (env.NAMESPACE || "default").replace(/[^A-Za-z0-9_-]/g, "_"),
			maxAttempts: int(env, "EVENTS_MAX_ATTEMPTS", 5, 1, 100),
			backoffMs: int(env, "EVENTS_BACKOFF_MS", 1000, 10, 600_000),
			ackWaitMs: int(env, "EVENTS_ACK_WAIT_MS", 4_000, 1000, 3_600_000),
			streamReplicas: int(env, "EVENTS_STREAM_REPLICAS", 1, 1, 5),
			relayIntervalMs: int(env, "EVENTS_RELAY_INTERVAL_MS", 1000, 50, 60_000),
			sweepIntervalMs: int(env, "EVENTS_SWEEP_INTERVAL_MS", 30_000, 50, 3_600_000),
			inboxRetentionMs: int(
				env,
				"EVENTS_INBOX_RETENTION_MS",
				7 * 24 * 3_600_000,
				60_000,
				365 * 24 * 3_600_000
			)
		}
	};
}

let cached: Settings | undefined;

/** The settings of this process, parsed once. */
export function settings(): Settings {
	cached ??= loadSettings();
	return cached;
}

/** For tests that change the environment between cases. */
export function resetSettings(): void {
	cached = undefined;
}
