/**
 * Writes coalesced per event-loop turn. Node runs each socket's read callback, and the promise
 * jobs it starts, to the end before it reads the next socket, so a node that writes at once sends
 * one small write per request it read: one HTTP answer, one NATS message. Each such write pays
 * the system call and, over loopback or to a process on the same host, the wake-up of the reader
 * on the other side (a sleeping autocannon, nats-server, a sidecar proxy): under load that cost
 * was as large as the request's whole own work. Deferred to the check phase (setImmediate), the
 * writes for everything read in one poll phase go out back to back: the reader wakes once for
 * the batch, and the NATS client flushes the whole batch in one write. An idle node loses nothing:
 * the check phase follows the poll phase in the same turn.
 */

/** How a deferred write that has a result settles its caller's promise. */
export type Outcome = { resolve: () => void; reject: (err: unknown) => void };

/** Queues one write (its arguments) for the end of the current turn. */
export type Coalesced<A extends unknown[]> = (...args: A) => void;

/**
 * `write` deferred to the check phase of the current turn, in order. A write that throws does not
 * stop the others: its error goes to `onError` (never to the event loop, which would crash the
 * process).
 */
export function coalesce<A extends unknown[]>(
	write: (...args: A) => void,
	onError: (err: unknown, ...args: A) => void
): Coalesced<A> {
	let queue: A[] = [];
	const flush = () => {
		const batch = queue;
		queue = [];
		for (const args of batch) {
			try {
				write(...args);
			} catch (err) {
				onError(err, ...args);
			}
		}
	};
	return (...args: A) => {
		if (queue.push(args) === 1) setImmediate(flush);
	};
}
