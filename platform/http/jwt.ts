/**
 * Access tokens: HS256 JWTs with a short expiry, issuer and audience checked on every use.
 * Users signs them; the gateway verifies them (both with JWT_SECRET).
 */
import { createSecretKey, type KeyObject } from "node:crypto";
import jwt from "jsonwebtoken";
import type { Role } from "../../types/moleculer";
import { settings, type Settings } from "../runtime/settings";

export interface TokenClaims {
	sub: string;
	role: Role;
	/** Password version: a password change invalidates every token issued before it. */
	pwv: number;
}

/**
 * The secret as a KeyObject, made once per secret: given a string, jsonwebtoken first tries to
 * read it as a public key (which throws) on every verify; it showed in the request path's profile.
 */
let cachedKey: { secret: string; key: KeyObject } | undefined;
function secretKey(secret: string): KeyObject {
	if (cachedKey?.secret !== secret)
		cachedKey = { secret, key: createSecretKey(Buffer.from(secret)) };
	return cachedKey.key;
}

export function signToken(claims: TokenClaims): { token: string; expiresIn: number } {
	const { secret, expiresInSec, issuer, audience } = settings().jwt;
	const token = jwt.sign({ role: claims.role, pwv: claims.pwv }, secretKey(secret), {
		algorithm: "HS256",
		subject: claims.sub,
		expiresIn: expiresInSec,
		issuer,
		audience
	});
	return { token, expiresIn: expiresInSec };
}

/**
 * Tokens verified before, with their claims, until they expire: jsonwebtoken decodes the token,
 * computes its HMAC and checks its claims on every use, though a client sends the same token for
 * its whole lifetime. The same token string has the same signature and claims,
 * so only the time can make it invalid: a hit checks `exp` again, as jsonwebtoken does. Only
 * tokens that verified are kept (a forged one costs its HMAC every time, as before), at most
 * VERIFIED_TOKENS_MAX (the oldest go first), and a change of secret, issuer or audience empties
 * the cache. Revocation is not the token's business: the gateway asks users for the session
 * (password version) on every request.
 */
export const VERIFIED_TOKENS_MAX = 10_000;
const verified = new Map<string, { claims: TokenClaims; exp: number }>();
/** The settings the kept tokens were verified under (settings() parses them once). */
let verifiedUnder: Settings["jwt"] | undefined;

/** The token's claims, or null for any invalid, expired or foreign token. */
export function verifyToken(token: string): TokenClaims | null {
	const jwtSettings = settings().jwt;
	const { secret, issuer, audience } = jwtSettings;
	if (jwtSettings !== verifiedUnder) {
		verified.clear();
		verifiedUnder = jwtSettings;
	}
	const now = Math.floor(Date.now() / 1000);
	const known = verified.get(token);
	if (known) {
		if (now < known.exp) return { ...known.claims };
		verified.delete(token);
		return null;
	}
	try {
		const payload = jwt.verify(token, secretKey(secret), {
			algorithms: ["HS256"],
			issuer,
			audience,
			clockTimestamp: now
		}) as jwt.JwtPayload;
		// A token without `exp` would never expire: only tokens that say when they end are taken.
		if (
			typeof payload.sub !== "string" ||
			typeof payload.exp !== "number" ||
			(payload.role !== "customer" && payload.role !== "admin")
		)
			return null;
		const claims: TokenClaims = {
			sub: payload.sub,
			role: payload.role,
			pwv: Number(payload.pwv) || 0
		};
		if (verified.size >= VERIFIED_TOKENS_MAX) verified.delete(verified.keys().next().value!);
		verified.set(token, { claims, exp: payload.exp });
		return { ...claims };
	} catch {
		return null;
	}
}

/** How many verified tokens are kept (for tests). */
export function verifiedTokenCount(): number {
	return verified.size;
}
