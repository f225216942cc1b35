/**
 * A service's periodic sweep (expired reservations, stuck sagas, unfinished payment changes):
 * one round every interval, a failed round logged and the next one tried as usual, and the
 * timer never keeps the process alive. Stop it with clearInterval in the service's stopped().
 */
export function startSweep(
	logger: { warn(...args: unknown[]): void },
	name: string,
	intervalMs: number,
	round: () => Promise<unknown>
): NodeJS.Timeout {
	const timer = setInterval(() => {
		round().catch(err => logger.warn(`${name} failed:`, (err as Error).message));
	}, intervalMs);
	timer.unref();
	return timer;
}
