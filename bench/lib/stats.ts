/** Small pure helpers for figures. */

/** The p-th percentile (nearest rank) of ascending-sorted values; NaN when there are none. */
export function percentile(sorted: readonly number[], p: number): number {
	if (sorted.length === 0) return NaN;
	const rank = Math.ceil((p / 100) * sorted.length);
	return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

/** a / b, or undefined when either is missing or b is zero. */
export function ratio(a: number | undefined, b: number | undefined): number | undefined {
	if (a == null || b == null || !Number.isFinite(a) || !Number.isFinite(b) || b === 0)
		return undefined;
	return a / b;
}
