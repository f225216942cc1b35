import { PAYMENT_STATUSES, type PaymentStatus } from "../../../contracts/statuses";
import {
	canTransition,
	isTerminal,
	operationKey,
	operationOutcome,
	statusAfterRefund,
	toPayment,
	wasCaptured,
	type PaymentDoc
} from "../../../services/payments/payment-state";

describe("payment state machine", () => {
	const legal: [PaymentStatus, PaymentStatus][] = [
		["pending", "authorized"],
		["pending", "declined"],
		["pending", "voided"],
		["authorized", "captured"],
		["authorized", "voided"],
		["captured", "partially_refunded"],
		["captured", "refunded"],
		["partially_refunded", "partially_refunded"],
		["partially_refunded", "refunded"]
	];

	it.each(legal)("allows %s -> %s", (from, to) => {
		expect(canTransition(from, to)).toBe(true);
	});

	it("refuses every other transition", () => {
		for (const from of PAYMENT_STATUSES)
			for (const to of PAYMENT_STATUSES)
				if (!legal.some(([f, t]) => f === from && t === to))
					expect([from, to, canTransition(from, to)]).toEqual([from, to, false]);
	});

	it("cannot void a capture or capture a void", () => {
		expect(canTransition("captured", "voided")).toBe(false);
		expect(canTransition("voided", "captured")).toBe(false);
		expect(canTransition("declined", "authorized")).toBe(false);
	});

	it("knows the terminal states", () => {
		expect(PAYMENT_STATUSES.filter(isTerminal)).toEqual(["refunded", "voided", "declined"]);
	});

	it("knows which statuses hold captured money", () => {
		expect(PAYMENT_STATUSES.filter(wasCaptured)).toEqual([
			"captured",
			"partially_refunded",
			"refunded"
		]);
	});
});

describe("statusAfterRefund", () => {
	it("is refunded only once the whole capture is back", () => {
		expect(statusAfterRefund(10_000, 1)).toBe("partially_refunded");
		expect(statusAfterRefund(10_000, 9_999)).toBe("partially_refunded");
		expect(statusAfterRefund(10_000, 10_000)).toBe("refunded");
	});
});

describe("operationKey", () => {
	it("is one key per payment and change, and per refund", () => {
		expect(operationKey("capture", "o1")).toBe("capture:o1");
		expect(operationKey("void", "o1")).toBe("void:o1");
		expect(operationKey("refund", "o1", "r1")).toBe("refund:o1:r1");
		const keys = [
			operationKey("capture", "o1"),
			operationKey("capture", "o2"),
			operationKey("void", "o1"),
			operationKey("refund", "o1", "r1"),
			operationKey("refund", "o1", "r2"),
			operationKey("refund", "o2", "r1")
		];
		expect(new Set(keys).size).toBe(keys.length);
	});
});

describe("operationOutcome", () => {
	const authorized = {
		status: "authorized",
		amountCents: 5_000,
		capturedCents: 0,
		refundedCents: 0
	} as const;
	const captured = {
		status: "captured",
		amountCents: 5_000,
		capturedCents: 5_000,
		refundedCents: 1_000
	} as const;
	const refund = (amountCents: number) => ({
		kind: "refund" as const,
		key: "k",
		lockedUntil: 0,
		refund: { refundId: "r", amountCents }
	});

	it("captures the authorized amount", () => {
		expect(operationOutcome(authorized, { kind: "capture", key: "k", lockedUntil: 0 })).toEqual(
			{
				status: "captured",
				capturedCents: 5_000,
				refundedCents: 0
			}
		);
	});

	it("voids without touching the amounts", () => {
		expect(operationOutcome(authorized, { kind: "void", key: "k", lockedUntil: 0 })).toEqual({
			status: "voided",
			capturedCents: 0,
			refundedCents: 0
		});
	});

	it("adds a refund to the refunded total, refunded once all is back", () => {
		expect(operationOutcome(captured, refund(1_000))).toEqual({
			status: "partially_refunded",
			capturedCents: 5_000,
			refundedCents: 2_000
		});
		expect(operationOutcome(captured, refund(4_000))).toEqual({
			status: "refunded",
			capturedCents: 5_000,
			refundedCents: 5_000
		});
	});
});

describe("toPayment", () => {
	const doc: PaymentDoc = {
		_id: "p1",
		orderId: "o1",
		userId: "u1",
		status: "captured",
		amountCents: 1234,
		currency: "EUR",
		capturedCents: 1234,
		refundedCents: 0,
		brand: "visa",
		last4: "4242",
		authorizationId: "sim_secret",
		refunds: [],
		history: [{ status: "authorized", at: "2030-01-01T00:00:00.000Z" }],
		lockedUntil: 42,
		operation: {
			kind: "refund",
			key: "refund:o1:r1",
			lockedUntil: 0,
			refund: { refundId: "r1", amountCents: 1 }
		},
		createdAt: "2030-01-01T00:00:00.000Z",
		updatedAt: "2030-01-01T00:00:00.000Z"
	};

	it("shows id instead of _id and hides the processor's reference, the lock and the operation", () => {
		const payment = toPayment(doc);
		expect(payment).toMatchObject({
			id: "p1",
			orderId: "o1",
			status: "captured",
			last4: "4242"
		});
		expect(payment).not.toHaveProperty("_id");
		expect(payment).not.toHaveProperty("authorizationId");
		expect(payment).not.toHaveProperty("lockedUntil");
		expect(payment).not.toHaveProperty("operation");
		expect(payment).not.toHaveProperty("declineCode");
	});

	it("keeps the decline code of a declined payment", () => {
		expect(
			toPayment({ ...doc, status: "declined", declineCode: "INSUFFICIENT_FUNDS" }).declineCode
		).toBe("INSUFFICIENT_FUNDS");
	});
});
