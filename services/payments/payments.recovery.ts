/**
 * Payments' recovery sweep: finishes the capture, void and refund operations that callers left
 * (a crash, a processor failure) under their own idempotency keys (operations.ts). It reads
 * through the sparse index on operation.lockedUntil, which holds only payments with one.
 */
import type { PaymentsThis } from "./payments.service";

/** Payments taken per round; the next round takes the rest. */
const SWEEP_BATCH = 100;

export const RecoveryMethods = {
	/** Finish the operations that callers left; how many this round finished. */
	async recoverOperations(this: PaymentsThis): Promise<number> {
		let finished = 0;
		for (const doc of await this.operationsLeft(SWEEP_BATCH)) {
			try {
				if (await this.resumeOperation(doc)) finished++;
			} catch (err) {
				this.logger.warn(
					`Order ${doc.orderId}: an unfinished payment change is still failing (${(err as Error).message})`
				);
			}
		}
		return finished;
	}
};
