/**
 * Summarize CPU profiles written by `npm run bench -- --cpu-prof`:
 *   npx tsx bench/profile-summary.ts bench/results/prof-<time>/*.cpuprofile
 * Prints, per profile, the hottest functions and files by self time and the project's own
 * functions by inclusive time.
 */
import fs from "node:fs";
import path from "node:path";
import { summarize, type Hot } from "./lib/profile";

const ROOT = path.resolve(__dirname, "..");
const files = process.argv.slice(2);
if (files.length === 0) {
	console.error("usage: npx tsx bench/profile-summary.ts <file.cpuprofile>...");
	process.exit(2);
}
const table = (title: string, rows: Hot[]) => {
	console.log(`\n${title}`);
	for (const r of rows)
		console.log(
			`  ${r.pct.toFixed(1).padStart(5)}%  ${r.ms.toFixed(0).padStart(7)} ms  ${r.what}`
		);
};
for (const file of files) {
	const s = summarize(JSON.parse(fs.readFileSync(file, "utf8")), ROOT);
	console.log(
		`# ${file}: ${s.totalMs.toFixed(0)} ms sampled, ${s.idleMs.toFixed(0)} ms idle/program`
	);
	table("self time by function", s.byFunction);
	table("self time by file", s.byFile);
	table("inclusive time of project functions", s.ownInclusive);
	console.log();
}
