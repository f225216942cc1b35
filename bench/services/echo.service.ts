/**
 * Bench-only service (loaded by the bench, never by `npm start`): the smallest action there is,
 * answering its params, to measure a plain `broker.call` over NATS without HTTP.
 */
import type { Context, ServiceSchema } from "moleculer";

const BenchEchoService = {
	name: "benchecho",
	actions: {
		echo: {
			handler(ctx: Context<Record<string, unknown>>) {
				return ctx.params;
			}
		}
	}
} satisfies ServiceSchema;

export default BenchEchoService;
