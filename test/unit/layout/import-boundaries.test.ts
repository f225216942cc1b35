import { execFile } from "node:child_process";
import path from "node:path";

const ROOT = path.resolve(__dirname, "../../..");
const ESLINT = path.join(ROOT, "node_modules/eslint/bin/eslint.js");

/** Lints `code` as if it were the file at `filePath`; the messages of the boundary rule. */
async function boundaryErrors(filePath: string, code: string): Promise<string[]> {
	const stdout = await new Promise<string>((resolve, reject) => {
		const child = execFile(
			process.execPath,
			[ESLINT, "--format", "json", "--stdin", "--stdin-filename", filePath],
			{ cwd: ROOT, timeout: 50_000 },
			// eslint exits 1 when it found errors: its JSON is on stdout either way.
			(err, out) => (out ? resolve(out) : reject(err))
		);
		child.stdin!.end(code);
	});
	const [result] = JSON.parse(stdout) as { messages: { ruleId: string; message: string }[] }[];
	return result.messages.filter(m => m.ruleId === "no-restricted-imports").map(m => m.message);
}

describe("import boundaries (npm run lint)", () => {
	jest.setTimeout(60_000);

	it("refuse a service importing another service's folder", async () => {
		const errors = await boundaryErrors(
			"services/api/example.ts",
			'import { ORDER_STATUSES } from "../orders/order-state";\nexport const x = ORDER_STATUSES;\n'
		);
		expect(errors).toEqual([expect.stringContaining("through the broker")]);
	});

	it("refuse the platform importing a service, and the runtime importing scripts/", async () => {
		expect(
			await boundaryErrors(
				"platform/runtime/example.ts",
				'import schema from "../../services/users/users.service";\nexport default schema;\n'
			)
		).toHaveLength(1);
		expect(
			await boundaryErrors(
				"moleculer.config.ts",
				'import { x } from "./scripts/cluster-lib";\nexport default x;\n'
			)
		).toHaveLength(1);
	});

	it("let a service import contracts/, platform/ and its own folder", async () => {
		const errors = await boundaryErrors(
			"services/orders/example.ts",
			[
				'import { ORDER_STATUSES } from "../../contracts/statuses";',
				'import { nowIso } from "../../platform/runtime/clock";',
				'import { priceOrder } from "./order-state";',
				"export const x = [ORDER_STATUSES, nowIso, priceOrder];",
				""
			].join("\n")
		);
		expect(errors).toEqual([]);
	});
});
