import { NOTIFIED_EVENTS } from "../../../contracts/events";
import type { DomainEvents } from "../../../contracts/events";
import {
	TEMPLATES,
	describeReason,
	emailText,
	formatMoney,
	render,
	shortId
} from "../../../services/notifications/templates";

const order: DomainEvents["order.confirmed"] = {
	orderId: "AbCdEfGh12345678",
	userId: "user0000000000001",
	status: "confirmed",
	totalCents: 12345,
	currency: "EUR",
	items: [
		{
			productId: "p1",
			sku: "MUG-1",
			name: "Blue mug",
			quantity: 2,
			unitPriceCents: 1000,
			lineTotalCents: 2000
		}
	]
};

describe("formatMoney", () => {
	it("formats integer cents exactly, with the currency", () => {
		expect(formatMoney(12345, "EUR")).toContain("123.45");
		expect(formatMoney(12345, "EUR")).toContain("€");
		expect(formatMoney(5, "USD")).toBe("$0.05");
		expect(formatMoney(0, "USD")).toBe("$0.00");
		expect(formatMoney(-250, "USD")).toContain("2.50");
		expect(formatMoney(-250, "USD")).toContain("-");
	});

	it("keeps large amounts exact (no float rounding)", () => {
		expect(formatMoney(900719925474099, "USD")).toBe("$9,007,199,254,740.99");
	});

	it("uses the currency's own minor units", () => {
		expect(formatMoney(500, "JPY")).toBe("¥500");
		expect(formatMoney(1234, "KWD")).toContain("1.234");
	});

	it("writes an unknown currency code after the amount", () => {
		expect(formatMoney(12345, "X1")).toBe("123.45 X1");
	});

	it("refuses a fractional amount", () => {
		expect(() => formatMoney(12.5, "EUR")).toThrow(RangeError);
	});
});

describe("shortId and reasons", () => {
	it("shows the last 8 characters of an order id", () => {
		expect(shortId("AbCdEfGh12345678")).toBe("12345678");
		expect(shortId("abc")).toBe("abc");
	});

	it("puts known reasons in words and shortens unknown long ones", () => {
		expect(describeReason("CARD_DECLINED")).toBe("the card was declined");
		expect(describeReason("Changed my mind")).toBe("Changed my mind");
		expect(describeReason("  ")).toBeUndefined();
		expect(describeReason(undefined)).toBeUndefined();
		expect(describeReason("x".repeat(500))!.length).toBeLessThanOrEqual(200);
	});
});

describe("templates", () => {
	it("has one template per notified event", () => {
		expect(Object.keys(TEMPLATES).sort()).toEqual([...NOTIFIED_EVENTS].sort());
	});

	it("order.confirmed: short id, total and items", () => {
		const n = render("order.confirmed", order);
		expect(n).toMatchObject({ kind: "order.confirmed", title: "Order 12345678 confirmed" });
		expect(n.body).toContain("€123.45");
		expect(n.body).toContain("2 x Blue mug");
		expect(n.body).toContain("€20.00");
	});

	it("order.rejected: includes the reason", () => {
		const n = render("order.rejected", {
			...order,
			status: "rejected",
			reason: "OUT_OF_STOCK"
		});
		expect(n.kind).toBe("order.rejected");
		expect(n.title).toContain("12345678");
		expect(n.body).toContain("some items are out of stock");
		expect(render("order.rejected", { ...order, reason: "Weird thing" }).body).toContain(
			"Weird thing"
		);
	});

	it("order.cancelled: the amount, and the reason when there is one", () => {
		const n = render("order.cancelled", { ...order, reason: "Cancelled by request" });
		expect(n.title).toBe("Order 12345678 cancelled");
		expect(n.body).toContain("€123.45");
		expect(n.body).toContain("Reason: Cancelled by request.");
		expect(render("order.cancelled", order).body).not.toContain("Reason");
	});

	it("order.shipped: carrier and tracking number when present", () => {
		const n = render("order.shipped", { ...order, carrier: "DHL", trackingNumber: "TRK123" });
		expect(n.title).toBe("Order 12345678 shipped");
		expect(n.body).toContain("with DHL");
		expect(n.body).toContain("Tracking number: TRK123");
		const bare = render("order.shipped", order);
		expect(bare.body).not.toContain("Tracking");
		expect(bare.body).not.toContain("undefined");
	});

	it("order.delivered", () => {
		const n = render("order.delivered", order);
		expect(n).toMatchObject({ kind: "order.delivered", title: "Order 12345678 delivered" });
	});

	it("payment.refunded: the refunded amount, not the payment's", () => {
		const n = render("payment.refunded", {
			paymentId: "pay1",
			orderId: order.orderId,
			userId: order.userId,
			amountCents: 12345,
			currency: "EUR",
			status: "partially_refunded",
			refundedCents: 500
		});
		expect(n.kind).toBe("payment.refunded");
		expect(n.title).toBe("Refund of €5.00 for order 12345678");
		expect(n.body).toContain("€5.00");
		expect(n.body).not.toContain("123.45");
	});

	it("reads only the fields it names from a payload", () => {
		const withExtra = { ...order, card: { number: "4242424242424242", cvc: "123" } } as never;
		const n = render("order.confirmed", withExtra);
		expect(JSON.stringify(n)).not.toMatch(/4242|cvc/i);
	});
});

describe("emailText", () => {
	it("addresses the user by name and carries the body", () => {
		const n = render("order.delivered", order);
		const text = emailText("Ada", n);
		expect(text.startsWith("Hello Ada,")).toBe(true);
		expect(text).toContain(n.body);
		expect(emailText("  ", n).startsWith("Hello,")).toBe(true);
	});
});
