/**
 * Card and money rules of payments, free of any broker, database or processor.
 *
 * Only the brand and the last four digits of a card ever leave these functions' callers: the
 * full number and the CVC are checked here and then forgotten.
 */

export type CardBrand = "visa" | "mastercard" | "amex" | "discover" | "unknown";

/** Spaces and dashes removed; null unless 12 to 19 digits remain. */
export function normalizeCardNumber(input: string): string | null {
	const digits = input.replace(/[\s-]/g, "");
	return /^[0-9]{12,19}$/.test(digits) ? digits : null;
}

/** The Luhn (mod 10) checksum of a string of digits. Anything but digits fails. */
export function luhnValid(number: string): boolean {
	if (!/^[0-9]{2,}$/.test(number)) return false;
	let sum = 0;
	let double = false;
	for (let i = number.length - 1; i >= 0; i--) {
		let d = number.charCodeAt(i) - 48;
		if (double) {
			d *= 2;
			if (d > 9) d -= 9;
		}
		sum += d;
		double = !double;
	}
	return sum % 10 === 0;
}

/** The card network by the number's prefix (IIN ranges). */
export function cardBrand(number: string): CardBrand {
	const n = number.replace(/[\s-]/g, "");
	if (!/^[0-9]+$/.test(n)) return "unknown";
	if (n.startsWith("4")) return "visa";
	if (/^3[47]/.test(n)) return "amex";
	if (n.startsWith("6011") || n.startsWith("65")) return "discover";
	const two = Number(n.slice(0, 2));
	const four = Number(n.slice(0, 4));
	if (n.length >= 2 && two >= 51 && two <= 55) return "mastercard";
	if (n.length >= 4 && four >= 2221 && four <= 2720) return "mastercard";
	return "unknown";
}

/** A card is valid through the last day of its expiry month (UTC). */
export function isExpired(expMonth: number, expYear: number, now: Date = new Date()): boolean {
	const year = now.getUTCFullYear();
	const month = now.getUTCMonth() + 1;
	return year > expYear || (year === expYear && month > expMonth);
}

/** The last four digits, the only part of a number that is ever stored or shown. */
export function last4(number: string): string {
	return number.replace(/[\s-]/g, "").slice(-4);
}

export type CardProblem = { field: string; type: "luhn" | "expired"; message: string };

/** What is wrong with a card's number and expiry, if anything (the CVC is the processor's). */
export function cardProblem(
	card: { number: string; expMonth: number; expYear: number },
	now: Date = new Date()
): CardProblem | null {
	const number = normalizeCardNumber(card.number);
	if (number == null || !luhnValid(number))
		return { field: "payment.cardNumber", type: "luhn", message: "Card number is not valid" };
	if (isExpired(card.expMonth, card.expYear, now))
		return { field: "payment.expYear", type: "expired", message: "Card has expired" };
	return null;
}

// ---- Money ----------------------------------------------------------------------------------

/** How much of a capture can still be refunded, in cents. */
export function refundable(capturedCents: number, refundedCents: number): number {
	return Math.max(0, capturedCents - refundedCents);
}

/** A refund of `amountCents` is a positive whole number of cents within what is left. */
export function refundFits(
	capturedCents: number,
	refundedCents: number,
	amountCents: number
): boolean {
	return (
		Number.isSafeInteger(amountCents) &&
		amountCents > 0 &&
		amountCents <= refundable(capturedCents, refundedCents)
	);
}
