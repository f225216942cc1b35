/**
 * The bench run as an HTML page beside its JSON (bench/results/<time>.html): per section of the
 * table, a uPlot bar chart of each figure beside its baseline (log scale: baselines are often
 * orders of magnitude apart) and one of p99 latency, then the table. uPlot is inlined from the
 * pinned package, so the file opens offline, from disk.
 */
import fs from "node:fs";
import path from "node:path";
import { GROUPS, type Results } from "./report";

const UPLOT_DIR = path.join(path.dirname(require.resolve("uplot/package.json")), "dist");

export interface ChartGroup {
	group: string;
	unit: string;
	labels: string[];
	values: number[];
	baselines: (number | null)[];
	baselineNames: (string | null)[];
	p99: (number | null)[];
}

/** Per section: the figures, their baselines' values and their p99, in the table's order. */
export function chartGroups(results: Results): ChartGroup[] {
	const rows = results.resolved();
	const order: string[] = Object.values(GROUPS);
	const rank = (g: string) => (order.includes(g) ? order.indexOf(g) : order.length);
	const groups = [...new Set(rows.map(r => r.group))].sort((a, b) => rank(a) - rank(b));
	return groups.map(group => {
		const inGroup = rows.filter(r => r.group === group);
		return {
			group,
			unit: [...new Set(inGroup.map(r => r.unit))].join(", "),
			labels: inGroup.map(r => r.name),
			values: inGroup.map(r => r.value),
			baselines: inGroup.map(r => r.baseline?.value ?? null),
			baselineNames: inGroup.map(r => r.baseline?.name ?? null),
			p99: inGroup.map(r => r.p99 ?? null)
		};
	});
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, c => `&#${c.charCodeAt(0)};`);

/** JSON that can sit inside a <script> element. */
const scriptJson = (value: unknown) => JSON.stringify(value).replace(/</g, "\\u003c");

export function htmlReport(title: string, results: Results): string {
	const groups = chartGroups(results);
	const css = fs.readFileSync(path.join(UPLOT_DIR, "uPlot.min.css"), "utf8");
	const js = fs.readFileSync(path.join(UPLOT_DIR, "uPlot.iife.min.js"), "utf8");
	const sections = groups
		.map(
			(g, i) => `<section>
<h2>${escapeHtml(g.group)}</h2>
<h3>Throughput (${escapeHtml(g.unit)}) beside the baseline</h3><div id="value-${i}"></div>
${g.p99.some(p => p != null) ? `<h3>p99 latency (ms)</h3><div id="p99-${i}"></div>` : ""}
<table><thead><tr><th>#</th><th>figure</th><th>value</th><th>p99 ms</th><th>baseline</th></tr></thead><tbody>
${g.labels
	.map(
		(label, j) =>
			`<tr><td>${j + 1}</td><td>${escapeHtml(label)}</td><td>${g.values[j].toFixed(1)}</td><td>${g.p99[j]?.toFixed(1) ?? "–"}</td><td>${g.baselineNames[j] ? `${escapeHtml(g.baselineNames[j]!)}: ${g.baselines[j]!.toFixed(1)}` : "–"}</td></tr>`
	)
	.join("\n")}
</tbody></table>
</section>`
		)
		.join("\n");
	return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escapeHtml(title)}</title>
<style>${css}
body { font: 14px/1.4 system-ui, sans-serif; margin: 1em 2em; }
table { border-collapse: collapse; } td, th { padding: 2px 8px; border-bottom: 1px solid #eee; text-align: left; }
</style>
</head>
<body>
<h1>${escapeHtml(title)}</h1>
${sections}
<script>${js}</script>
<script>
const GROUPS = ${scriptJson(groups)};
const bars = (offset) => uPlot.paths.bars({ size: [0.35, 60], align: offset });
const axes = (labels, log) => [
	{ values: (u, splits) => splits.map(i => (Number.isInteger(i) && labels[i] ? "#" + (i + 1) : "")) },
	{ size: 70 }
];
GROUPS.forEach((g, i) => {
	const x = g.labels.map((_, j) => j);
	new uPlot({
		width: 900, height: 260,
		scales: { x: { time: false, range: [-0.5, g.labels.length - 0.5] }, y: { distr: 3 } },
		axes: axes(g.labels, true),
		series: [
			{ label: "figure", value: (u, v) => (v == null ? "" : g.labels[v] || "") },
			{ label: "value", fill: "#1f77b4aa", stroke: "#1f77b4", paths: bars(-1), points: { show: false } },
			{ label: "baseline", fill: "#ff7f0eaa", stroke: "#ff7f0e", paths: bars(1), points: { show: false } }
		]
	}, [x, g.values, g.baselines], document.getElementById("value-" + i));
	const el = document.getElementById("p99-" + i);
	if (el) new uPlot({
		width: 900, height: 200,
		scales: { x: { time: false, range: [-0.5, g.labels.length - 0.5] } },
		axes: axes(g.labels, false),
		series: [
			{ label: "figure", value: (u, v) => (v == null ? "" : g.labels[v] || "") },
			{ label: "p99 ms", fill: "#d62728aa", stroke: "#d62728", paths: bars(0), points: { show: false } }
		]
	}, [x, g.p99], el);
});
</script>
</body>
</html>
`;
}

/** Write the page beside the run's JSON file (same name, .html); returns its path. */
export function writeHtml(jsonFile: string, title: string, results: Results): string {
	const file = jsonFile.replace(/\.json$/, ".html");
	fs.writeFileSync(file, htmlReport(title, results));
	return file;
}
