import { ServiceBroker, type ServiceSchema } from "moleculer";
import { captureEmits } from "../../helpers/emitted";
import PaymentsService from "../../../services/payments/payments.service";
import { TEST_CARDS } from "../../../services/payments/processor";

const broker = new ServiceBroker({ logger: false });
const svc = broker.createService(PaymentsService as unknown as ServiceSchema) as any;

const emitted = captureEmits(broker);
// What an earlier test left for the relay's next round (an authorization's event) is not this one's.
beforeEach(() => forgetEvents());

/** Relay what waits for the relay's next round, then forget every event so far. */
async function forgetEvents() {
	await svc.relayPendingOutboxes();
	emitted.length = 0;
}

beforeAll(() => broker.start());
afterAll(() => broker.stop());

const CVC = "987";
const nextYear = new Date().getUTCFullYear() + 1;
const card = (number: string = TEST_CARDS.success) => ({
	number,
	expMonth: 12,
	expYear: nextYear,
	cvc: CVC
});

let n = 0;
const newOrderId = () => `order-${++n}-${Date.now()}`;

const authorize = (orderId: string, extra: Record<string, unknown> = {}) =>
	broker.call<any, any>("payments.authorize", {
		orderId,
		userId: "user-1",
		amountCents: 10_000,
		currency: "EUR",
		card: card(),
		...extra
	});
const capture = (orderId: string) => broker.call<any, any>("payments.capture", { orderId });
const voidPayment = (orderId: string) => broker.call<any, any>("payments.void", { orderId });
const refund = (orderId: string, extra: Record<string, unknown> = {}) =>
	broker.call<any, any>("payments.refund", { orderId, ...extra });
const stored = async (orderId: string) => svc.adapter.findOne({ orderId });
const forOrder = (orderId: string) => broker.call<any, any>("payments.forOrder", { orderId });

async function captured(amountCents = 10_000) {
	const orderId = newOrderId();
	await authorize(orderId, { amountCents });
	await capture(orderId);
	await forgetEvents();
	return orderId;
}

/** The events published so far, the relay's next round included. */
async function names() {
	await svc.relayPendingOutboxes();
	return emitted.map(e => e.name);
}

/** Run `fn` with calls waiting at most 100 ms for a change in progress (then 503); restored after. */
async function withShortPendingWait(fn: () => Promise<void>) {
	const wait = svc.settings.pendingWaitMs;
	svc.settings.pendingWaitMs = 100;
	try {
		await fn();
	} finally {
		svc.settings.pendingWaitMs = wait;
	}
}

