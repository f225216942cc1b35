import jwt from "jsonwebtoken";
import { Errors } from "moleculer";
import {
	VERIFIED_TOKENS_MAX,
	signToken,
	verifiedTokenCount,
	verifyToken
} from "../../../../platform/http/jwt";
import { retryable } from "../../../../platform/messaging/retry";
import { resetSettings, settings } from "../../../../platform/runtime/settings";

describe("access tokens", () => {
	it("round-trips the claims", () => {
		const { token, expiresIn } = signToken({ sub: "u1", role: "admin", pwv: 3 });
		expect(expiresIn).toBe(settings().jwt.expiresInSec);
		expect(verifyToken(token)).toEqual({ sub: "u1", role: "admin", pwv: 3 });
	});

	it("refuses a wrong signature, alg none, expiry, and a foreign issuer or audience", () => {
		const { secret, issuer, audience } = settings().jwt;
		const base = { role: "customer", pwv: 0 };
		const opts = { subject: "u1", issuer, audience };
		expect(verifyToken(jwt.sign(base, "another-secret-another-secret-xx", opts))).toBeNull();
		expect(
			verifyToken(jwt.sign(base, "", { ...opts, algorithm: "none" } as jwt.SignOptions))
		).toBeNull();
		expect(
			verifyToken(
				jwt.sign({ ...base, exp: Math.floor(Date.now() / 1000) - 10 }, secret, opts)
			)
		).toBeNull();
		expect(verifyToken(jwt.sign(base, secret, { ...opts, issuer: "evil" }))).toBeNull();
		expect(verifyToken(jwt.sign(base, secret, { ...opts, audience: "other" }))).toBeNull();
		expect(verifyToken(jwt.sign({ ...base, role: "root" }, secret, opts))).toBeNull();
		expect(verifyToken("not-a-token")).toBeNull();
	});
});

describe("verified tokens are kept until they expire", () => {
	const { secret, issuer, audience } = settings().jwt;
	const sign = (claims: object, expiresIn: number, key = secret) =>
		jwt.sign({ role: "customer", pwv: 1, ...claims }, key, {
			subject: "u-kept",
			issuer,
			audience,
			expiresIn
		});
	afterEach(() => jest.restoreAllMocks());

	it("verifies a token once, then answers from what it kept, a copy each time", () => {
		const token = sign({}, 600);
		const verify = jest.spyOn(jwt, "verify");
		const first = verifyToken(token);
		expect(first).toEqual({ sub: "u-kept", role: "customer", pwv: 1 });
		first!.role = "admin"; // a caller changing its copy
		expect(verifyToken(token)).toEqual({ sub: "u-kept", role: "customer", pwv: 1 });
		expect(verifyToken(token)).toEqual({ sub: "u-kept", role: "customer", pwv: 1 });
		expect(verify).toHaveBeenCalledTimes(1);
	});

	it("refuses a kept token from the second its exp is reached, as jsonwebtoken does", () => {
		const token = sign({}, 30);
		const exp = (jwt.decode(token) as jwt.JwtPayload).exp!;
		expect(verifyToken(token)).not.toBeNull();
		const now = jest.spyOn(Date, "now").mockReturnValue(exp * 1000 - 1);
		expect(verifyToken(token)).not.toBeNull();
		now.mockReturnValue(exp * 1000);
		expect(verifyToken(token)).toBeNull();
		expect(() => jwt.verify(token, secret, { issuer, audience })).toThrow(/expired/);
		// And stays refused: it is no longer kept.
		expect(verifyToken(token)).toBeNull();
	});

	it("keeps no token that failed, whatever it says", () => {
		const before = verifiedTokenCount();
		expect(verifyToken(sign({}, 600, "another-secret-another-secret-xx"))).toBeNull();
		expect(verifyToken(sign({ role: "root" }, 600))).toBeNull();
		expect(verifyToken(sign({}, -10))).toBeNull();
		expect(verifiedTokenCount()).toBe(before);
	});

	it("forgets every kept token when the secret changes", () => {
		const token = sign({}, 600);
		expect(verifyToken(token)).not.toBeNull();
		const original = process.env.JWT_SECRET;
		process.env.JWT_SECRET = "a-rotated-secret-a-rotated-secret-x";
		resetSettings();
		try {
			expect(verifyToken(token)).toBeNull();
		} finally {
			if (original === undefined) delete process.env.JWT_SECRET;
			else process.env.JWT_SECRET = original;
			resetSettings();
		}
		expect(verifyToken(token)).not.toBeNull();
	});

	it("keeps at most VERIFIED_TOKENS_MAX tokens, dropping the oldest", () => {
		const first = sign({ n: -1 }, 600);
		expect(verifyToken(first)).not.toBeNull();
		for (let n = 0; n < VERIFIED_TOKENS_MAX; n++) verifyToken(sign({ n }, 600));
		expect(verifiedTokenCount()).toBe(VERIFIED_TOKENS_MAX);
		const verify = jest.spyOn(jwt, "verify");
		expect(verifyToken(first)).not.toBeNull(); // verified again: it had been dropped
		expect(verify).toHaveBeenCalledTimes(1);
	});
});

describe("retry policy", () => {
	it("retries only errors where the call surely did not run", () => {
		expect(retryable(new Errors.ServiceNotAvailableError({ action: "a" }))).toBe(false);
		expect(retryable(new Errors.ServiceNotFoundError({ action: "a" }))).toBe(true);
		expect(
			retryable(new Errors.QueueIsFullError({ action: "a", nodeID: "n", size: 1, limit: 1 }))
		).toBe(true);
		expect(retryable(new Errors.RequestTimeoutError({ action: "a", nodeID: "n" }))).toBe(false);
		expect(retryable(new Errors.MoleculerClientError("bad", 400, "BAD"))).toBe(false);
		expect(retryable(new Errors.MoleculerServerError("boom", 500, "BOOM"))).toBe(false);
		expect(retryable(null)).toBe(false);
	});
});
