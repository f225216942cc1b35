/**
 * Who holds a WAL database's write lock, from Linux's /proc/locks: SQLite's writer holds a POSIX
 * write lock on byte 120 of the `-shm` file (WAL_WRITE_LOCK). Elsewhere (no /proc/locks, another
 * pid namespace) nobody is found, and nothing is done.
 */
import fs from "node:fs";

const WAL_WRITE_LOCK_BYTE = "120";

/** The device and inode as /proc/locks prints them ("fe:00:2147018"), from a bigint stat. */
function lockKey(st: fs.BigIntStats): string {
	const major = (st.dev >> 8n) & 0xfffn;
	const minor = (st.dev & 0xffn) | ((st.dev >> 12n) & 0xfff00n);
	const hex = (n: bigint) => n.toString(16).padStart(2, "0");
	return `${hex(major)}:${hex(minor)}:${st.ino}`;
}

/** Pids holding the write lock of the WAL database `dbFile` (`locks`: /proc/locks' text). */
export function writeLockHolders(dbFile: string, locks?: string): number[] {
	let key: string;
	try {
		key = lockKey(fs.statSync(`${dbFile}-shm`, { bigint: true }));
		locks ??= fs.readFileSync("/proc/locks", "utf8");
	} catch {
		return [];
	}
	const pids: number[] = [];
	for (const line of locks.split("\n")) {
		// "1: POSIX  ADVISORY  WRITE 5243 fe:00:2147018 120 120"; a waiter's line has "->" second.
		const [, kind, , mode, pid, file, start] = line.trim().split(/\s+/);
		if (kind === "POSIX" && mode === "WRITE" && file === key && start === WAL_WRITE_LOCK_BYTE)
			pids.push(Number(pid));
	}
	return pids.filter(pid => pid > 0);
}

/** The state letter of a process (`R`, `S`, `D`, `T` stopped by a signal, `t` by a debugger...). */
export function processState(pid: number): string | undefined {
	try {
		const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
		return stat.charAt(stat.lastIndexOf(")") + 2) || undefined;
	} catch {
		return undefined;
	}
}

export interface Fenced {
	/** Holders killed: stopped by a signal (kill -STOP) with the lock held. */
	killed: number[];
	/** Holders left running, with their state: busy, or blocked on I/O, or under a debugger. */
	running: { pid: number; state: string | undefined }[];
}

/**
 * Kill (SIGKILL) every other process that holds `dbFile`'s write lock while stopped by a signal:
 * it can never release it, and the kernel releases a dead process's locks (what it had not
 * committed is rolled back; what it had is in the WAL).
 */
export function fenceStoppedWriters(dbFile: string): Fenced {
	const fenced: Fenced = { killed: [], running: [] };
	for (const pid of writeLockHolders(dbFile)) {
		if (pid === process.pid) continue;
		const state = processState(pid);
		if (state !== "T") {
			fenced.running.push({ pid, state });
			continue;
		}
		try {
			process.kill(pid, "SIGKILL");
			fenced.killed.push(pid);
		} catch {
			// Gone meanwhile, or not ours to signal: its lock is released or stays; either way we wait.
		}
	}
	return fenced;
}
