import {
	SimulatedProcessor,
	TEST_CARDS,
	createProcessor,
	type AuthorizeRequest
} from "../../../services/payments/processor";

const request = (number: string, idempotencyKey = "order-1"): AuthorizeRequest => ({
	amountCents: 5_000,
	currency: "EUR",
	card: { number, expMonth: 12, expYear: 2099, cvc: "123" },
	idempotencyKey
});

describe("SimulatedProcessor", () => {
	const processor = new SimulatedProcessor();

	it("authorizes 4242424242424242", async () => {
		const res = await processor.authorize(request(TEST_CARDS.success));
		expect(res).toEqual({
			ok: true,
			authorizationId: expect.stringMatching(/^sim_[0-9a-f]{24}$/)
		});
	});

	it("declines 4000000000000002 with CARD_DECLINED", async () => {
		expect(await processor.authorize(request(TEST_CARDS.declined))).toMatchObject({
			ok: false,
			code: "CARD_DECLINED"
		});
	});

	it("declines 4000000000009995 with INSUFFICIENT_FUNDS", async () => {
		expect(await processor.authorize(request(TEST_CARDS.insufficientFunds))).toMatchObject({
			ok: false,
			code: "INSUFFICIENT_FUNDS"
		});
	});

	it("authorizes any other Luhn-valid number, and declines a Luhn-invalid one", async () => {
		expect((await processor.authorize(request("5555 5555 5555 4444"))).ok).toBe(true);
		expect(await processor.authorize(request("4242424242424241"))).toMatchObject({
			ok: false,
			code: "CARD_DECLINED"
		});
	});

	it("answers a repeated idempotency key with the same authorization", async () => {
		const a = await processor.authorize(request(TEST_CARDS.success, "order-a"));
		const again = await new SimulatedProcessor().authorize(
			request(TEST_CARDS.success, "order-a")
		);
		const b = await processor.authorize(request(TEST_CARDS.success, "order-b"));
		expect(again).toEqual(a);
		expect(b).not.toEqual(a);
	});

	it("never puts the card into its answer", async () => {
		for (const number of Object.values(TEST_CARDS)) {
			const text = JSON.stringify(await processor.authorize(request(number)));
			expect(text).not.toContain(number);
			expect(text).not.toMatch(/cvc/i);
		}
	});

	it("refuses bad amounts", async () => {
		await expect(
			processor.authorize({ ...request(TEST_CARDS.success), amountCents: 0 })
		).rejects.toThrow();
		await expect(
			processor.authorize({ ...request(TEST_CARDS.success), amountCents: 1.5 })
		).rejects.toThrow();
	});

	it("captures, voids and refunds its own authorizations and refuses unknown ones", async () => {
		const res = await processor.authorize(request(TEST_CARDS.success));
		if (!res.ok) throw new Error("expected an authorization");
		const id = res.authorizationId;
		await expect(processor.capture(id, 5_000, "capture:o1")).resolves.toBeUndefined();
		await expect(processor.refund(id, 100, "refund:o1:r1")).resolves.toBeUndefined();
		await expect(processor.void(id, "void:o1")).resolves.toBeUndefined();
		await expect(processor.capture("auth_unknown", 5_000, "capture:o1")).rejects.toThrow(
			/Unknown/
		);
		await expect(processor.void("", "void:o1")).rejects.toThrow(/Unknown/);
		await expect(processor.refund(id, -1, "refund:o1:r2")).rejects.toThrow();
	});

	it("refuses a capture, void or refund without an idempotency key", async () => {
		const res = await processor.authorize(request(TEST_CARDS.success));
		if (!res.ok) throw new Error("expected an authorization");
		const id = res.authorizationId;
		await expect(processor.capture(id, 5_000, "")).rejects.toThrow(/idempotency key/);
		await expect(processor.void(id, "")).rejects.toThrow(/idempotency key/);
		await expect(processor.refund(id, 100, "")).rejects.toThrow(/idempotency key/);
		await expect(
			processor.authorize({ ...request(TEST_CARDS.success), idempotencyKey: "" })
		).rejects.toThrow(/idempotency key/);
	});
});

describe("createProcessor", () => {
	it("chooses the simulation", () => {
		expect(createProcessor()).toBeInstanceOf(SimulatedProcessor);
	});
});
