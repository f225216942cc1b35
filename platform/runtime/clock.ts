/**
 * The current time as an ISO 8601 string: every document and event of the shop keeps its times in
 * this form. V8 formats a date through the C library (`snprintf`), about half a microsecond, and an
 * order stamps a few dozen times, most of them within the same millisecond as the one before: the
 * string of the current millisecond is kept.
 */
let lastMs = Number.NaN;
let lastIso = "";

export function nowIso(): string {
	const ms = Date.now();
	if (ms !== lastMs) {
		lastMs = ms;
		lastIso = new Date(ms).toISOString();
	}
	return lastIso;
}
