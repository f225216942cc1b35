/**
 * Structured logs: one JSON object per line, carrying the request id of the call being handled.
 *
 * Services log with `this.logger`, which knows nothing of the request. A broker middleware runs
 * every local action and event handler inside an AsyncLocalStorage scope holding its context,
 * and the JSON formatter adds that context's `requestID` (the gateway takes it from the
 * `X-Request-ID` header, moleculer passes it along every call and event; with tracing on it is
 * the trace id) and the action or event name to each line logged while the handler runs.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import util from "node:util";
import type { Context, Middleware } from "moleculer";

const current = new AsyncLocalStorage<Context>();

/** The context of the action or event handler running now, if any. */
export function currentContext(): Context | undefined {
	return current.getStore();
}

/** Runs each local action and event handler with its context in scope for the log formatter. */
export function RequestLogContextMiddleware(): Middleware {
	const inScope = (next: (ctx: Context) => unknown) => (ctx: Context) =>
		current.run(ctx, () => next(ctx));
	const middleware = {
		name: "RequestLogContext",
		localAction: inScope,
		localEvent: inScope
	};
	return middleware as unknown as Middleware;
}

/** Prints objects and errors on one line, without colors. */
export function printObject(obj: unknown): string {
	return util.inspect(obj, { depth: 4, colors: false, breakLength: Infinity });
}

/**
 * moleculer Console logger formatter: `{ ts, level, msg, nodeID, ns, mod, svc?, requestID?,
 * action? | event? }`. moleculer calls it with the logger's bindings and its argument printer.
 */
export function jsonLogFormatter(
	type: string,
	args: unknown[],
	bindings?: Record<string, unknown>,
	helpers?: { printArgs(args: unknown[]): unknown[] }
): string[] {
	const printed = helpers
		? helpers.printArgs(args)
		: args.map(a => (typeof a === "object" && a !== null ? printObject(a) : a));
	const line: Record<string, unknown> = {
		ts: Date.now(),
		level: type,
		msg: printed.join(" "),
		...bindings
	};
	const ctx = current.getStore();
	if (ctx) {
		if (ctx.requestID) line.requestID = ctx.requestID;
		if (ctx.action?.name) line.action = ctx.action.name;
		else if (ctx.eventName) line.event = ctx.eventName;
	}
	return [JSON.stringify(line)];
}

const LEVELS = ["fatal", "error", "warn", "info", "debug", "trace"] as const;
type Level = (typeof LEVELS)[number];

interface LoggerWithAppenders {
	appenders?: { getLogLevel(mod: string): unknown }[];
}

/**
 * Whether any appender of a moleculer logger writes `level` for module `mod`. A moleculer logger's
 * methods filter by level only after their arguments are built, so a caller that formats an
 * expensive message can ask first.
 */
export function logsAt(logger: LoggerWithAppenders, level: Level, mod: string): boolean {
	return (logger.appenders ?? []).some(appender => {
		const own = appender.getLogLevel(mod);
		return typeof own === "string" && LEVELS.indexOf(own as Level) >= LEVELS.indexOf(level);
	});
}
