/**
 * Login throttling: failed password checks counted per account (normalized email, whether it
 * exists or not, so throttling tells nothing about existence) and per client (IP address), in a
 * fixed window that opens at the first failure. Once a key reaches its limit, every attempt for
 * it is refused until the window ends, before any password is hashed.
 *
 * The counters live in users' own database (the `loginFailures` collection), not in a process:
 * every users instance on the same database (one SQLite file on a host, one MongoDB across
 * hosts) counts against one budget. Each counter is one document, `{ _id, failures, endsAt }`,
 * changed only by conditional atomic updates (the db mixin's `updateOne`): a failure inside the
 * window increments it, one after the window restarts it, and the first failure of a key inserts
 * it (a concurrent insert of the same key loses on the unique `_id` and counts again). A counter
 * whose window ended counts for nothing, and the sweep removes such documents (through the index
 * on `endsAt`), so the collection holds only the keys of the current window.
 *
 * Keys are stored hashed (SHA-256): the collection never holds the emails or addresses tried.
 */
import { createHash } from "node:crypto";
import { isDuplicateKeyError, type Store } from "../../platform/persistence/db.mixin";

export interface ThrottleLimit {
	/** Failures allowed in one window; 0 disables the limit. */
	max: number;
	windowMs: number;
}

/** The collection of the counters and its index (for DbMixin's `stores`). */
export const LOGIN_FAILURES_STORE = "loginFailures";
export const LOGIN_FAILURES_INDEXES = [{ field: "endsAt" }];

type UpdateOne = (
	store: Store,
	query: Record<string, unknown>,
	update: Record<string, unknown>
) => Promise<unknown>;

interface CounterDoc {
	_id: string;
	failures: number;
	endsAt: number;
}

/** Conditional updates that lose a race are tried again this many times. */
const MAX_ATTEMPTS = 5;

export class FailureCounter {
	constructor(
		private readonly kind: "account" | "client",
		private readonly limit: ThrottleLimit,
		private readonly store: () => Store,
		private readonly updateOne: UpdateOne
	) {}

	private id(key: string): string {
		return `${this.kind}:${createHash("sha256").update(key).digest("base64url")}`;
	}

	/** Milliseconds until `key` may try again; 0 when it may try now. */
	async blockedFor(key: string, now = Date.now()): Promise<number> {
		if (this.limit.max <= 0) return 0;
		const doc = (await this.store().findOne({ _id: this.id(key) })) as CounterDoc | null;
		if (!doc || doc.endsAt <= now) return 0;
		return doc.failures >= this.limit.max ? doc.endsAt - now : 0;
	}

	/** Count one failure of `key`. */
	async fail(key: string, now = Date.now()): Promise<void> {
		if (this.limit.max <= 0) return;
		const _id = this.id(key);
		const endsAt = now + this.limit.windowMs;
		const store = this.store();
		for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
			if (
				await this.updateOne(
					store,
					{ _id, endsAt: { $gt: now } },
					{ $inc: { failures: 1 } }
				)
			)
				return;
			if (
				await this.updateOne(
					store,
					{ _id, endsAt: { $lte: now } },
					{ $set: { failures: 1, endsAt } }
				)
			)
				return;
			try {
				await store.insert({ _id, failures: 1, endsAt });
				return;
			} catch (err) {
				// Another instance counted this key's first failure meanwhile: count on it.
				if (!isDuplicateKeyError(err)) throw err;
			}
		}
	}

	/** Forget the failures of `key` (after a successful login). */
	async clear(key: string): Promise<void> {
		if (this.limit.max <= 0) return;
		await this.store().removeMany({ _id: this.id(key) });
	}

	/** Remove the counters whose window has ended; how many. */
	async sweep(now = Date.now()): Promise<number> {
		return this.store().removeMany({ endsAt: { $lte: now } });
	}
}

export interface LoginThrottle {
	account: FailureCounter;
	client: FailureCounter;
	/** Remove every ended counter (both kinds share the collection). */
	sweep(now?: number): Promise<number>;
}

export function createLoginThrottle(
	cfg: { windowMs: number; maxPerAccount: number; maxPerClient: number },
	store: () => Store,
	updateOne: UpdateOne
): LoginThrottle {
	const account = new FailureCounter(
		"account",
		{ max: cfg.maxPerAccount, windowMs: cfg.windowMs },
		store,
		updateOne
	);
	return {
		account,
		client: new FailureCounter(
			"client",
			{ max: cfg.maxPerClient, windowMs: cfg.windowMs },
			store,
			updateOne
		),
		sweep: now => account.sweep(now)
	};
}

/** Milliseconds until a login for this account from this client may be tried; 0 if now. */
export async function loginBlockedFor(
	throttle: LoginThrottle,
	email: string,
	client: string | undefined,
	now = Date.now()
): Promise<number> {
	const [account, fromClient] = await Promise.all([
		throttle.account.blockedFor(email, now),
		client ? throttle.client.blockedFor(client, now) : 0
	]);
	return Math.max(account, fromClient);
}

/** A failed password check of this account from this client. */
export async function loginFailed(
	throttle: LoginThrottle,
	email: string,
	client: string | undefined,
	now = Date.now()
): Promise<void> {
	await Promise.all([
		throttle.account.fail(email, now),
		client ? throttle.client.fail(client, now) : undefined
	]);
}
