/**
 * Logins at the password hashing cost: POST /api/users/login on the embedded node with scrypt
 * N = 2^17 (the default, OWASP's minimum) beside N = 2^14 (the cost before it), measured in the
 * same run on the same node, each with accounts registered at that cost.
 */
import { performance } from "node:perf_hooks";
import type { BenchContext } from "../lib/context";
import { startEmbedded, type Stack } from "../lib/stack";
import { api } from "../../test/helpers/cluster";

/** Logins in flight: one per core, as many as users hashes at once by default. */
const CONNECTIONS = 2;
const GROUP = "Logins: POST /api/users/login (scrypt, r=8, p=1)";

/**
 * `perConnection` logins by each of CONNECTIONS clients, one after another: bounded in requests
 * (a login at 2^17 on a busy machine can take longer than a quick run's seconds).
 */
async function timedLogins(stack: Stack, bodies: object[], perConnection: number) {
	const latencies: number[] = [];
	let failed = 0;
	const t0 = performance.now();
	await Promise.all(
		bodies.map(async body => {
			for (let i = 0; i < perConnection; i++) {
				const started = performance.now();
				const res = await api(stack.base, "POST", "/users/login", body);
				latencies.push(performance.now() - started);
				if (res.status !== 200) failed++;
			}
		})
	);
	const seconds = (performance.now() - t0) / 1000;
	latencies.sort((a, b) => a - b);
	const at = (q: number) =>
		latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
	return {
		rps: latencies.length / seconds,
		p50: at(0.5),
		p99: at(0.99),
		failed,
		total: latencies.length
	};
}

export async function logins(ctx: BenchContext): Promise<void> {
	ctx.log(`logins: embedded, scrypt N=2^14 then N=2^17, c${CONNECTIONS}`);
	const perConnection = ctx.quick ? 5 : 20;
	const stack = await startEmbedded({ cacher: "Memory", profileDir: ctx.profileDir });
	try {
		for (const log2 of [14, 17]) {
			await stack.restart("embedded", { PASSWORD_HASH_COST: String(2 ** log2) });
			const tag = `${process.pid}-${Date.now().toString(36)}`;
			const bodies: object[] = [];
			for (let i = 0; i < CONNECTIONS; i++) {
				const account = {
					email: `login-bench-${tag}-${i}@shopmesh.test`,
					password: `login-bench-pass-${i}`
				};
				const reg = await api(stack.base, "POST", "/users", { ...account, name: "L" });
				if (reg.status !== 201)
					throw new Error(`register: ${reg.status} ${JSON.stringify(reg.body)}`);
				bodies.push(account);
			}
			await timedLogins(stack, bodies, 1); // warm-up
			const res = await timedLogins(stack, bodies, perConnection);
			ctx.log(
				`  logins c${CONNECTIONS}, N=2^${log2}: ${res.rps.toFixed(2)}/s, p50 ${res.p50.toFixed(0)} ms, p99 ${res.p99.toFixed(0)} ms, ${res.failed} failed of ${res.total}`
			);
			ctx.results.add({
				id: `logins.n${log2}`,
				group: GROUP,
				name: `logins/s, scrypt N=2^${log2}, c${CONNECTIONS}${log2 === 17 ? " (default)" : ""}`,
				unit: "req/s",
				value: res.rps,
				p50: res.p50,
				p99: res.p99,
				errors: res.failed,
				...(log2 === 17 ? { baselineId: "logins.n14" } : {})
			});
		}
	} finally {
		await stack.stop();
	}
}
