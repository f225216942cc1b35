/**
 * Bench-only service (loaded by the bench, never by `npm start`): a CPU-bound action for the
 * scale-out scenario. Each call computes a SHA-256 chain of `rounds` rounds synchronously, so one
 * instance can only run one call at a time on one core.
 */
import type { Context, ServiceSchema } from "moleculer";
import { hashChain } from "./hash-chain";

const BenchCpuService = {
	name: "benchcpu",
	actions: {
		hash: {
			params: {
				seed: { type: "string", max: 100 },
				rounds: { type: "number", integer: true, min: 1, max: 1_000_000 }
			},
			handler(ctx: Context<{ seed: string; rounds: number }>) {
				return { digest: hashChain(ctx.params.seed, ctx.params.rounds) };
			}
		}
	}
} satisfies ServiceSchema;

export default BenchCpuService;
