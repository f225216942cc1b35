/**
 * Login throttling: failed password checks counted per account (normalized email, whether it
 * exists or not, so throttling tells nothing about existence) and per client (IP address), in a
 * fixed window that opens at the first failure. Once a key reaches its limit, every attempt for
 * it is refused until the window ends, before any password is hashed.
 *
 * Counters live in the memory of one users instance: with several instances behind a balancer an
 * attacker gets at most (instances × limit) attempts per window.
 */

export interface ThrottleLimit {
	/** Failures allowed in one window; 0 disables the limit. */
	max: number;
	windowMs: number;
}

interface Window {
	failures: number;
	endsAt: number;
}

export class FailureCounter {
	private readonly windows = new Map<string, Window>();

	constructor(
		private readonly limit: ThrottleLimit,
		/** Bound on the keys kept, so a flood of distinct keys cannot exhaust memory. */
		private readonly maxKeys = 100_000
	) {}

	/** Milliseconds until `key` may try again; 0 when it may try now. */
	blockedFor(key: string, now = Date.now()): number {
		if (this.limit.max <= 0) return 0;
		const w = this.windows.get(key);
		if (!w) return 0;
		if (w.endsAt <= now) {
			this.windows.delete(key);
			return 0;
		}
		return w.failures >= this.limit.max ? w.endsAt - now : 0;
	}

	/** Count one failure of `key`. */
	fail(key: string, now = Date.now()): void {
		if (this.limit.max <= 0) return;
		const w = this.windows.get(key);
		if (w && w.endsAt > now) {
			w.failures++;
			return;
		}
		this.windows.delete(key);
		if (this.windows.size >= this.maxKeys) this.prune(now);
		this.windows.set(key, { failures: 1, endsAt: now + this.limit.windowMs });
	}

	/** Forget the failures of `key` (after a successful login). */
	clear(key: string): void {
		this.windows.delete(key);
	}

	get size(): number {
		return this.windows.size;
	}

	/** Drop ended windows; if still full, the oldest ones (Map keeps insertion order). */
	private prune(now: number): void {
		for (const [key, w] of this.windows) if (w.endsAt <= now) this.windows.delete(key);
		for (const key of this.windows.keys()) {
			if (this.windows.size < this.maxKeys) break;
			this.windows.delete(key);
		}
	}
}

export interface LoginThrottle {
	account: FailureCounter;
	client: FailureCounter;
}

export function createLoginThrottle(cfg: {
	windowMs: number;
	maxPerAccount: number;
	maxPerClient: number;
}): LoginThrottle {
	return {
		account: new FailureCounter({ max: cfg.maxPerAccount, windowMs: cfg.windowMs }),
		client: new FailureCounter({ max: cfg.maxPerClient, windowMs: cfg.windowMs })
	};
}

/** Milliseconds until a login for this account from this client may be tried; 0 if now. */
export function loginBlockedFor(
	throttle: LoginThrottle,
	email: string,
	client: string | undefined,
	now = Date.now()
): number {
	return Math.max(
		throttle.account.blockedFor(email, now),
		client ? throttle.client.blockedFor(client, now) : 0
	);
}

/** A failed password check of this account from this client. */
export function loginFailed(
	throttle: LoginThrottle,
	email: string,
	client: string | undefined,
	now = Date.now()
): void {
	throttle.account.fail(email, now);
	if (client) throttle.client.fail(client, now);
}
