/**
 * The gateway's per-request debug lines: built only when a logger writes them (moleculer-web
 * formats them before the logger filters by level), and written as before when it does.
 */
import { Loggers, ServiceBroker, type ServiceSchema } from "moleculer";
import ApiGateway from "moleculer-web";
import request from "supertest";
import brokerConfig from "../../../moleculer.config";
import { logsAt } from "../../../platform/runtime/logging";
import ApiService from "../../../services/api/api.service";

const LEVELS = ["fatal", "error", "warn", "info", "debug", "trace"];

/** A moleculer logger that keeps the lines it would write. */
class KeptLines extends Loggers.Base<Loggers.Base.LoggerOptions> {
	lines: string[] = [];
	override getLogHandler(bindings: { mod?: string }) {
		const level = this.getLogLevel(bindings?.mod ?? "");
		if (!level) return null;
		return (type: string, args: unknown[]) => {
			if (LEVELS.indexOf(type) <= LEVELS.indexOf(level)) this.lines.push(args.join(" "));
		};
	}
}

async function gatewayWith(level: unknown) {
	const logger = new KeptLines({ level } as never);
	const broker = new ServiceBroker({
		...brokerConfig,
		nodeID: `logs-${process.pid}-${Math.random()}`,
		transporter: null,
		logger: logger as never,
		metrics: false,
		tracing: false
	});
	broker.createService(ApiService as ServiceSchema);
	broker.createService({
		name: "inventory",
		actions: { getProduct: (ctx: { params: { id: string } }) => ({ id: ctx.params.id }) }
	});
	await broker.start();
	const server = (broker.getLocalService("api") as unknown as { server: never }).server;
	return { broker, logger, http: request(server) };
}

describe("logsAt", () => {
	it("follows each appender's level for the module", () => {
		const logger = (level: unknown) =>
			({ appenders: [new KeptLines({ level } as never)] }) as never;
		expect(logsAt(logger("info"), "debug", "api")).toBe(false);
		expect(logsAt(logger("info"), "info", "api")).toBe(true);
		expect(logsAt(logger("trace"), "debug", "api")).toBe(true);
		expect(logsAt(logger({ API: "debug", "**": "info" }), "debug", "api")).toBe(true);
		expect(logsAt(logger({ API: "debug", "**": "info" }), "debug", "users")).toBe(false);
		expect(logsAt(logger(false), "fatal", "api")).toBe(false);
		expect(logsAt({ appenders: [] }, "fatal", "api")).toBe(false);
	});
});

it("writes a line per request and per answer at debug level", async () => {
	const { broker, logger, http } = await gatewayWith({ API: "debug", "**": "warn" });
	try {
		await http.get("/api/products/p1").expect(200);
		expect(logger.lines.some(l => /=> GET \/api\/products\/p1/.test(l))).toBe(true);
		expect(logger.lines.some(l => /<= .*200.* GET .*\/api\/products\/p1/.test(l))).toBe(true);
	} finally {
		await broker.stop();
	}
});

it("does not even build them above debug level", async () => {
	const methods = (ApiGateway as unknown as { methods: Record<string, () => void> }).methods;
	const built = [jest.spyOn(methods, "logRequest"), jest.spyOn(methods, "logResponse")];
	const { broker, logger, http } = await gatewayWith("info");
	try {
		await http.get("/api/products/p1").expect(200);
		expect(logger.lines.filter(l => /\/api\/products\/p1/.test(l))).toEqual([]);
		for (const spy of built) expect(spy).not.toHaveBeenCalled();
	} finally {
		built.forEach(spy => spy.mockRestore());
		await broker.stop();
	}
});