describe("authorize", () => {
	it("authorizes a good card and keeps only brand and last4", async () => {
		const orderId = newOrderId();
		const payment = await authorize(orderId);
		expect(payment).toMatchObject({
			id: expect.any(String),
			orderId,
			userId: "user-1",
			status: "authorized",
			amountCents: 10_000,
			currency: "EUR",
			capturedCents: 0,
			refundedCents: 0,
			brand: "visa",
			last4: "4242"
		});
		expect(payment).not.toHaveProperty("authorizationId");
		expect(payment.history.map((h: any) => h.status)).toEqual(["pending", "authorized"]);
		expect(await names()).toEqual(["payment.authorized"]);
		expect(emitted[0].payload).toMatchObject({
			paymentId: payment.id,
			orderId,
			userId: "user-1",
			amountCents: 10_000,
			currency: "EUR",
			status: "authorized",
			eventId: expect.any(String)
		});
	});

	it("declines 4000000000000002 with 402 CARD_DECLINED and records it", async () => {
		const orderId = newOrderId();
		await expect(authorize(orderId, { card: card(TEST_CARDS.declined) })).rejects.toMatchObject(
			{
				code: 402,
				type: "CARD_DECLINED",
				data: { orderId }
			}
		);
		expect(await stored(orderId)).toMatchObject({
			status: "declined",
			declineCode: "CARD_DECLINED"
		});
		expect(await names()).toEqual(["payment.declined"]);
		expect(emitted[0].payload).toMatchObject({ orderId, reason: "CARD_DECLINED" });
	});

	it("declines 4000000000009995 with 402 INSUFFICIENT_FUNDS", async () => {
		const orderId = newOrderId();
		await expect(
			authorize(orderId, { card: card(TEST_CARDS.insufficientFunds) })
		).rejects.toMatchObject({ code: 402, type: "INSUFFICIENT_FUNDS", data: { orderId } });
		expect((await stored(orderId)).declineCode).toBe("INSUFFICIENT_FUNDS");
	});

	it("refuses a Luhn-invalid or malformed number with 422 INVALID_CARD and stores nothing", async () => {
		for (const number of ["4242424242424241", "4242 4242", "4242-4242-4242-424x"]) {
			const orderId = newOrderId();
			const err = await authorize(orderId, { card: card(number) }).catch(e => e);
			expect(err).toMatchObject({
				code: 422,
				type: "INVALID_CARD",
				data: [{ type: "luhn", field: "payment.cardNumber", message: expect.any(String) }]
			});
			expect(JSON.stringify(err.data)).not.toContain(number);
			expect(await broker.call("payments.forOrder", { orderId })).toBeNull();
		}
		expect(emitted).toEqual([]);
	});

	it("refuses an expired card with 422 INVALID_CARD on payment.expYear", async () => {
		const now = new Date();
		const lastMonth = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 1));
		const orderId = newOrderId();
		await expect(
			authorize(orderId, {
				card: {
					...card(),
					expMonth: lastMonth.getUTCMonth() + 1,
					expYear: lastMonth.getUTCFullYear()
				}
			})
		).rejects.toMatchObject({
			code: 422,
			type: "INVALID_CARD",
			data: [{ type: "expired", field: "payment.expYear" }]
		});
		// A card expiring this month is still good.
		const thisMonth = await authorize(newOrderId(), {
			card: { ...card(), expMonth: now.getUTCMonth() + 1, expYear: now.getUTCFullYear() }
		});
		expect(thisMonth.status).toBe("authorized");
	});

	it("never echoes the card number or the CVC in a validation error", async () => {
		const err = await authorize(newOrderId(), {
			card: { number: 4242424242424242, expMonth: 12, expYear: nextYear, cvc: "98x" }
		}).catch(e => e);
		expect(err).toMatchObject({ code: 422, type: "VALIDATION_ERROR" });
		expect(err.data.map((d: any) => d.field).sort()).toEqual(["card.cvc", "card.number"]);
		const text = JSON.stringify(err.data);
		expect(text).not.toContain("4242424242424242");
		expect(text).not.toContain("98x");
	});

	it("is idempotent per order: twice gives one payment with the same id", async () => {
		const orderId = newOrderId();
		const first = await authorize(orderId);
		const second = await authorize(orderId);
		expect(second.id).toBe(first.id);
		expect(second.status).toBe("authorized");
		expect(await svc.adapter.count({ query: { orderId } })).toBe(1);
		expect(await names()).toEqual(["payment.authorized"]);
	});

	it("is idempotent for concurrent calls of the same order", async () => {
		const orderId = newOrderId();
		const results = await Promise.all([
			authorize(orderId),
			authorize(orderId),
			authorize(orderId)
		]);
		expect(new Set(results.map(r => r.id)).size).toBe(1);
		expect(results.every(r => r.status === "authorized")).toBe(true);
		expect(await svc.adapter.count({ query: { orderId } })).toBe(1);
		expect(await names()).toEqual(["payment.authorized"]);
	});

	it("answers a retry of a declined payment with the same 402", async () => {
		const orderId = newOrderId();
		const cardDetails = card(TEST_CARDS.insufficientFunds);
		await expect(authorize(orderId, { card: cardDetails })).rejects.toMatchObject({
			code: 402
		});
		await expect(authorize(orderId, { card: cardDetails })).rejects.toMatchObject({
			code: 402,
			type: "INSUFFICIENT_FUNDS",
			data: { orderId }
		});
		expect(await svc.adapter.count({ query: { orderId } })).toBe(1);
		expect(await names()).toEqual(["payment.declined"]);
	});

	it("refuses a retry with other details with 409 IDEMPOTENCY_CONFLICT", async () => {
		const orderId = newOrderId();
		await authorize(orderId);
		await expect(authorize(orderId, { amountCents: 1 })).rejects.toMatchObject({
			code: 409,
			type: "IDEMPOTENCY_CONFLICT"
		});
		await expect(authorize(orderId, { userId: "someone-else" })).rejects.toMatchObject({
			code: 409
		});
	});

	it("lets a retry finish an authorization whose processor call failed", async () => {
		const orderId = newOrderId();
		const spy = jest
			.spyOn(svc.processor, "authorize")
			.mockRejectedValueOnce(new Error("connection reset"));
		try {
			await expect(authorize(orderId)).rejects.toMatchObject({
				code: 503,
				type: "SERVICE_UNAVAILABLE"
			});
			expect((await stored(orderId)).status).toBe("pending");
			const retried = await authorize(orderId);
			expect(retried.status).toBe("authorized");
			expect(spy).toHaveBeenCalledTimes(2);
			expect(spy.mock.calls[0][0]).toMatchObject({ idempotencyKey: orderId });
			expect(spy.mock.calls[1][0]).toMatchObject({ idempotencyKey: orderId });
		} finally {
			spy.mockRestore();
		}
	});

	it("takes over at once a pending payment whose node is gone, though its lease runs", async () => {
		const orderId = newOrderId();
		const spy = jest
			.spyOn(svc.processor, "authorize")
			.mockRejectedValueOnce(new Error("connection reset"));
		const leasedBy = (node: string) =>
			svc.adapter.updateMany(
				{ orderId },
				{ $set: { lockedUntil: Date.now() + 60_000, lockedBy: node } }
			);
		await withShortPendingWait(async () => {
			await expect(authorize(orderId)).rejects.toMatchObject({ code: 503 });
			// Held by a node that is alive (this one): waited for, then 503.
			await leasedBy(broker.nodeID);
			await expect(authorize(orderId)).rejects.toMatchObject({
				code: 503,
				type: "SERVICE_UNAVAILABLE"
			});
			expect(spy).toHaveBeenCalledTimes(1);
			// Held by a node no longer in the cluster: finished here, under the same key.
			await leasedBy("payments-gone");
			expect((await authorize(orderId)).status).toBe("authorized");
			expect(spy).toHaveBeenCalledTimes(2);
			expect(spy.mock.calls[1][0]).toMatchObject({ idempotencyKey: orderId });
			expect(await stored(orderId)).not.toHaveProperty("lockedBy");
		}).finally(() => spy.mockRestore());
	});

	it("voids a late authorization when the order voided the pending payment meanwhile", async () => {
		const orderId = newOrderId();
		let answer!: (v: unknown) => void;
		const authSpy = jest
			.spyOn(svc.processor, "authorize")
			.mockImplementationOnce(() => new Promise(resolve => (answer = resolve)));
		const voidSpy = jest.spyOn(svc.processor, "void");
		try {
			const pending = authorize(orderId).catch(e => e);
			while (!(await stored(orderId))) await new Promise(r => setTimeout(r, 5));
			expect(await voidPayment(orderId)).toEqual({ orderId, status: "voided" });
			answer({ ok: true, authorizationId: "sim_0123456789abcdef01234567" });
			expect(await pending).toMatchObject({ code: 409, type: "PAYMENT_STATE" });
			expect(voidSpy).toHaveBeenCalledWith("sim_0123456789abcdef01234567", `void:${orderId}`);
			expect((await stored(orderId)).status).toBe("voided");
		} finally {
			authSpy.mockRestore();
			voidSpy.mockRestore();
		}
	});
});

