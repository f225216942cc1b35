/**
 * The order placement saga: reserve stock -> authorize -> capture -> commit reservation.
 *
 * Any failing step compensates the steps before it (release the reservation, void or refund the
 * payment). Every step and every compensation is idempotent per order on the other side, so the
 * saga can be resumed or compensated again after a crash. The steps are injected, so the saga is
 * tested without a broker.
 */

export type SagaStep = "reserve" | "authorize" | "capture" | "commit";
export type Compensation = "release" | "cancelPayment";

export interface SagaSteps {
	reserve(): Promise<unknown>;
	authorize(): Promise<{ brand?: string; last4?: string } | unknown>;
	capture(): Promise<unknown>;
	commit(): Promise<unknown>;
	/** Return reserved stock. Safe when nothing is reserved. */
	release(): Promise<unknown>;
	/** Void an authorization, or refund a capture. Safe when there is no payment. */
	cancelPayment(): Promise<unknown>;
	/** Called before each step, e.g. to persist progress. */
	onStep?(step: SagaStep): Promise<void>;
}

export type SagaOutcome =
	| { ok: true; payment: unknown }
	| {
			ok: false;
			failedStep: SagaStep;
			error: SagaError;
			/** Compensations that failed and must be retried later. */
			pendingCompensations: Compensation[];
	  };

export interface SagaError {
	message: string;
	code: number;
	type: string;
	data?: unknown;
}

/** A business refusal (4xx) is final; anything else may mean the step ran on the other side. */
export function isBusinessError(err: SagaError): boolean {
	return err.code >= 400 && err.code < 500;
}

/**
 * What must be undone when `failed` failed with `err`. A step that failed for infrastructure
 * reasons (timeout, unavailable) may still have run, so it is compensated too.
 */
export function compensationsFor(failed: SagaStep, err: SagaError): Compensation[] {
	const ranAnyway = !isBusinessError(err);
	const done: SagaStep[] = ["reserve", "authorize", "capture", "commit"].slice(
		0,
		["reserve", "authorize", "capture", "commit"].indexOf(failed) + (ranAnyway ? 1 : 0)
	) as SagaStep[];
	const out: Compensation[] = [];
	// Undo in reverse order: money first, then stock.
	if (done.includes("authorize") || done.includes("capture")) out.push("cancelPayment");
	if (done.includes("reserve")) out.push("release");
	return out;
}

export function toSagaError(err: unknown): SagaError {
	const e = (err ?? {}) as { message?: string; code?: unknown; type?: unknown; data?: unknown };
	return {
		message: e.message ?? "Unknown error",
		code: typeof e.code === "number" ? e.code : 500,
		type: typeof e.type === "string" ? e.type : "INTERNAL_ERROR",
		data: e.data
	};
}

const STEPS: SagaStep[] = ["reserve", "authorize", "capture", "commit"];

/** Run the saga from `from` on (the steps before it are done: a resumed saga). */
export async function runPlacementSaga(
	steps: SagaSteps,
	from: SagaStep = "reserve"
): Promise<SagaOutcome> {
	let payment: unknown;
	for (const step of STEPS.slice(STEPS.indexOf(from))) {
		try {
			await steps.onStep?.(step);
			const result = await steps[step]();
			if (step === "authorize") payment = result;
		} catch (err) {
			const error = toSagaError(err);
			const pendingCompensations = await compensate(steps, compensationsFor(step, error));
			return { ok: false, failedStep: step, error, pendingCompensations };
		}
	}
	return { ok: true, payment };
}

/**
 * What the recovery sweep does with a saga found stuck at `step` (the last step it wrote): from
 * capture on the customer's money may have moved, so the saga is resumed there; before it, the
 * saga is compensated whole (the authorization may or may not exist: voiding is safe either way).
 */
export function recoveryPlan(
	step: SagaStep | "done"
): { resumeFrom: SagaStep } | { compensate: Compensation[] } {
	if (step === "capture" || step === "commit") return { resumeFrom: "capture" };
	return { compensate: ["cancelPayment", "release"] };
}

/** Run compensations; the ones that fail are returned to be retried later. */
export async function compensate(steps: SagaSteps, todo: Compensation[]): Promise<Compensation[]> {
	const failed: Compensation[] = [];
	for (const c of todo) {
		try {
			await steps[c]();
		} catch {
			failed.push(c);
		}
	}
	return failed;
}
