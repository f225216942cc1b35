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
import type { BrokerOptions, Errors } from "moleculer";
import { ConfigError, isNatsUrl, settings } from "./platform/runtime/settings";
import { endpointFailed, retryable } from "./platform/messaging/retry";
import { ShopValidator } from "./platform/http/validator";
import { startHealthServer } from "./platform/runtime/health";
import { keepMemoryReducerWorking } from "./platform/runtime/idle-memory";
import {
	jsonLogFormatter,
	printObject,
	RequestLogContextMiddleware
} from "./platform/runtime/logging";
import { SCOPED_MEMORY_CACHER } from "./platform/runtime/cacher";
import { BusinessMetricsMiddleware } from "./platform/runtime/metrics";
import { DrainMiddleware } from "./platform/runtime/drain";
import { TRAFFIC_NODE_SERVICE, TrafficMiddleware } from "./platform/runtime/traffic";
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

// Every setting validated before anything starts; the broker's are applied below.
const broker = checked(settings).broker;

// moleculer-runner resolves `SERVICES=orders` against SERVICEDIR: point it at our service folders
// (services/ next to this file, so the same holds for the compiled dist/ tree).
process.env.SERVICEDIR ??= path.join(__dirname, "services");

function transporter(): BrokerOptions["transporter"] {
	const url = broker.transporter;
	if (!url) return null; // embedded default: every service in one process, no broker
	if (isNatsUrl(url))
		// Moleculer's NATS transporter, its publishes written once per event-loop turn.
		return coalescingNats({
			url,
			// Keep trying for ever: a restarted nats-server is found again without restarting nodes.
			maxReconnectAttempts: -1,
			reconnectTimeWait: 500,
			failover: broker.failover
		});
	return url as BrokerOptions["transporter"];
}

function tracingExporter(): NonNullable<Exclude<BrokerOptions["tracing"], boolean>>["exporter"] {
	switch (broker.tracing.exporter) {
		case "console":
			return [{ type: "Console", options: { width: 100, colors: true } }];
		case "zipkin":
			return [{ type: "Zipkin", options: { baseURL: broker.tracing.zipkinUrl } }];
		case "event":
			return [{ type: "Event", options: { eventName: "$tracing.spans" } }];
		default:
			return [];
	}
}

const { jsonLogs, metrics, health } = broker;

const brokerConfig: BrokerOptions = {
	namespace: broker.namespace,
	nodeID: broker.nodeID ?? `${os.hostname()}-${process.pid}`,
	metadata: { region: broker.region },

	logger: {
		type: "Console",
		options: {
			level: broker.logLevel,
			colors: !jsonLogs,
			moduleColors: !jsonLogs,
			formatter: jsonLogs ? jsonLogFormatter : "full",
			objectPrinter: jsonLogs ? printObject : null,
			autoPadding: false
		}
	},
	logLevel: broker.logLevel,

	transporter: transporter(),
	serializer: "JSON",

	requestTimeout: broker.requestTimeout,

	// Only retry errors where the request surely never ran (no endpoint, rejected, queue full,
	// disconnected). A timed-out call may have run already, so it is never retried blindly.
	retryPolicy: {
		...broker.retry,
		factor: 2,
		check: (err: Error) => retryable(err as Errors.MoleculerError)
	},

	maxCallLevel: 100,
	heartbeatInterval: broker.heartbeatInterval,
	heartbeatTimeout: broker.heartbeatTimeout,
	contextParamsCloning: false,

	// Graceful shutdown: on SIGTERM wait for in-flight requests before leaving the cluster.
	tracking: broker.tracking,

	disableBalancer: false,
	registry: { strategy: broker.strategy, preferLocal: broker.preferLocal },

	// Per-endpoint circuit breaker: an endpoint failing half of its calls is skipped for a while
	// (a refusal because a dependency is down is an answer, not a failure: platform/messaging/retry.ts).
	circuitBreaker: {
		...broker.circuitBreaker,
		check: (err: Error) => endpointFailed(err as Errors.MoleculerError)
	},

	// Bulkhead: bound concurrent handler executions per action; excess waits in a bounded queue.
	bulkhead: broker.bulkhead,

	// Memory: moleculer's memory cacher with its keys grouped by service (platform/runtime/cacher.ts; a
	// registered cacher type, which moleculer's typings do not know).
	cacher:
		broker.cacher === "none"
			? null
			: broker.cacher === "memory"
				? ({ type: SCOPED_MEMORY_CACHER } as unknown as BrokerOptions["cacher"])
				: (broker.cacher as "Memory"),

	// fastest-validator with lengths and array bounds checked first, linear email and URL
	// checks and bounded error lists (platform/http/validator.ts).
	validator: new ShopValidator(),
	errorHandler: null,

	// For Prometheus (METRICS_PORT), or METRICS_ENABLED=true; the console reads `$node.traffic`.
	metrics: {
		enabled: metrics.enabled,
		// Latency quantiles keep every sample of their window and sort it when read: a 5 s window
		// instead of moleculer's 60 s bounds both under load.
		defaultMaxAgeSeconds: 5,
		reporter:
			metrics.port != null
				? [{ type: "Prometheus", options: { port: metrics.port, path: "/metrics" } }]
				: []
	},

	tracing: {
		enabled: broker.tracing.exporter != null,
		exporter: tracingExporter(),
		events: true,
		// Spans never carry params, meta or responses by default: they hold passwords and card
		// numbers. An action may opt in to safe fields with its own `tracing.tags`.
		tags: {
			action: { params: false, meta: false, response: false },
			event: { params: false, meta: false }
		}
	},

	// `$node.traffic` on every node: the operator console's calls, errors and latency per action.
	internalServices: { $node: TRAFFIC_NODE_SERVICE },

	middlewares: [
		// Calls get their action's budget as timeout; a call whose instance died goes to a twin.
		...(broker.failover ? [FailoverMiddleware()] : []),
		// Shutdown: the gateway stops taking requests before in-flight calls are awaited.
		DrainMiddleware(),
		// Nested in-process calls start from the event loop, so one order cannot hog it.
		FairSchedulingMiddleware(),
		// Puts each handler's context in scope, so JSON log lines carry its request id.
		...(jsonLogs ? [RequestLogContextMiddleware()] : []),
		// Business counters (orders, payments, reservations, domain events) next to moleculer's.
		...(metrics.enabled ? [BusinessMetricsMiddleware()] : []),
		// The crash-recovery tests' switches; nothing unless one is set, never in production.
		...faultInjection(),
		// Counts and times every local call for `$node.traffic`, around every other middleware.
		TrafficMiddleware()
	],
	replOptions: { customCommands: replCommands as never },

	async created(broker) {
		// What a load left in the heap goes back within seconds of idling, not 100 s (idle-memory.ts).
		keepMemoryReducerWorking();
		// Per-node liveness/readiness endpoint, opt-in so several nodes can share a host.
		const { port, host } = health;
		if (port == null) return;
		healthServer = await startHealthServer(broker, port, host).catch(err => {
			broker.logger.error(`Health endpoint cannot listen on port ${port}: ${err.message}`);
			return undefined;
		});
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
