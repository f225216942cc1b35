/**
 * Where the time goes in a V8 CPU profile (`--cpu-prof`): self time per function and per file,
 * and total (inclusive) time of the project's own functions. Pure: takes the parsed profile.
 */
export interface CpuProfile {
	nodes: {
		id: number;
		callFrame: { functionName: string; url: string; lineNumber: number };
		children?: number[];
	}[];
	samples: number[];
	timeDeltas: number[];
}

export interface Hot {
	what: string;
	ms: number;
	pct: number;
}

export interface ProfileSummary {
	totalMs: number;
	idleMs: number;
	byFunction: Hot[];
	byFile: Hot[];
	/** Inclusive time of functions in project files (not node_modules, not node:). */
	ownInclusive: Hot[];
}

function shortUrl(url: string, root: string): string {
	if (!url) return "(native)";
	let u = url.replace(/^file:\/\//, "");
	if (u.startsWith(root)) u = u.slice(root.length + 1);
	const nm = u.lastIndexOf("node_modules/");
	return nm >= 0 ? u.slice(nm + "node_modules/".length) : u;
}

function isOwn(url: string, root: string): boolean {
	const u = url.replace(/^file:\/\//, "");
	return u.startsWith(root) && !u.includes("node_modules/");
}

export function summarize(profile: CpuProfile, root: string, top = 25): ProfileSummary {
	const byId = new Map(profile.nodes.map(n => [n.id, n]));
	const parent = new Map<number, number>();
	for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

	const selfUs = new Map<number, number>();
	profile.samples.forEach((id, i) => {
		selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
	});

	const fn = new Map<string, number>();
	const file = new Map<string, number>();
	const own = new Map<string, number>();
	let total = 0;
	let idle = 0;
	for (const [id, us] of selfUs) {
		const node = byId.get(id)!;
		const { functionName, url, lineNumber } = node.callFrame;
		total += us;
		if (functionName === "(idle)" || functionName === "(program)") idle += us;
		const where = shortUrl(url, root);
		const key = `${functionName || "(anonymous)"} ${where}:${lineNumber + 1}`;
		fn.set(key, (fn.get(key) ?? 0) + us);
		file.set(where, (file.get(where) ?? 0) + us);
		// Inclusive time of project functions: charge each distinct own frame on the stack once.
		const seen = new Set<string>();
		for (let cur: number | undefined = id; cur != null; cur = parent.get(cur)) {
			const f = byId.get(cur)!.callFrame;
			if (!isOwn(f.url, root)) continue;
			const k = `${f.functionName || "(anonymous)"} ${shortUrl(f.url, root)}:${f.lineNumber + 1}`;
			if (seen.has(k)) continue;
			seen.add(k);
			own.set(k, (own.get(k) ?? 0) + us);
		}
	}
	const rank = (m: Map<string, number>): Hot[] =>
		[...m.entries()]
			.sort((a, b) => b[1] - a[1])
			.slice(0, top)
			.map(([what, us]) => ({ what, ms: us / 1000, pct: (100 * us) / (total || 1) }));
	return {
		totalMs: total / 1000,
		idleMs: idle / 1000,
		byFunction: rank(fn),
		byFile: rank(file),
		ownInclusive: rank(own)
	};
}
