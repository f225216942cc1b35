import jwt from "jsonwebtoken";
import { Errors } from "moleculer";
import { signToken, verifyToken } from "../../../lib/jwt";
import { retryable } from "../../../lib/retry";
import { settings } from "../../../lib/settings";

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
