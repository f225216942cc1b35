/**
 * Figures of one bench run: each beside its baseline (measured in the same run) and the ratio,
 * with the issue's targets checked. Printed as a Markdown table and written as JSON.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { LoadResult } from "./load";
import { ratio } from "./stats";

export type Unit =
	"req/s" | "calls/s" | "orders/s" | "hashes/s" | "MB" | "ms" | "requests" | "events";

/** Sections of the table, in this order. */
export const GROUPS = {
	baselines: "Baselines (same run, same machine)",
	gateway: "Gateway overhead (c64)",
	read: "Read path (c64)",
	write: "Write path: POST /api/orders",
	scale: "Scale-out: CPU-bound action",
	memory: "Memory: RSS per node",
	faults: "Faults under load: kill -9, kill -STOP, a consumer and a nats-server lost"
} as const;

export interface Target {
	text: string;
	holds: boolean;
}

export interface Row {
	id: string;
	group: string;
	name: string;
	unit: Unit;
	value: number;
	p50?: number;
	p99?: number;
	/** Non-2xx answers, failed calls, connection errors and timeouts. */
	errors?: number;
	baselineId?: string;
	/** The bare node:http figure measured in alternating slices with this one. */
	pairedBare?: number;
	targets?: Target[];
	note?: string;
	/** Write path: CPU time per order of each process of the stack, in ms. */
	cpuPerOrderMs?: Record<string, number>;
	load?: LoadResult;
}

export interface ResolvedRow extends Row {
	baseline?: { id: string; name: string; value: number };
	ratio?: number;
}

export class Results {
	readonly rows: Row[] = [];
	readonly notes: string[] = [];

	add(row: Row): Row {
		this.rows.push(row);
		return row;
	}

	get(id: string): Row | undefined {
		return this.rows.find(r => r.id === id);
	}

	resolved(): ResolvedRow[] {
		return this.rows.map(row => {
			const base = row.baselineId
				? this.get(row.baselineId)
				: row.pairedBare != null
					? {
							id: "bare.paired",
							name: "bare node:http, same slices",
							value: row.pairedBare
						}
					: undefined;
			return base
				? {
						...row,
						baseline: { id: base.id, name: base.name, value: base.value },
						ratio: ratio(row.value, base.value)
					}
				: row;
		});
	}
}

/** A row's figure from a load run, with the error count of that run. */
export function fromLoad(
	load: LoadResult,
	row: Omit<Row, "value" | "p50" | "p99" | "errors" | "load">
): Row {
	return {
		...row,
		value: load.rps,
		p50: load.p50,
		p99: load.p99,
		errors: load.non2xx + load.errors,
		load
	};
}

const fmtNum = (n: number | undefined, unit?: Unit): string => {
	if (n == null || !Number.isFinite(n)) return "–";
	if (unit === "MB") return `${n.toFixed(0)} MB`;
	if (n >= 100) return Math.round(n).toLocaleString("en-US");
	if (n >= 10) return n.toFixed(1);
	return n.toFixed(2);
};

const fmtRatio = (r: number | undefined): string => {
	if (r == null) return "–";
	return r >= 0.1 ? `${(r * 100).toFixed(0)}%` : `${(r * 100).toFixed(1)}%`;
};

/** The figures as Markdown tables, one per group. */
export function markdown(results: Results): string {
	const out: string[] = [];
	const rows = results.resolved();
	const order: string[] = Object.values(GROUPS);
	const rank = (g: string) => (order.includes(g) ? order.indexOf(g) : order.length);
	const groups = [...new Set(rows.map(r => r.group))].sort((a, b) => rank(a) - rank(b));
	for (const group of groups) {
		out.push(`### ${group}`, "");
		out.push("| figure | value | p50 ms | p99 ms | errors | baseline | ratio | target |");
		out.push("| --- | ---: | ---: | ---: | ---: | --- | ---: | --- |");
		for (const r of rows.filter(x => x.group === group)) {
			const value = r.unit === "MB" ? fmtNum(r.value, "MB") : `${fmtNum(r.value)} ${r.unit}`;
			const baseline = r.baseline
				? `${r.baseline.name}: ${fmtNum(r.baseline.value, r.unit === "MB" ? "MB" : undefined)}`
				: "–";
			const targets = (r.targets ?? [])
				.map(t => `${t.holds ? "✅" : "❌"} ${t.text}`)
				.join("<br>");
			out.push(
				`| ${r.name}${r.note ? ` (${r.note})` : ""} | ${value} | ${fmtNum(r.p50)} | ${fmtNum(r.p99)} | ${r.errors ?? "–"} | ${baseline} | ${fmtRatio(r.ratio)} | ${targets || "–"} |`
			);
		}
		out.push("");
	}
	if (results.notes.length) out.push(...results.notes.map(n => `- ${n}`), "");
	return out.join("\n");
}

export interface RunInfo {
	startedAt: string;
	finishedAt: string;
	argv: string[];
	durationS: number;
	warmupS: number;
	scenarios: string[];
}

/** Write the run as JSON into bench/results/<timestamp>.json; returns the path. */
export function writeJson(dir: string, info: RunInfo, results: Results): string {
	fs.mkdirSync(dir, { recursive: true });
	const file = path.join(dir, `${info.startedAt.replace(/[:.]/g, "-")}.json`);
	const cpus = os.cpus();
	const doc = {
		...info,
		machine: {
			cpuModel: cpus[0]?.model ?? "unknown",
			cpus: cpus.length,
			totalMemMB: Math.round(os.totalmem() / 2 ** 20),
			loadAvgAtEnd: os.loadavg(),
			platform: `${os.platform()} ${os.release()}`
		},
		node: process.version,
		figures: results.resolved(),
		notes: results.notes
	};
	fs.writeFileSync(file, JSON.stringify(doc, null, "\t") + "\n");
	return file;
}
