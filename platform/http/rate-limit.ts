/**
 * The gateway's per-client rate limit, counted in Redis when RATE_LIMIT_REDIS_URL is set, so every
 * gateway instance draws on one budget per client (in each gateway's memory, n instances gave a
 * client n budgets). A store for moleculer-web's `rateLimit.StoreFactory`: `inc(key)` counts one
 * request and answers how many the key made in its window.
 *
 * rate-limiter-flexible's RateLimiterRedis keeps one counter per key with the window as its
 * expiry (one atomic Redis call per request). Should Redis fail or be unreachable, the request is
 * counted in this gateway's memory instead (rate-limiter-flexible's insurance limiter): the limit
 * goes back to per instance for that time, and the API keeps answering.
 */
import Redis from "ioredis";
import {
	RateLimiterMemory,
	RateLimiterRedis,
	RateLimiterRes,
	type RateLimiterAbstract
} from "rate-limiter-flexible";

/** Redis clients by URL: one connection per process and URL, whatever the number of routes. */
const clients = new Map<string, Redis>();

function redisClient(url: string): Redis {
	let client = clients.get(url);
	if (!client) {
		client = new Redis(url, {
			// Fail a command at once while disconnected (the insurance limiter counts it) rather
			// than queueing it behind a reconnect.
			enableOfflineQueue: false,
			maxRetriesPerRequest: 1,
			connectTimeout: 2000
		});
		// Errors are the insurance limiter's business; without a listener ioredis prints each.
		client.on("error", () => undefined);
		clients.set(url, client);
	}
	return client;
}

/** Close the Redis connections (the gateway's stopped()). */
export async function closeRateLimitStores(): Promise<void> {
	const all = [...clients.values()];
	clients.clear();
	await Promise.all(all.map(c => c.quit().catch(() => c.disconnect())));
}

/** When each recently seen key's window ends (for Retry-After), bounded. */
const MAX_TRACKED = 10_000;

export interface RateLimitStore {
	inc(key: string): Promise<number>;
	/** When `key`'s window ends (epoch ms), if known. */
	resetFor(key: string): number | undefined;
	/** moleculer-web's X-Rate-Limit-Reset: the end of the window of the last key counted. */
	resetTime: number;
}

/** A StoreFactory for moleculer-web counting in Redis at `url` under `prefix`. */
export function redisStoreFactory(url: string, prefix: string) {
	return class RedisRateLimitStore implements RateLimitStore {
		private readonly limiter: RateLimiterAbstract;
		private readonly resets = new Map<string, number>();
		resetTime = Date.now();

		constructor(windowMs: number, opts: { limit: number }) {
			const duration = Math.max(1, Math.ceil(windowMs / 1000));
			this.limiter = new RateLimiterRedis({
				storeClient: redisClient(url),
				keyPrefix: prefix,
				points: opts.limit,
				duration,
				insuranceLimiter: new RateLimiterMemory({ points: opts.limit, duration })
			});
		}

		async inc(key: string): Promise<number> {
			let res: RateLimiterRes;
			try {
				res = await this.limiter.consume(key, 1);
			} catch (err) {
				if (!(err instanceof RateLimiterRes)) throw err;
				res = err; // over the limit: the count still tells how far
			}
			const resetAt = Date.now() + res.msBeforeNext;
			this.resetTime = resetAt;
			this.resets.delete(key);
			if (this.resets.size >= MAX_TRACKED)
				this.resets.delete(this.resets.keys().next().value!);
			this.resets.set(key, resetAt);
			return res.consumedPoints;
		}

		resetFor(key: string): number | undefined {
			return this.resets.get(key);
		}
	};
}
