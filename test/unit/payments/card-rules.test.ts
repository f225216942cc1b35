import {
	cardBrand,
	cardProblem,
	isExpired,
	last4,
	luhnValid,
	normalizeCardNumber,
	refundFits,
	refundable
} from "../../../services/payments/card-rules";

describe("luhnValid", () => {
	it.each([
		"4242424242424242",
		"4000000000000002",
		"4000000000009995",
		"5555555555554444",
		"378282246310005",
		"6011111111111117"
	])("accepts %s", number => {
		expect(luhnValid(number)).toBe(true);
	});

	it.each([
		"4242424242424241",
		"4000000000000003",
		"1234567812345678",
		"",
		"4",
		"4242a42424242424"
	])("refuses %p", number => {
		expect(luhnValid(number)).toBe(false);
	});
});

describe("normalizeCardNumber", () => {
	it("strips spaces and dashes", () => {
		expect(normalizeCardNumber(" 4242 4242-4242 4242 ")).toBe("4242424242424242");
	});

	it("keeps 12 to 19 digits only", () => {
		expect(normalizeCardNumber("1".repeat(12))).toBe("1".repeat(12));
		expect(normalizeCardNumber("1".repeat(19))).toBe("1".repeat(19));
		expect(normalizeCardNumber("1".repeat(11))).toBeNull();
		expect(normalizeCardNumber("1".repeat(20))).toBeNull();
		expect(normalizeCardNumber("4242 4242 4242 424x")).toBeNull();
		expect(normalizeCardNumber("")).toBeNull();
	});
});

describe("cardBrand", () => {
	it.each([
		["4242424242424242", "visa"],
		["4000 0000 0000 0002", "visa"],
		["5105105105105100", "mastercard"],
		["5555555555554444", "mastercard"],
		["2221000000000009", "mastercard"],
		["2720990000000007", "mastercard"],
		["378282246310005", "amex"],
		["341111111111111", "amex"],
		["6011111111111117", "discover"],
		["6500000000000002", "discover"],
		["5000000000000009", "unknown"],
		["5600000000000003", "unknown"],
		["2220990000000009", "unknown"],
		["2721000000000004", "unknown"],
		["3530111333300000", "unknown"],
		["6200000000000005", "unknown"],
		["", "unknown"]
	])("%s is %s", (number, brand) => {
		expect(cardBrand(number)).toBe(brand);
	});
});

describe("isExpired", () => {
	it("keeps a card valid through the last moment of its expiry month", () => {
		expect(isExpired(3, 2030, new Date(Date.UTC(2030, 2, 1)))).toBe(false);
		expect(isExpired(3, 2030, new Date(Date.UTC(2030, 2, 31, 23, 59, 59, 999)))).toBe(false);
		expect(isExpired(3, 2030, new Date(Date.UTC(2030, 3, 1)))).toBe(true);
	});

	it("crosses the year boundary", () => {
		expect(isExpired(12, 2030, new Date(Date.UTC(2030, 11, 31, 23, 59)))).toBe(false);
		expect(isExpired(12, 2030, new Date(Date.UTC(2031, 0, 1)))).toBe(true);
		expect(isExpired(1, 2031, new Date(Date.UTC(2030, 11, 31)))).toBe(false);
	});

	it("treats any earlier year as expired and any later one as valid", () => {
		const now = new Date(Date.UTC(2030, 5, 15));
		expect(isExpired(12, 2029, now)).toBe(true);
		expect(isExpired(1, 2031, now)).toBe(false);
		expect(isExpired(5, 2030, now)).toBe(true);
		expect(isExpired(6, 2030, now)).toBe(false);
	});
});

describe("cardProblem", () => {
	const now = new Date(Date.UTC(2030, 5, 15));

	it("accepts a Luhn-valid, unexpired card", () => {
		expect(
			cardProblem({ number: "4242 4242 4242 4242", expMonth: 6, expYear: 2030 }, now)
		).toBeNull();
	});

	it("names payment.cardNumber for a bad number, without echoing it", () => {
		for (const number of ["4242424242424241", "4242", "4242-4242-4242-424x"]) {
			const problem = cardProblem({ number, expMonth: 1, expYear: 2031 }, now);
			expect(problem).toMatchObject({ type: "luhn", field: "payment.cardNumber" });
			expect(JSON.stringify(problem)).not.toContain(number);
		}
	});

	it("names payment.expYear for an expired card", () => {
		expect(
			cardProblem({ number: "4242424242424242", expMonth: 5, expYear: 2030 }, now)
		).toMatchObject({ type: "expired", field: "payment.expYear" });
	});
});

describe("last4", () => {
	it("gives the last four digits", () => {
		expect(last4("4242 4242 4242 1234")).toBe("1234");
		expect(last4("378282246310005")).toBe("0005");
	});
});

describe("refund arithmetic", () => {
	it("refundable is what is left of the capture, never negative", () => {
		expect(refundable(10_000, 0)).toBe(10_000);
		expect(refundable(10_000, 3_000)).toBe(7_000);
		expect(refundable(10_000, 10_000)).toBe(0);
		expect(refundable(10_000, 12_000)).toBe(0);
		expect(refundable(0, 0)).toBe(0);
	});

	it("lets partial refunds add up to the capture and not a cent more", () => {
		const captured = 10_000;
		let refunded = 0;
		for (const amount of [2_500, 2_500, 4_999]) {
			expect(refundFits(captured, refunded, amount)).toBe(true);
			refunded += amount;
		}
		expect(refundFits(captured, refunded, 2)).toBe(false);
		expect(refundFits(captured, refunded, 1)).toBe(true);
		expect(refundFits(captured, captured, 1)).toBe(false);
	});

	it("refuses zero, negative and fractional amounts", () => {
		expect(refundFits(10_000, 0, 0)).toBe(false);
		expect(refundFits(10_000, 0, -100)).toBe(false);
		expect(refundFits(10_000, 0, 10.5)).toBe(false);
		expect(refundFits(10_000, 0, Number.NaN)).toBe(false);
	});
});
