/**
 * Moleculer's memory cacher, with its keys grouped by the service they belong to.
 *
 * A change in a service cleans its cached answers with `clean("<service>.**")`, and the memory
 * cacher tests that pattern against every key it holds. In the embedded default every service
 * shares one cacher: each stock change (two per order) walked the users' cached sessions too, so
 * its cost grew with the number of active users. Here a pattern whose first segment is literal
 * ("inventory.**", "users.resolveSession:*") looks only at the keys of that segment; any other
 * pattern ("**", "*.get") goes the memory cacher's own way. Everything else (TTLs, cloning, locks,
 * metrics) is the memory cacher's.
 */
import { Cachers, METRIC, Utils } from "moleculer";

/** The name CACHER=Memory resolves to (registered with moleculer's cachers). */
export const SCOPED_MEMORY_CACHER = "ScopedMemory";

/** What a key or a pattern starts with, up to its first dot: the service, for action keys. */
const segmentOf = (text: string) => {
	const dot = text.indexOf(".");
	return dot < 0 ? text : text.slice(0, dot);
};

/** A pattern that can only match keys of one segment: a literal first segment and a dot. */
function scopeOf(pattern: string): string | undefined {
	const dot = pattern.indexOf(".");
	if (dot < 0) return undefined;
	const segment = pattern.slice(0, dot);
	return /[*?]/.test(segment) ? undefined : segment;
}

/** The cache's Map, which also keeps its keys by segment (every path that adds or drops one). */
class KeysBySegment<V> extends Map<string, V> {
	readonly bySegment = new Map<string, Set<string>>();

	override set(key: string, value: V): this {
		super.set(key, value);
		const segment = segmentOf(key);
		let keys = this.bySegment.get(segment);
		if (!keys) this.bySegment.set(segment, (keys = new Set()));
		keys.add(key);
		return this;
	}

	override delete(key: string): boolean {
		if (!super.delete(key)) return false;
		const segment = segmentOf(key);
		const keys = this.bySegment.get(segment);
		keys?.delete(key);
		if (keys?.size === 0) this.bySegment.delete(segment);
		return true;
	}

	override clear(): void {
		super.clear();
		this.bySegment.clear();
	}
}

export class ScopedMemoryCacher extends Cachers.Memory {
	constructor(opts?: ConstructorParameters<typeof Cachers.Memory>[0]) {
		super(opts);
		(this as unknown as { cache: KeysBySegment<unknown> }).cache = new KeysBySegment();
	}

	override clean(match: string | string[] = "**"): Promise<void> {
		const patterns = Array.isArray(match) ? match : [match];
		const scopes = patterns.map(scopeOf);
		if (scopes.some(scope => scope === undefined)) return super.clean(match);

		const self = this as unknown as {
			cache: KeysBySegment<unknown>;
			metrics: { increment(name: string): void; timer(name: string): () => void };
			logger: { debug(...args: unknown[]): void };
		};
		self.metrics.increment(METRIC.MOLECULER_CACHER_CLEAN_TOTAL);
		const timeEnd = self.metrics.timer(METRIC.MOLECULER_CACHER_CLEAN_TIME);
		self.logger.debug(`CLEAN ${patterns.join(", ")}`);
		patterns.forEach((pattern, i) => {
			const keys = self.cache.bySegment.get(scopes[i]!);
			// Deleting the current key while iterating its Set is safe.
			for (const key of keys ?? [])
				if (Utils.match(key, pattern)) {
					self.logger.debug(`REMOVE ${key}`);
					self.cache.delete(key);
				}
		});
		timeEnd();
		return Promise.resolve();
	}
}

(Cachers as unknown as { register(name: string, cacher: unknown): void }).register(
	SCOPED_MEMORY_CACHER,
	ScopedMemoryCacher
);
