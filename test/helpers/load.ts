/**
 * Bounded load for fault tests: `concurrency` loops of requests for `durationMs`, every answer
 * recorded with when it started and how long it took. The loops go through the gateways in turn,
 * as a load balancer would, and (as one does) send a request again to the next gateway when the
 * connection to the first one broke: refused or reset, which only a dead gateway causes here.
 */
import { api } from "./cluster";

export interface Answer {
	what: string;
	status: number;
	type?: string;
	/** Since the load started. */
	startedAt: number;
	ms: number;
	node?: string;
}

export class Gateways {
	private next = 0;
	constructor(readonly bases: string[]) {}

	/** `request` through the next gateway; through the following one when the first is down. */
	async send(request: (base: string) => ReturnType<typeof api>) {
		const first = this.next++ % this.bases.length;
		for (let i = 0; ; i++) {
			try {
				return await request(this.bases[(first + i) % this.bases.length]);
			} catch (err) {
				if (i + 1 >= this.bases.length) throw err;
			}
		}
	}
}

export async function runLoad(opts: {
	gateways: Gateways;
	concurrency: number;
	durationMs: number;
	/** The i-th request of the load: a label and how to send it through a gateway. */
	request: (i: number) => { what: string; send: (base: string) => ReturnType<typeof api> };
	/** Called once, `atMs` after the load started. */
	fault?: { atMs: number; run: () => Promise<unknown> };
}): Promise<{ answers: Answer[]; faultAt?: number; faultDoneAt?: number }> {
	const answers: Answer[] = [];
	const t0 = Date.now();
	let n = 0;
	let faultAt: number | undefined;
	let faultDoneAt: number | undefined;
	const faulting = opts.fault
		? new Promise<void>(resolve =>
				setTimeout(async () => {
					faultAt = Date.now() - t0;
					await opts.fault!.run();
					faultDoneAt = Date.now() - t0;
					resolve();
				}, opts.fault!.atMs)
			)
		: Promise.resolve();
	const loop = async () => {
		while (Date.now() - t0 < opts.durationMs) {
			const { what, send } = opts.request(n++);
			const startedAt = Date.now() - t0;
			try {
				const res = await opts.gateways.send(send);
				answers.push({
					what,
					status: res.status,
					type: res.body?.type,
					startedAt,
					ms: Date.now() - t0 - startedAt,
					node: res.headers["x-node-id"] as string | undefined
				});
			} catch (err) {
				answers.push({
					what,
					status: 0,
					type: (err as Error).message,
					startedAt,
					ms: Date.now() - t0 - startedAt
				});
			}
		}
	};
	await Promise.all([...Array.from({ length: opts.concurrency }, loop), faulting]);
	return { answers, faultAt, faultDoneAt };
}

/** One line per kind of answer, for a failing test's message. */
export function summary(answers: Answer[]): string {
	const kinds = new Map<string, { n: number; maxMs: number }>();
	for (const a of answers) {
		const key = `${a.what} ${a.status} ${a.type ?? ""}`;
		const k = kinds.get(key) ?? { n: 0, maxMs: 0 };
		k.n++;
		k.maxMs = Math.max(k.maxMs, a.ms);
		kinds.set(key, k);
	}
	return [...kinds].map(([key, k]) => `${key}: ${k.n}, slowest ${k.maxMs} ms`).join("\n");
}
