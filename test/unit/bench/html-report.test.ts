/// <reference lib="dom" />
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { chartGroups, htmlReport, writeHtml } from "../../../bench/lib/html-report";
import { GROUPS, Results } from "../../../bench/lib/report";
import { launch, openPage } from "../../browser/browser";

function sample(): Results {
	const r = new Results();
	r.add({
		id: "bare",
		group: GROUPS.baselines,
		name: "bare node:http",
		unit: "req/s",
		value: 40000,
		p99: 3
	});
	r.add({
		id: "read",
		group: GROUPS.read,
		name: "GET </script>",
		unit: "req/s",
		value: 20000,
		p99: 8,
		baselineId: "bare"
	});
	r.add({ id: "rss", group: GROUPS.memory, name: "RSS idle", unit: "MB", value: 169 });
	return r;
}

describe("the bench's HTML report", () => {
	it("groups each figure with its baseline and p99, in the table's order", () => {
		const groups = chartGroups(sample());
		expect(groups.map(g => g.group)).toEqual([GROUPS.baselines, GROUPS.read, GROUPS.memory]);
		expect(groups[1]).toMatchObject({
			values: [20000],
			baselines: [40000],
			p99: [8],
			baselineNames: ["bare node:http"]
		});
		expect(groups[2]).toMatchObject({ values: [169], baselines: [null], p99: [null] });
	});

	it("is written beside the JSON, with uPlot inlined and names escaped", () => {
		const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-html-"));
		const json = path.join(dir, "2026-12-03T07-00-00-000Z.json");
		const file = writeHtml(json, "run", sample());
		expect(file).toBe(json.replace(/\.json$/, ".html"));
		const html = fs.readFileSync(file, "utf8");
		expect(html).toContain("uPlot");
		expect(html).not.toMatch(/<script src=/);
		expect(html).not.toContain("GET </script>");
		fs.rmSync(dir, { recursive: true, force: true });
	});

	it("draws its charts in a browser without errors", async () => {
		const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-html-"));
		const file = path.join(dir, "r.html");
		fs.writeFileSync(file, htmlReport("run", sample()));
		const browser = await launch();
		try {
			const { page, errors } = await openPage(browser);
			await page.goto(`file://${file}`);
			expect(await page.locator(".uplot").count()).toBe(5);
			expect(errors).toEqual([]);
		} finally {
			await browser.close();
			fs.rmSync(dir, { recursive: true, force: true });
		}
	});
});