describe("capture", () => {
	it("captures the authorized amount, once", async () => {
		const orderId = newOrderId();
		await authorize(orderId, { amountCents: 4_321 });
		await forgetEvents();
		const first = await capture(orderId);
		expect(first).toMatchObject({ status: "captured", capturedCents: 4_321 });
		const again = await capture(orderId);
		expect(again).toMatchObject({ id: first.id, status: "captured", capturedCents: 4_321 });
		expect(await names()).toEqual(["payment.captured"]);
	});

	it("captures with no read first, and publishes the authorization's event with the capture's in one outbox emptying", async () => {
		// The relay's rounds are held for this test: only the capture may publish.
		const rounds = [
			jest.spyOn(svc, "relayPendingOutboxes").mockResolvedValue(undefined),
			jest.spyOn(svc, "flushOutbox").mockResolvedValue(undefined)
		];
		try {
			const orderId = newOrderId();
			await authorize(orderId);
			expect(emitted).toEqual([]);
			expect((await stored(orderId)).outbox.map((e: any) => e.name)).toEqual([
				"payment.authorized"
			]);
			const emptyings = jest.spyOn(svc.adapter, "updateMany");
			const reads = jest.spyOn(svc.adapter, "findOne");
			await capture(orderId);
			// Claimed with no read first, and the outbox emptied once.
			expect(reads).not.toHaveBeenCalled();
			expect(emitted.map(e => e.name)).toEqual(["payment.authorized", "payment.captured"]);
			expect((await stored(orderId)).outbox).toEqual([]);
			expect(emptyings).toHaveBeenCalledTimes(1);
			emptyings.mockRestore();
			reads.mockRestore();
		} finally {
			for (const round of rounds) round.mockRestore();
		}
	});

	it("is idempotent after a refund too", async () => {
		const orderId = await captured();
		await refund(orderId);
		expect((await capture(orderId)).status).toBe("refunded");
	});

	it("answers 404 PAYMENT_NOT_FOUND for an unknown order", async () => {
		await expect(capture("no-such-order")).rejects.toMatchObject({
			code: 404,
			type: "PAYMENT_NOT_FOUND"
		});
	});

	it("refuses voided and declined payments with 409 PAYMENT_STATE", async () => {
		const voided = newOrderId();
		await authorize(voided);
		await voidPayment(voided);
		await expect(capture(voided)).rejects.toMatchObject({ code: 409, type: "PAYMENT_STATE" });

		const declined = newOrderId();
		await authorize(declined, { card: card(TEST_CARDS.declined) }).catch(() => null);
		await expect(capture(declined)).rejects.toMatchObject({ code: 409, type: "PAYMENT_STATE" });
	});

	it("stays authorized when the processor fails, and captures on the next try under the same key", async () => {
		const orderId = newOrderId();
		await authorize(orderId);
		await forgetEvents();
		const spy = jest
			.spyOn(svc.processor, "capture")
			.mockRejectedValueOnce(new Error("timeout"));
		try {
			await expect(capture(orderId)).rejects.toMatchObject({
				code: 503,
				type: "SERVICE_UNAVAILABLE"
			});
			// The processor may have captured: the capture stays owed, free for the next call.
			expect(await stored(orderId)).toMatchObject({
				status: "authorized",
				capturedCents: 0,
				operation: { kind: "capture", key: `capture:${orderId}`, lockedUntil: 0 }
			});
			expect(await forOrder(orderId)).not.toHaveProperty("operation");
			expect(emitted).toEqual([]);
			expect((await capture(orderId)).status).toBe("captured");
			expect(spy.mock.calls.map(c => c[2])).toEqual([
				`capture:${orderId}`,
				`capture:${orderId}`
			]);
			expect((await stored(orderId)).operation).toBeUndefined();
			expect(await names()).toEqual(["payment.captured"]);
		} finally {
			spy.mockRestore();
		}
	});

	it("finishes a capture that failed at the processor before a void, which then refuses", async () => {
		// The saga's compensation after a failed capture: whether the money moved is unknown,
		// so the capture is made first (same key), and the void answers 409 (refund instead).
		const orderId = newOrderId();
		await authorize(orderId);
		const spy = jest
			.spyOn(svc.processor, "capture")
			.mockRejectedValueOnce(new Error("connection reset"));
		const voidSpy = jest.spyOn(svc.processor, "void");
		try {
			await expect(capture(orderId)).rejects.toMatchObject({ code: 503 });
			await expect(voidPayment(orderId)).rejects.toMatchObject({
				code: 409,
				type: "PAYMENT_STATE",
				data: { status: "captured" }
			});
			expect(spy).toHaveBeenCalledTimes(2);
			expect(voidSpy).not.toHaveBeenCalled();
			expect(await stored(orderId)).toMatchObject({
				status: "captured",
				capturedCents: 10_000
			});
		} finally {
			spy.mockRestore();
			voidSpy.mockRestore();
		}
	});
});

