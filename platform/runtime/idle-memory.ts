/**
 * Gives the memory a burst of work left behind back to the system once the process is idle.
 *
 * V8's memory reducer collects (and shrinks the young generation) when the allocation rate falls,
 * but since V8 13.1 (Node 24 and 26; CL 5935313) it reads a C++-heap (cppgc) allocation rate of
 * exactly zero as the highest possible, so a process that never allocates there only ever collects
 * at the reducer's 100-s watchdog, or later if an ordinary major GC moves that on. A `vm.Script` is
 * allocated on the C++ heap: compiling an empty one every 20 s keeps that rate above zero (it decays
 * to zero in about 110 s) without touching the young and old generations' own rates.
 */
import vm from "node:vm";

const INTERVAL_MS = 20_000;

let timer: NodeJS.Timeout | undefined;

/** Start it once per process (idempotent); the timer never keeps the process alive. */
export function keepMemoryReducerWorking(): void {
	if (timer) return;
	const tick = () => new vm.Script("");
	tick();
	timer = setInterval(tick, INTERVAL_MS).unref();
}
