// The parts of autocannon 9 the bench uses (the package ships no typings).
declare module "autocannon" {
	import type { EventEmitter } from "node:events";

	namespace autocannon {
		interface Histogram {
			average: number;
			mean: number;
			stddev: number;
			min: number;
			max: number;
			total: number;
			p50: number;
			p90: number;
			p97_5: number;
			p99: number;
		}
		interface Client extends EventEmitter {
			setHeaders(headers: Record<string, string>): void;
			setBody(body: string | Buffer): void;
			setHeadersAndBody(headers: Record<string, string>, body: string | Buffer): void;
		}
		interface Request {
			method?: string;
			path?: string;
			headers?: Record<string, string>;
			body?: string | Buffer;
			onResponse?: (status: number, body: string, context: Record<string, unknown>) => void;
		}
		interface Options {
			url: string;
			connections?: number;
			duration?: number;
			amount?: number;
			timeout?: number;
			pipelining?: number;
			method?: string;
			headers?: Record<string, string>;
			body?: string | Buffer;
			requests?: Request[];
			setupClient?: (client: Client) => void;
			/** Resolve with a raw result for aggregateResult() instead of the summary. */
			skipAggregateResult?: boolean;
		}
		interface Result {
			requests: Histogram;
			latency: Histogram;
			throughput: Histogram;
			duration: number;
			errors: number;
			timeouts: number;
			non2xx: number;
			statusCodeStats: Record<string, { count: number }>;
		}
		interface Instance extends EventEmitter, PromiseLike<Result> {
			stop(): void;
		}
	}
	function autocannon(opts: autocannon.Options): autocannon.Instance;
	namespace autocannon {
		/** Merge raw results (run with skipAggregateResult) into one, histograms included. */
		function aggregateResult(
			results: unknown[],
			opts: { url: string; connections?: number }
		): Result;
	}
	export = autocannon;
}