describe("void", () => {
	it("voids an authorization, idempotently", async () => {
		const orderId = newOrderId();
		await authorize(orderId);
		await forgetEvents();
		expect(await voidPayment(orderId)).toEqual({ orderId, status: "voided" });
		expect(await voidPayment(orderId)).toEqual({ orderId, status: "voided" });
		expect(await names()).toEqual(["payment.voided"]);
	});

	it("is safe without a payment or on a declined one", async () => {
		expect(await voidPayment("never-paid")).toEqual({ orderId: "never-paid", status: "none" });
		const declined = newOrderId();
		await authorize(declined, { card: card(TEST_CARDS.declined) }).catch(() => null);
		expect(await voidPayment(declined)).toEqual({ orderId: declined, status: "declined" });
	});

	it("refuses to void a capture with 409 PAYMENT_STATE", async () => {
		const orderId = await captured();
		await expect(voidPayment(orderId)).rejects.toMatchObject({
			code: 409,
			type: "PAYMENT_STATE"
		});
		expect((await stored(orderId)).status).toBe("captured");
	});
});

describe("refund", () => {
	it("takes partial refunds up to the capture, and not one cent more", async () => {
		const orderId = await captured(10_000);
		const a = await refund(orderId, { amountCents: 2_500, refundId: "r1" });
		expect(a).toMatchObject({ status: "partially_refunded", refundedCents: 2_500 });
		const b = await refund(orderId, { amountCents: 7_499, refundId: "r2" });
		expect(b).toMatchObject({ status: "partially_refunded", refundedCents: 9_999 });
		await expect(refund(orderId, { amountCents: 2, refundId: "r3" })).rejects.toMatchObject({
			code: 409,
			type: "REFUND_EXCEEDS_CAPTURE",
			data: { capturedCents: 10_000, refundedCents: 9_999, refundableCents: 1 }
		});
		const c = await refund(orderId, { amountCents: 1, refundId: "r4" });
		expect(c).toMatchObject({ status: "refunded", refundedCents: 10_000 });
		expect(c.refunds.map((r: any) => [r.refundId, r.amountCents])).toEqual([
			["r1", 2_500],
			["r2", 7_499],
			["r4", 1]
		]);
		await expect(refund(orderId, { amountCents: 1 })).rejects.toMatchObject({
			type: "REFUND_EXCEEDS_CAPTURE"
		});
		expect(await names()).toEqual(["payment.refunded", "payment.refunded", "payment.refunded"]);
		expect(emitted.map(e => e.payload.refundedCents)).toEqual([2_500, 7_499, 1]);
	});

	it("refunds everything left by default, and a repeated full refund changes nothing", async () => {
		const orderId = await captured(10_000);
		await refund(orderId, { amountCents: 3_000 });
		const full = await refund(orderId);
		expect(full).toMatchObject({ status: "refunded", refundedCents: 10_000 });
		expect(full.refunds.at(-1)).toMatchObject({ refundId: "full", amountCents: 7_000 });
		const again = await refund(orderId);
		expect(again).toEqual(full);
		// Another full refund under another id (an order's cancel after its saga's) is a no-op.
		expect(await refund(orderId, { refundId: "cancel" })).toEqual(full);
		expect(await names()).toEqual(["payment.refunded", "payment.refunded"]);
	});

	it("is idempotent per refundId", async () => {
		const orderId = await captured(10_000);
		const first = await refund(orderId, { amountCents: 1_000, refundId: "same" });
		const second = await refund(orderId, { amountCents: 1_000, refundId: "same" });
		expect(second).toEqual(first);
		expect(second.refundedCents).toBe(1_000);
		expect(await names()).toEqual(["payment.refunded"]);
	});

	it("never lets concurrent refunds exceed the capture", async () => {
		const orderId = await captured(10_000);
		const results = await Promise.allSettled(
			Array.from({ length: 5 }, () => refund(orderId, { amountCents: 3_000 }))
		);
		const ok = results.filter(r => r.status === "fulfilled");
		const failed = results.filter(r => r.status === "rejected") as PromiseRejectedResult[];
		// 3 x 30% fit; a refund that loses a race decides again on the new total.
		expect(ok).toHaveLength(3);
		for (const f of failed) expect(f.reason.type).toBe("REFUND_EXCEEDS_CAPTURE");
		const doc = await stored(orderId);
		expect(doc.refundedCents).toBeLessThanOrEqual(doc.capturedCents);
		expect(doc.refundedCents).toBe(ok.length * 3_000);
		expect(doc.refunds.reduce((s: number, r: any) => s + r.amountCents, 0)).toBe(
			doc.refundedCents
		);
		expect((await names()).length).toBe(ok.length);
	});

	it("decides again when the refunded total changed after it was read", async () => {
		const orderId = await captured(10_000);
		await refund(orderId, { amountCents: 1_000, refundId: "a" });
		const stale = await stored(orderId);
		await refund(orderId, { amountCents: 6_000, refundId: "b" });
		// This refund reads the state from before "b": 9000 left, so 6000 seems to fit.
		const spy = jest.spyOn(svc.adapter, "findOne").mockResolvedValueOnce(stale);
		try {
			await expect(
				refund(orderId, { amountCents: 6_000, refundId: "c" })
			).rejects.toMatchObject({ code: 409, type: "REFUND_EXCEEDS_CAPTURE" });
		} finally {
			spy.mockRestore();
		}
		const doc = await stored(orderId);
		expect(doc.refundedCents).toBe(7_000);
		expect(doc.refunds.map((r: any) => r.refundId)).toEqual(["a", "b"]);
	});

	it("applies concurrent retries of one refundId once", async () => {
		const orderId = await captured(10_000);
		await Promise.all(
			Array.from({ length: 4 }, () =>
				refund(orderId, { amountCents: 1_000, refundId: "dup" })
			)
		);
		const doc = await stored(orderId);
		expect(doc.refundedCents).toBe(1_000);
		expect(doc.refunds).toHaveLength(1);
	});

	it("refuses uncaptured payments with 409 PAYMENT_STATE and unknown ones with 404", async () => {
		const orderId = newOrderId();
		await authorize(orderId);
		await expect(refund(orderId)).rejects.toMatchObject({ code: 409, type: "PAYMENT_STATE" });
		await expect(refund("no-such-order")).rejects.toMatchObject({
			code: 404,
			type: "PAYMENT_NOT_FOUND"
		});
	});

	it("records no refund the processor failed, and makes it under the same key next time", async () => {
		const orderId = await captured(10_000);
		await refund(orderId, { amountCents: 1_000, refundId: "kept" });
		await forgetEvents();
		const spy = jest
			.spyOn(svc.processor, "refund")
			.mockRejectedValueOnce(new Error("processor down"));
		try {
			await expect(
				refund(orderId, { amountCents: 2_000, refundId: "late" })
			).rejects.toMatchObject({ code: 503 });
			const doc = await stored(orderId);
			expect(doc).toMatchObject({ status: "partially_refunded", refundedCents: 1_000 });
			expect(doc.refunds.map((r: any) => r.refundId)).toEqual(["kept"]);
			expect(doc.operation).toMatchObject({
				kind: "refund",
				key: `refund:${orderId}:late`,
				refund: { refundId: "late", amountCents: 2_000 }
			});
			expect(emitted).toEqual([]);
			// Another refund first finishes the one owed (the processor may have made it).
			const next = await refund(orderId, { amountCents: 500, refundId: "next" });
			expect(next.refundedCents).toBe(3_500);
			expect(next.refunds.map((r: any) => r.refundId)).toEqual(["kept", "late", "next"]);
			expect(spy.mock.calls.map(c => [c[1], c[2]])).toEqual([
				[2_000, `refund:${orderId}:late`],
				[2_000, `refund:${orderId}:late`],
				[500, `refund:${orderId}:next`]
			]);
			// Retrying the failed one now answers what was recorded.
			const retried = await refund(orderId, { amountCents: 2_000, refundId: "late" });
			expect(retried.refundedCents).toBe(3_500);
			expect(emitted.map(e => e.payload.refundedCents)).toEqual([2_000, 500]);
		} finally {
			spy.mockRestore();
		}
	});
});

