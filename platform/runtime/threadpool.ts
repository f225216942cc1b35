/**
 * The size of libuv's thread pool, set before anything uses it (it is created on first use, with
 * UV_THREADPOOL_SIZE as the environment has it then; 4 by default). Password hashing (scrypt,
 * ~128 MiB and a few hundred milliseconds each at the default cost) runs on that pool, and so do
 * async file system calls, zlib (compressed request bodies) and DNS lookups: with 4 threads, four
 * logins at once held every other user of the pool. The pool gets the hashes' own threads
 * (PASSWORD_HASH_CONCURRENCY, services/users/passwords.ts) plus the default 4 for everything else.
 *
 * Imported first by moleculer.config.ts (before any other import can touch the pool); the npm
 * scripts and the image set the variable in the environment as well, which always comes first.
 * An operator's own UV_THREADPOOL_SIZE is kept.
 */
import os from "node:os";

/** Scrypt hashes computed at once (the others wait their turn): one per core by default. */
export function hashConcurrency(env: NodeJS.ProcessEnv = process.env): number {
	const raw = env.PASSWORD_HASH_CONCURRENCY;
	const n = raw == null || raw === "" ? os.availableParallelism() : Number(raw);
	return Number.isInteger(n) && n >= 1 ? Math.min(n, 64) : os.availableParallelism();
}

/** The pool size this process wants: the hashes' threads and the 4 libuv starts with. */
export function wantedThreadpoolSize(env: NodeJS.ProcessEnv = process.env): number {
	return hashConcurrency(env) + 4;
}

if (!process.env.UV_THREADPOOL_SIZE)
	process.env.UV_THREADPOOL_SIZE = String(wantedThreadpoolSize());
