import { Errors } from "moleculer";
import {
	compensationsFor,
	recoveryPlan,
	runPlacementSaga,
	type SagaSteps
} from "../../../services/orders/order-saga";

/** Fake steps that record what ran; `fail` makes one step throw the given error. */
function fakeSteps(fail: Partial<Record<keyof SagaSteps, Error>> = {}) {
	const calls: string[] = [];
	const step =
		(name: keyof SagaSteps, result: unknown = { ok: name }) =>
		async () => {
			calls.push(name);
			if (fail[name]) throw fail[name];
			return result;
		};
	const steps: SagaSteps = {
		reserve: step("reserve"),
		authorize: step("authorize", { brand: "visa", last4: "4242" }),
		capture: step("capture"),
		commit: step("commit"),
		release: step("release"),
		cancelPayment: step("cancelPayment")
	};
	return { steps, calls };
}

const declined = () => new Errors.MoleculerClientError("declined", 402, "CARD_DECLINED");
const outOfStock = () => new Errors.MoleculerClientError("out", 409, "OUT_OF_STOCK");
const unavailable = () => new Errors.ServiceNotAvailableError({ action: "payments.capture" });
const timeout = () => new Errors.RequestTimeoutError({ action: "payments.capture", nodeID: "n" });

describe("placement saga", () => {
	it("runs reserve, authorize, capture, commit in order and keeps the card's brand", async () => {
		const { steps, calls } = fakeSteps();
		const out = await runPlacementSaga(steps);
		expect(out).toEqual({ ok: true, payment: { brand: "visa", last4: "4242" } });
		expect(calls).toEqual(["reserve", "authorize", "capture", "commit"]);
	});

	it("stops at out of stock with nothing to undo", async () => {
		const { steps, calls } = fakeSteps({ reserve: outOfStock() });
		const out = await runPlacementSaga(steps);
		expect(out).toMatchObject({
			ok: false,
			failedStep: "reserve",
			error: { type: "OUT_OF_STOCK", code: 409 }
		});
		expect(calls).toEqual(["reserve"]);
	});

	it("releases the reservation when the card is declined", async () => {
		const { steps, calls } = fakeSteps({ authorize: declined() });
		const out = await runPlacementSaga(steps);
		expect(out).toMatchObject({
			ok: false,
			failedStep: "authorize",
			error: { type: "CARD_DECLINED" },
			pendingCompensations: []
		});
		expect(calls).toEqual(["reserve", "authorize", "release"]);
	});

	it("voids the payment and releases stock when capture is unreachable", async () => {
		const { steps, calls } = fakeSteps({ capture: unavailable() });
		const out = await runPlacementSaga(steps);
		expect(out).toMatchObject({ ok: false, failedStep: "capture" });
		expect(calls).toEqual(["reserve", "authorize", "capture", "cancelPayment", "release"]);
	});

	it("reports compensations that failed so they are retried later", async () => {
		const { steps } = fakeSteps({ capture: timeout(), release: unavailable() });
		const out = await runPlacementSaga(steps);
		expect(out).toMatchObject({ ok: false, pendingCompensations: ["release"] });
	});

	it("compensates a step that may have run despite an infrastructure error", () => {
		expect(
			compensationsFor("reserve", { message: "", code: 504, type: "REQUEST_TIMEOUT" })
		).toEqual(["release"]);
		expect(
			compensationsFor("reserve", { message: "", code: 409, type: "OUT_OF_STOCK" })
		).toEqual([]);
		expect(
			compensationsFor("authorize", { message: "", code: 402, type: "CARD_DECLINED" })
		).toEqual(["release"]);
		expect(
			compensationsFor("authorize", { message: "", code: 503, type: "SERVICE_NOT_AVAILABLE" })
		).toEqual(["cancelPayment", "release"]);
		expect(
			compensationsFor("commit", { message: "", code: 409, type: "RESERVATION_NOT_FOUND" })
		).toEqual(["cancelPayment", "release"]);
	});
});

describe("recovery of a stuck saga", () => {
	it("resumes from capture on, and runs only the steps left", async () => {
		expect(recoveryPlan("capture")).toEqual({ resumeFrom: "capture" });
		expect(recoveryPlan("commit")).toEqual({ resumeFrom: "capture" });
		const { steps, calls } = fakeSteps();
		const outcome = await runPlacementSaga(steps, "capture");
		expect(outcome.ok).toBe(true);
		expect(calls).toEqual(["capture", "commit"]);
	});

	it("compensates whole before capture: the authorization may exist or not", () => {
		expect(recoveryPlan("reserve")).toEqual({ compensate: ["cancelPayment", "release"] });
		expect(recoveryPlan("authorize")).toEqual({ compensate: ["cancelPayment", "release"] });
	});

	it("compensates a resumed saga whose capture is refused", async () => {
		const { steps, calls } = fakeSteps({ capture: declined() });
		const outcome = await runPlacementSaga(steps, "capture");
		expect(outcome).toMatchObject({
			ok: false,
			failedStep: "capture",
			pendingCompensations: []
		});
		expect(calls).toEqual(["capture", "cancelPayment", "release"]);
	});
});
