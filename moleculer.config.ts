/**
 * Broker configuration: every option has a safe default and can be changed by environment.
 * moleculer-runner loads this file for `npm start` and `npm run start:node`.
 *
 * See the configuration table in docs/configuration.md for the variables.
 */
// First: sizes libuv's thread pool before anything below can start it (platform/runtime/threadpool.ts).
import "./platform/runtime/threadpool";
import os from "node:os";
import path from "node:path";
import type { BrokerOptions, Errors, LogLevels } from "moleculer";
import { ConfigError, envFlag, envNumber, settings } from "./platform/runtime/settings";
import { endpointFailed, retryable } from "./platform/messaging/retry";
import { ShopValidator } from "./platform/http/validator";
import { startHealthServer } from "./platform/runtime/health";
import {
	jsonLogFormatter,
	printObject,
	RequestLogContextMiddleware
} from "./platform/runtime/logging";
import { SCOPED_MEMORY_CACHER } from "./platform/runtime/cacher";
import { BusinessMetricsMiddleware } from "./platform/runtime/metrics";
import { DrainMiddleware } from "./platform/runtime/drain";
import { faultInjection } from "./platform/runtime/fault-injection";
import { FairSchedulingMiddleware } from "./platform/messaging/fair-scheduling";
import { coalescingNats } from "./platform/messaging/nats-transporter";
import { FailoverMiddleware } from "./platform/messaging/failover";
import { replCommands } from "./platform/runtime/repl-commands";
import type { Server } from "node:http";

/** A bad or missing setting stops the process with one clear line instead of a stack trace. */
function checked<T>(read: () => T): T {
	try {
		return read();
	} catch (err) {
		if (err instanceof ConfigError) {
			console.error(`shopmesh: configuration error: ${err.message}`);
			process.exit(1);
		}
		throw err;
	}
}

// Validate project settings before anything starts.
checked(settings);

// moleculer-runner resolves `SERVICES=orders` against SERVICEDIR: point it at our service folders
// (services/ next to this file, so the same holds for the compiled dist/ tree).
process.env.SERVICEDIR ??= path.join(__dirname, "services");

const env = process.env;
// The broker's own settings, parsed and refused as platform/runtime/settings.ts does its own.
const num = (name: string, def: number) => checked(() => envNumber(env, name, def));
const flag = (name: string, def: boolean) => checked(() => envFlag(env, name, def));

/** TRANSPORTER is a NATS URL: our transporter, which writes once per event-loop turn. */
const ourNats = /^nats:\/\//.test(env.TRANSPORTER ?? "");
// Instant failover (platform/messaging/nats-transporter.ts, platform/messaging/failover.ts); FAILOVER=false measures without.
const failover = flag("FAILOVER", true);

function transporter(): BrokerOptions["transporter"] {
	const url = env.TRANSPORTER;
	if (!url) return null; // embedded default: every service in one process, no broker
	if (ourNats)
		// Moleculer's NATS transporter, its publishes written once per event-loop turn.
		return coalescingNats({
			url,
			// Keep trying for ever: a restarted nats-server is found again without restarting nodes.
			maxReconnectAttempts: -1,
			reconnectTimeWait: 500,
			failover
		});
	return url as BrokerOptions["transporter"];
}

function tracingExporter(): NonNullable<Exclude<BrokerOptions["tracing"], boolean>>["exporter"] {
	switch ((env.TRACING_EXPORTER || "").toLowerCase()) {
		case "console":
			return [{ type: "Console", options: { width: 100, colors: true } }];
		case "zipkin":
			return [
				{ type: "Zipkin", options: { baseURL: env.ZIPKIN_URL || "http://zipkin:9411" } }
			];
		case "jaeger":
			return [{ type: "Jaeger", options: { endpoint: env.JAEGER_URL } }];
		case "event":
			return [{ type: "Event", options: { eventName: "$tracing.spans" } }];
		default:
			return [];
	}
}

const production = env.NODE_ENV === "production";
// Structured JSON lines in production (one object per line, with the request id).
const jsonLogs = production || env.LOG_FORMAT === "json";
const metricsPort = env.METRICS_PORT ? num("METRICS_PORT", 3030) : undefined;
const cacher = env.CACHER ?? "Memory";

