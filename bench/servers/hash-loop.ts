/**
 * Scale-out ceiling: the same hash chain as the `benchcpu` service, in a bare loop without any
 * broker. Usage: hash-loop.ts <rounds>. Prints READY; for every `go <ms>` line on stdin it hashes
 * for <ms> milliseconds and prints `RESULT {"calls":n,"ms":t}`.
 */
import readline from "node:readline";
import { hashChain } from "../services/hash-chain";
import { exitWithParent } from "./lifeline";

const rounds = Number(process.argv[2]);

readline.createInterface({ input: process.stdin }).on("line", line => {
	const m = /^go (\d+)$/.exec(line.trim());
	if (!m) return;
	const ms = Number(m[1]);
	const started = performance.now();
	let calls = 0;
	while (performance.now() - started < ms) {
		hashChain(`seed-${calls}`, rounds);
		calls++;
	}
	console.log(`RESULT ${JSON.stringify({ calls, ms: performance.now() - started })}`);
});
exitWithParent();
console.log("READY");