describe("a change left half-done (crash, processor failure)", () => {
	/** The processor's capture, void and refund calls, by idempotency key. */
	function processorKeys() {
		const keys: string[] = [];
		const spies = (["capture", "void", "refund"] as const).map(op =>
			jest.spyOn(svc.processor, op).mockImplementation((async (...args: unknown[]) => {
				keys.push(String(args.at(-1)));
			}) as any)
		);
		return { keys, restore: () => spies.forEach(spy => spy.mockRestore()) };
	}

	/** The payment as a process that died while the processor was being asked leaves it. */
	const leftBehind = (orderId: string, operation: Record<string, unknown>) =>
		svc.adapter.updateMany({ orderId }, { $set: { operation } });

	it("a capture a crash left is finished by the next capture, under the same key", async () => {
		const orderId = newOrderId();
		await authorize(orderId);
		await leftBehind(orderId, {
			kind: "capture",
			key: `capture:${orderId}`,
			lockedUntil: Date.now() - 1
		});
		await forgetEvents();
		const processor = processorKeys();
		try {
			// The saga resumed after the crash: the money is captured, not just recorded.
			const payment = await capture(orderId);
			expect(payment).toMatchObject({ status: "captured", capturedCents: 10_000 });
			expect(processor.keys).toEqual([`capture:${orderId}`]);
			expect(await names()).toEqual(["payment.captured"]);
			expect((await stored(orderId)).operation).toBeUndefined();
		} finally {
			processor.restore();
		}
	});

	it("a refund a crash left is recorded once, with its own id and amount", async () => {
		const orderId = await captured(10_000);
		await leftBehind(orderId, {
			kind: "refund",
			key: `refund:${orderId}:admin-1`,
			lockedUntil: Date.now() - 1,
			refund: { refundId: "admin-1", amountCents: 2_500 }
		});
		const processor = processorKeys();
		try {
			// The admin, not knowing, repeats it.
			const payment = await refund(orderId, { amountCents: 2_500, refundId: "admin-1" });
			expect(payment).toMatchObject({ status: "partially_refunded", refundedCents: 2_500 });
			expect(payment.refunds.map((r: any) => [r.refundId, r.amountCents])).toEqual([
				["admin-1", 2_500]
			]);
			expect(processor.keys).toEqual([`refund:${orderId}:admin-1`]);
			expect(await names()).toEqual(["payment.refunded"]);
		} finally {
			processor.restore();
		}
	});

	it("concurrent captures ask the processor once", async () => {
		const orderId = newOrderId();
		await authorize(orderId);
		await forgetEvents();
		const processor = processorKeys();
		try {
			const answers = await Promise.all([
				capture(orderId),
				capture(orderId),
				capture(orderId)
			]);
			expect(answers.map(a => a.status)).toEqual(["captured", "captured", "captured"]);
			expect(processor.keys).toEqual([`capture:${orderId}`]);
			expect(await names()).toEqual(["payment.captured"]);
		} finally {
			processor.restore();
		}
	});

	it("waits for a change in progress no longer than pendingWaitMs, then answers 503", async () => {
		const orderId = newOrderId();
		await authorize(orderId);
		await leftBehind(orderId, {
			kind: "void",
			key: `void:${orderId}`,
			lockedUntil: Date.now() + 60_000
		});
		const processor = processorKeys();
		try {
			await withShortPendingWait(async () => {
				await expect(capture(orderId)).rejects.toMatchObject({
					code: 503,
					type: "SERVICE_UNAVAILABLE",
					data: { orderId }
				});
			});
			expect(processor.keys).toEqual([]);
			expect((await stored(orderId)).status).toBe("authorized");
		} finally {
			processor.restore();
			await leftBehind(orderId, { kind: "void", key: `void:${orderId}`, lockedUntil: 0 });
			expect((await voidPayment(orderId)).status).toBe("voided");
		}
	});

	it("finishes at once a change left under a running lease by a node that is gone", async () => {
		const orderId = newOrderId();
		await authorize(orderId);
		await leftBehind(orderId, {
			kind: "capture",
			key: `capture:${orderId}`,
			lockedUntil: Date.now() + 60_000,
			lockedBy: "payments-gone"
		});
		const processor = processorKeys();
		try {
			await withShortPendingWait(async () => {
				expect(await capture(orderId)).toMatchObject({ status: "captured" });
			});
			expect(processor.keys).toEqual([`capture:${orderId}`]);
		} finally {
			processor.restore();
		}
	});

	it("the recovery sweep finishes what callers left, and only that", async () => {
		const toCapture = newOrderId();
		await authorize(toCapture);
		const toRefund = await captured(10_000);
		const inProgress = newOrderId();
		await authorize(inProgress);
		await leftBehind(toCapture, {
			kind: "capture",
			key: `capture:${toCapture}`,
			lockedUntil: Date.now() - 1
		});
		await leftBehind(toRefund, {
			kind: "refund",
			key: `refund:${toRefund}:r-crash`,
			lockedUntil: 0,
			refund: { refundId: "r-crash", amountCents: 10_000 }
		});
		const live = { kind: "void", key: `void:${inProgress}`, lockedUntil: Date.now() + 60_000 };
		await leftBehind(inProgress, live);
		await forgetEvents();
		const processor = processorKeys();
		try {
			expect(await broker.call("payments.recover")).toEqual({ finished: 2 });
			expect(await stored(toCapture)).toMatchObject({ status: "captured" });
			expect(await stored(toRefund)).toMatchObject({
				status: "refunded",
				refundedCents: 10_000,
				refunds: [expect.objectContaining({ refundId: "r-crash", amountCents: 10_000 })]
			});
			expect((await stored(inProgress)).operation).toEqual(live);
			expect(processor.keys.sort()).toEqual(
				[`capture:${toCapture}`, `refund:${toRefund}:r-crash`].sort()
			);
			expect((await names()).sort()).toEqual(["payment.captured", "payment.refunded"]);
			expect(await broker.call("payments.recover")).toEqual({ finished: 0 });
			expect(emitted).toHaveLength(2);
		} finally {
			processor.restore();
			await svc.adapter.updateMany({ orderId: inProgress }, { $unset: { operation: true } });
		}
	});

	it("the recovery sweep keeps an operation the processor still fails, for its next round", async () => {
		const orderId = newOrderId();
		await authorize(orderId);
		await leftBehind(orderId, { kind: "void", key: `void:${orderId}`, lockedUntil: 0 });
		const spy = jest
			.spyOn(svc.processor, "void")
			.mockRejectedValueOnce(new Error("processor down"));
		try {
			expect(await broker.call("payments.recover")).toEqual({ finished: 0 });
			expect(await stored(orderId)).toMatchObject({
				status: "authorized",
				operation: { kind: "void", lockedUntil: 0 }
			});
			expect(await broker.call("payments.recover")).toEqual({ finished: 1 });
			expect(await stored(orderId)).toMatchObject({ status: "voided" });
			expect(spy.mock.calls.map(c => c[1])).toEqual([`void:${orderId}`, `void:${orderId}`]);
		} finally {
			spy.mockRestore();
		}
	});
});

