/**
 * The CPU-bound work of the scale-out scenario: a SHA-256 chain, each round hashing the previous
 * digest. About 3 µs per round on the reference machine; deterministic for a given seed.
 */
import { createHash } from "node:crypto";

export function hashChain(seed: string, rounds: number): string {
	let digest: Buffer = Buffer.from(seed);
	for (let i = 0; i < rounds; i++) digest = createHash("sha256").update(digest).digest();
	return digest.toString("hex");
}
