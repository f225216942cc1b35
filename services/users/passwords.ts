/**
 * Password hashing with scrypt (memory-hard, in node:crypto).
 * Stored form: scrypt$<N>$<r>$<p>$<salt b64>$<hash b64>, so the cost can rise later and old
 * hashes still verify (and are rehashed at the current cost on the next login).
 *
 * The default cost is OWASP's minimum for scrypt: N = 2^17, r = 8, p = 1 (PASSWORD_HASH_COST),
 * which takes 128 MiB (128 · N · r bytes) and a few hundred milliseconds of one thread per hash.
 * At most PASSWORD_HASH_CONCURRENCY hashes run at once (the others wait here, in order), so the
 * memory stays bounded (concurrency × 128 MiB) and libuv's pool keeps threads for the rest of
 * the process (platform/runtime/threadpool.ts sizes it for both).
 */
import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from "node:crypto";
import { hashConcurrency } from "../../platform/runtime/threadpool";

const KEY_LENGTH = 64;
export const SCRYPT_R = 8;
export const SCRYPT_P = 1;

/** Hash parameters a stored hash may name (anything else is refused, not computed). */
const MAX_N = 1 << 20;
const MAX_R = 16;
const MAX_P = 4;

/** The memory one scrypt call needs: 128 · N · r · p bytes, plus room for the rest of it. */
export function scryptMaxmem(N: number, r: number, p = 1): number {
	return 128 * N * r * p + 8 * 1024 * 1024;
}

let running = 0;
const waiting: (() => void)[] = [];
const limit = hashConcurrency();

async function inTurn<T>(work: () => Promise<T>): Promise<T> {
	if (running >= limit) await new Promise<void>(resolve => waiting.push(resolve));
	running++;
	try {
		return await work();
	} finally {
		running--;
		waiting.shift()?.();
	}
}

function scrypt(password: string, salt: Buffer, opts: ScryptOptions): Promise<Buffer> {
	return inTurn(
		() =>
			new Promise((resolve, reject) =>
				scryptCb(
					password,
					salt,
					KEY_LENGTH,
					{ ...opts, maxmem: scryptMaxmem(opts.N!, opts.r!, opts.p) },
					(err, key) => (err ? reject(err) : resolve(key))
				)
			)
	);
}

export async function hashPassword(password: string, cost: number): Promise<string> {
	const salt = randomBytes(16);
	const key = await scrypt(password, salt, { N: cost, r: SCRYPT_R, p: SCRYPT_P });
	return [
		"scrypt",
		cost,
		SCRYPT_R,
		SCRYPT_P,
		salt.toString("base64"),
		key.toString("base64")
	].join("$");
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
	const parts = stored.split("$");
	if (parts.length !== 6 || parts[0] !== "scrypt") return false;
	const [, N, r, p, salt, hash] = parts.map((v, i) => (i >= 1 && i <= 3 ? Number(v) : v)) as [
		string,
		number,
		number,
		number,
		string,
		string
	];
	if (![N, r, p].every(Number.isInteger) || N < 2 || N > MAX_N || r < 1 || r > MAX_R)
		return false;
	if (p < 1 || p > MAX_P || (N & (N - 1)) !== 0) return false;
	const expected = Buffer.from(hash, "base64");
	const key = await scrypt(password, Buffer.from(salt, "base64"), { N, r, p });
	return key.length === expected.length && timingSafeEqual(key, expected);
}

/** True when a hash was made with a lower cost than the current setting (rehash on next login). */
export function needsRehash(stored: string, cost: number): boolean {
	return Number(stored.split("$")[1]) < cost;
}