const brokerConfig: BrokerOptions = {
	namespace: env.NAMESPACE || "shopmesh",
	nodeID: env.NODEID || `${os.hostname()}-${process.pid}`,
	metadata: { region: env.REGION || "local" },

	logger: {
		type: "Console",
		options: {
			level: (env.LOGLEVEL as LogLevels) || "info",
			colors: !jsonLogs,
			moduleColors: !jsonLogs,
			formatter: jsonLogs ? jsonLogFormatter : "full",
			objectPrinter: jsonLogs ? printObject : null,
			autoPadding: false
		}
	},
	logLevel: (env.LOGLEVEL as LogLevels) || "info",

	transporter: transporter(),
	serializer: "JSON",

	requestTimeout: num("REQUEST_TIMEOUT", 10_000),

	// Only retry errors where the request surely never ran (no endpoint, rejected, queue full,
	// disconnected). A timed-out call may have run already, so it is never retried blindly.
	retryPolicy: {
		enabled: flag("RETRY_ENABLED", true),
		retries: num("RETRY_RETRIES", 3),
		delay: num("RETRY_DELAY", 100),
		maxDelay: num("RETRY_MAX_DELAY", 1000),
		factor: 2,
		check: (err: Error) => retryable(err as Errors.MoleculerError)
	},

	maxCallLevel: 100,
	heartbeatInterval: num("HEARTBEAT_INTERVAL", 5),
	heartbeatTimeout: num("HEARTBEAT_TIMEOUT", 15),
	contextParamsCloning: false,

	// Graceful shutdown: on SIGTERM wait for in-flight requests before leaving the cluster.
	tracking: {
		enabled: flag("TRACKING_ENABLED", true),
		shutdownTimeout: num("SHUTDOWN_TIMEOUT", 10_000)
	},

	disableBalancer: false,
	registry: { strategy: env.STRATEGY || "RoundRobin", preferLocal: flag("PREFER_LOCAL", true) },

	// Per-endpoint circuit breaker: an endpoint failing half of its calls is skipped for a while
	// (a refusal because a dependency is down is an answer, not a failure: platform/messaging/retry.ts).
	circuitBreaker: {
		enabled: flag("CIRCUIT_BREAKER_ENABLED", true),
		threshold: num("CIRCUIT_BREAKER_THRESHOLD", 0.5),
		minRequestCount: num("CIRCUIT_BREAKER_MIN_REQUESTS", 5),
		windowTime: num("CIRCUIT_BREAKER_WINDOW", 30),
		halfOpenTime: num("CIRCUIT_BREAKER_HALF_OPEN_MS", 5_000),
		check: (err: Error) => endpointFailed(err as Errors.MoleculerError)
	},

	// Bulkhead: bound concurrent handler executions per action; excess waits in a bounded queue.
	bulkhead: {
		enabled: flag("BULKHEAD_ENABLED", true),
		concurrency: num("BULKHEAD_CONCURRENCY", 64),
		maxQueueSize: num("BULKHEAD_MAX_QUEUE", 1000)
	},

	// Memory: moleculer's memory cacher with its keys grouped by service (platform/runtime/cacher.ts; a
	// registered cacher type, which moleculer's typings do not know).
	cacher: ["", "none", "false"].includes(cacher.toLowerCase())
		? null
		: cacher.toLowerCase() === "memory"
			? ({ type: SCOPED_MEMORY_CACHER } as unknown as BrokerOptions["cacher"])
			: (cacher as "Memory"),

	// fastest-validator with lengths and array bounds checked first, linear email and URL
	// checks and bounded error lists (platform/http/validator.ts).
	validator: new ShopValidator(),
	errorHandler: null,

	// On by default: the operator console's traffic charts read every node's request metrics
	// (`$node.metrics`); METRICS_ENABLED=false turns them off. Prometheus only with METRICS_PORT.
	metrics: {
		enabled: flag("METRICS_ENABLED", true),
		// Latency quantiles keep every sample of their window and sort it when read (each second
		// by the console): a 5 s window instead of moleculer's 60 s bounds that under load.
		defaultMaxAgeSeconds: 5,
		reporter:
			metricsPort != null
				? [{ type: "Prometheus", options: { port: metricsPort, path: "/metrics" } }]
				: []
	},

	tracing: {
		enabled: Boolean(env.TRACING_EXPORTER),
		exporter: tracingExporter(),
		events: true,
		// Spans never carry params, meta or responses by default: they hold passwords and card
		// numbers. An action may opt in to safe fields with its own `tracing.tags`.
		tags: {
			action: { params: false, meta: false, response: false },
			event: { params: false, meta: false }
		}
	},

	middlewares: [
		// Calls get their action's budget as timeout; a call whose instance died goes to a twin.
		...(failover ? [FailoverMiddleware()] : []),
		// Shutdown: the gateway stops taking requests before in-flight calls are awaited.
		DrainMiddleware(),
		// Nested in-process calls start from the event loop, so one order cannot hog it.
		FairSchedulingMiddleware(),
		// Puts each handler's context in scope, so JSON log lines carry its request id.
		...(jsonLogs ? [RequestLogContextMiddleware()] : []),
		// Business counters (orders, payments, reservations, domain events) next to moleculer's.
		...(metricsPort != null ? [BusinessMetricsMiddleware()] : []),
		// The crash-recovery tests' switches; nothing unless one is set, never in production.
		...faultInjection()
	],
	replOptions: { customCommands: replCommands as never },

	// Per-node liveness/readiness endpoint, opt-in so several nodes can share a host.
	async created(broker) {
		const port = env.HEALTH_PORT ? num("HEALTH_PORT", 0) : undefined;
		if (port == null) return;
		healthServer = await startHealthServer(broker, port, env.HEALTH_HOST || "0.0.0.0").catch(
			err => {
				broker.logger.error(
					`Health endpoint cannot listen on port ${port}: ${err.message}`
				);
				return undefined;
			}
		);
	},
	async stopped() {
		await new Promise(resolve =>
			healthServer ? healthServer.close(resolve) : resolve(undefined)
		);
	}
};

let healthServer: Server | undefined;

/**
 * moleculer-runner (`npm start`, `npm run start:node`) copies every environment variable named
 * like a top-level option over the loaded config. For these two options that copy is wrong: the
 * TRANSPORTER URL string would replace the transporter object above (and drop its reconnect-for-
 * ever options), and CACHER=none would become an invalid cacher type. Both are computed here
 * from the same variables, so the runner's copy is ignored.
 */
for (const key of ["transporter", "cacher"] as const) {
	const value = brokerConfig[key];
	Object.defineProperty(brokerConfig, key, {
		enumerable: true,
		get: () => value,
		set: () => undefined
	});
}

export default brokerConfig;