describe("forOrder", () => {
	it("returns the order's payment or null", async () => {
		const orderId = newOrderId();
		const payment = await authorize(orderId);
		expect(await broker.call("payments.forOrder", { orderId })).toEqual(payment);
		expect(await broker.call("payments.forOrder", { orderId: "nothing-here" })).toBeNull();
	});
});

describe("get and list, called without the gateway", () => {
	const alice = { meta: { user: { id: "user-1", role: "customer" } } };
	const bob = { meta: { user: { id: "user-2", role: "customer" } } };
	const admin = { meta: { user: { id: "admin-1", role: "admin" } } };

	it("refuse a call without a user as UNAUTHORIZED, not as a missing payment", async () => {
		const payment = await authorize(newOrderId());
		for (const call of [
			broker.call("payments.get", { id: payment.id }),
			broker.call("payments.list", {})
		])
			await expect(call).rejects.toMatchObject({ code: 401, type: "UNAUTHORIZED" });
	});

	it("give the owner and admins the payment, anyone else PAYMENT_NOT_FOUND", async () => {
		const orderId = newOrderId();
		const payment = await authorize(orderId);
		for (const opts of [alice, admin])
			expect(await broker.call<any, any>("payments.get", { id: payment.id }, opts)).toEqual(
				payment
			);
		await expect(broker.call("payments.get", { id: payment.id }, bob)).rejects.toMatchObject({
			code: 404,
			type: "PAYMENT_NOT_FOUND"
		});
		const listed = (opts: object) =>
			broker.call<any, any>("payments.list", { orderId }, opts).then(p => p.rows);
		expect(await listed(alice)).toEqual([payment]);
		expect(await listed(admin)).toEqual([payment]);
		expect(await listed(bob)).toEqual([]);
	});
});

describe("card data", () => {
	it("is never stored nor emitted: only brand and last4", async () => {
		await forgetEvents();
		const numbers = [
			TEST_CARDS.success,
			TEST_CARDS.declined,
			TEST_CARDS.insufficientFunds,
			"5555555555554444"
		];
		for (const number of numbers) {
			const orderId = newOrderId();
			await authorize(orderId, { card: card(number) }).catch(() => null);
			await capture(orderId).catch(() => null);
			await refund(orderId, { amountCents: 100 }).catch(() => null);
		}
		const docs = await svc.adapter.find({});
		expect(docs.length).toBeGreaterThan(numbers.length);
		const everything = JSON.stringify(docs) + JSON.stringify(emitted);
		for (const number of numbers) {
			expect(everything).not.toContain(number);
			expect(everything).not.toContain(number.slice(0, 12));
		}
		expect(everything).not.toMatch(/cvc/i);
		expect(everything).not.toMatch(/"(number|cardNumber|expMonth|expYear)"/);
		for (const doc of docs) expect(doc.last4).toMatch(/^[0-9]{4}$/);
	});
});
