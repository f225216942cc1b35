/**
 * Every process the bench starts is registered here and stopped at the end, on Ctrl-C, on
 * SIGTERM, on a failure and when the overall time budget runs out. On the final `exit` every
 * registered process that still runs gets a synchronous SIGKILL.
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import readline from "node:readline";

export const BENCH_DIR = path.resolve(__dirname, "..");

export interface Resource {
	name: string;
	/** Pids to SIGKILL synchronously if the bench exits before `stop()` ran. */
	pids(): (number | undefined)[];
	stop(): Promise<void>;
}

const resources = new Set<Resource>();

/** Register a resource; the returned function stops it and forgets it. */
export function track(res: Resource): () => Promise<void> {
	resources.add(res);
	return async () => {
		if (!resources.delete(res)) return;
		await res.stop();
	};
}

/**
 * Stop everything still registered (each stop bounded by `graceMs`), except the resources owning
 * one of `keepPids`.
 */
export async function stopAll(
	graceMs = 10_000,
	keepPids: (number | undefined)[] = []
): Promise<void> {
	const keep = (res: Resource) => res.pids().some(p => p != null && keepPids.includes(p));
	const all = [...resources].reverse().filter(res => !keep(res));
	for (const res of all) resources.delete(res);
	await Promise.all(
		all.map(res =>
			Promise.race([
				res.stop().catch(err => console.error(`bench: stopping ${res.name}: ${err}`)),
				new Promise(r => setTimeout(r, graceMs).unref())
			]).finally(() => killSync(res))
		)
	);
}

function killSync(res: Resource): void {
	for (const pid of res.pids()) {
		if (!pid) continue;
		try {
			process.kill(pid, "SIGKILL");
		} catch {
			/* already gone */
		}
	}
}

let installed = false;

/**
 * Ctrl-C, SIGTERM, an uncaught error or the time budget: stop every process and exit.
 * `budgetMs` bounds the whole run.
 */
export function installCleanup(budgetMs: number): void {
	if (installed) return;
	installed = true;
	let exiting = false;
	const bail = (why: string, code: number) => {
		if (exiting) return;
		exiting = true;
		console.error(`\nbench: ${why}; stopping every process it started...`);
		void stopAll(10_000).finally(() => process.exit(code));
	};
	process.on("SIGINT", () => bail("interrupted", 130));
	process.on("SIGTERM", () => bail("terminated", 143));
	process.on("SIGHUP", () => bail("hang-up", 129));
	process.on("uncaughtException", err => {
		console.error(err);
		bail("uncaught error", 1);
	});
	process.on("unhandledRejection", err => {
		console.error(err);
		bail("unhandled rejection", 1);
	});
	process.on("exit", () => {
		for (const res of resources) killSync(res);
	});
	setTimeout(
		() => bail(`time budget of ${Math.round(budgetMs / 1000)} s exceeded`, 124),
		budgetMs
	).unref();
}

export interface Helper {
	proc: ChildProcess;
	/** What the helper printed on its first stdout line after "READY". */
	ready: string;
	/** Send one line to the helper's stdin. */
	send(line: string): void;
	/** The helper's next JSON result line (`RESULT {...}`). */
	nextResult(): Promise<any>;
	stop(): Promise<void>;
}

/**
 * Start a bench helper script (bench/servers/*.ts) on this Node with tsx as loader. The helper
 * prints `READY <info>` once listening and `RESULT <json>` for each result; it exits when
 * its stdin closes, so it dies with the bench even after a SIGKILL of the bench.
 */
export async function startHelper(
	script: string,
	args: string[] = [],
	opts: { env?: NodeJS.ProcessEnv; execArgv?: string[]; readyTimeoutMs?: number } = {}
): Promise<Helper> {
	const proc = spawn(
		process.execPath,
		[...(opts.execArgv ?? []), "--import", "tsx", path.join(BENCH_DIR, script), ...args],
		{ cwd: path.resolve(BENCH_DIR, ".."), env: { ...process.env, ...opts.env }, stdio: "pipe" }
	);
	let stderr = "";
	proc.stderr.on("data", (c: Buffer) => (stderr = (stderr + c.toString()).slice(-4000)));
	const exited = new Promise<void>(r => proc.once("exit", () => r()));
	const stop = async () => {
		if (proc.exitCode !== null || proc.signalCode !== null) return;
		proc.stdin.end();
		const timer = setTimeout(() => proc.kill("SIGKILL"), 3000);
		await exited;
		clearTimeout(timer);
	};
	const untrack = track({ name: script, pids: () => [proc.pid], stop });

	const lines = readline.createInterface({ input: proc.stdout });
	let onReady: (info: string) => void = () => undefined;
	const ready = new Promise<string>((resolve, reject) => {
		const timer = setTimeout(
			() => reject(new Error(`${script} not ready: ${stderr}`)),
			opts.readyTimeoutMs ?? 20_000
		);
		onReady = info => {
			clearTimeout(timer);
			resolve(info);
		};
		void exited.then(() => {
			clearTimeout(timer);
			reject(new Error(`${script} exited early: ${stderr}`));
		});
	});
	const results: unknown[] = [];
	const waiters: { resolve(v: unknown): void; reject(e: Error): void }[] = [];
	let gone = false;
	void exited.then(() => {
		gone = true;
		for (const w of waiters.splice(0)) w.reject(new Error(`${script} exited: ${stderr}`));
	});
	const nextResult = () =>
		results.length
			? Promise.resolve(results.shift())
			: gone
				? Promise.reject(new Error(`${script} exited: ${stderr}`))
				: new Promise((resolve, reject) => waiters.push({ resolve, reject }));
	lines.on("line", line => {
		if (line.startsWith("READY")) onReady(line.slice(5).trim());
		else if (line.startsWith("RESULT ")) {
			const value: unknown = JSON.parse(line.slice(7));
			const w = waiters.shift();
			if (w) w.resolve(value);
			else results.push(value);
		}
	});
	try {
		return {
			proc,
			ready: await ready,
			send: line => proc.stdin.write(`${line}\n`),
			nextResult,
			stop: untrack
		};
	} catch (err) {
		await untrack();
		throw err;
	}
}

/** Resident set size of a process in MB, from /proc/<pid>/status (undefined if it is gone). */
export function rssMB(pid: number | undefined): number | undefined {
	if (!pid) return undefined;
	try {
		const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
		const kb = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
		return kb ? Math.round(Number(kb[1]) / 102.4) / 10 : undefined;
	} catch {
		return undefined;
	}
}

/** CPU time (user + system) a process has used so far, in ms, from /proc/<pid>/stat. */
export function cpuMs(pid: number | undefined): number | undefined {
	if (!pid) return undefined;
	try {
		const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
		// Fields after the command name (which may hold spaces): utime and stime are 14 and 15.
		const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
		return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
	} catch {
		return undefined;
	}
}

/** USER_HZ: 100 on every Linux the bench runs on. */
const CLOCK_TICKS = 100;

export const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));
