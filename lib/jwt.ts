/**
 * Access tokens: HS256 JWTs with a short expiry, issuer and audience checked on every use.
 * Users signs them; the gateway verifies them (both with JWT_SECRET).
 */
import { createSecretKey, type KeyObject } from "node:crypto";
import jwt from "jsonwebtoken";
import type { Role } from "../types/moleculer";
import { settings } from "./settings";

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

/** The token's claims, or null for any invalid, expired or foreign token. */
export function verifyToken(token: string): TokenClaims | null {
	const { secret, issuer, audience } = settings().jwt;
	try {
		const payload = jwt.verify(token, secretKey(secret), {
			algorithms: ["HS256"],
			issuer,
			audience
		}) as jwt.JwtPayload;
		if (
			typeof payload.sub !== "string" ||
			(payload.role !== "customer" && payload.role !== "admin")
		)
			return null;
		return { sub: payload.sub, role: payload.role, pwv: Number(payload.pwv) || 0 };
	} catch {
		return null;
	}
}
