/**
 * Password hashing with scrypt (memory-hard, in node:crypto).
 * Stored form: scrypt$<N>$<r>$<p>$<salt b64>$<hash b64>, so the cost can rise later
 * and old hashes still verify.
 */
import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from "node:crypto";

const KEY_LENGTH = 64;

function scrypt(password: string, salt: Buffer, opts: ScryptOptions): Promise<Buffer> {
	return new Promise((resolve, reject) =>
		scryptCb(
			password,
			salt,
			KEY_LENGTH,
			{ ...opts, maxmem: 256 * opts.N! * opts.r! },
			(err, key) => (err ? reject(err) : resolve(key))
		)
	);
}

export async function hashPassword(password: string, cost: number): Promise<string> {
	const salt = randomBytes(16);
	const key = await scrypt(password, salt, { N: cost, r: 8, p: 1 });
	return ["scrypt", cost, 8, 1, salt.toString("base64"), key.toString("base64")].join("$");
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
	const parts = stored.split("$");
	if (parts.length !== 6 || parts[0] !== "scrypt") return false;
	const [, N, r, p, salt, hash] = parts;
	const expected = Buffer.from(hash, "base64");
	const key = await scrypt(password, Buffer.from(salt, "base64"), {
		N: Number(N),
		r: Number(r),
		p: Number(p)
	});
	return key.length === expected.length && timingSafeEqual(key, expected);
}

/** True when a hash was made with a lower cost than the current setting (rehash on next login). */
export function needsRehash(stored: string, cost: number): boolean {
	return Number(stored.split("$")[1]) < cost;
}
