import js from "@eslint/js";
import globals from "globals";
import tseslint from "typescript-eslint";

// Import boundaries: a service reaches another only through the broker, so it imports contracts/
// and platform/, never another service's folder; platform/ and contracts/ never import a service;
// nothing that runs in production imports scripts/, bench/ or test/.
const SERVICES = ["api", "users", "orders", "payments", "inventory", "notifications"];
const OUTSIDE_RUNTIME = ["scripts", "bench", "test"].flatMap(dir => [`**/${dir}`, `**/${dir}/**`]);
const boundary = (patterns, message) => ({
	"no-restricted-imports": ["error", { patterns: [{ group: patterns, message }] }]
});
const boundaries = [
	...SERVICES.map(svc => ({
		files: [`services/${svc}/**/*.ts`],
		rules: boundary(
			[
				...SERVICES.filter(other => other !== svc).flatMap(o => [`**/${o}`, `**/${o}/**`]),
				...OUTSIDE_RUNTIME
			],
			"A service imports contracts/ and platform/ only: reach another service through the broker."
		)
	})),
	{
		files: ["platform/**/*.ts", "contracts/**/*.ts", "moleculer.config.ts"],
		rules: boundary(
			["**/services", "**/services/**", ...OUTSIDE_RUNTIME],
			"The platform and the contracts never depend on a service, nor the runtime on scripts/, bench/ or test/."
		)
	}
];

export default tseslint.config(
	{ ignores: ["node_modules/", "dist/", "data/", "coverage/", "bench/results/"] },
	js.configs.recommended,
	...tseslint.configs.recommended,
	{
		languageOptions: { globals: { ...globals.node, ...globals.jest } },
		rules: {
			"@typescript-eslint/no-explicit-any": "off",
			"@typescript-eslint/no-unused-vars": [
				"error",
				{ argsIgnorePattern: "^_", varsIgnorePattern: "^_" }
			],
			"no-console": "off"
		}
	},
	...boundaries,
	{
		// The operator console's page script runs in the browser, with uPlot loaded before it.
		files: ["services/api/ops-page/**/*.js"],
		languageOptions: { globals: { ...globals.browser, uPlot: "readonly" } }
	},
	{
		files: ["**/*.js"],
		rules: { "@typescript-eslint/no-require-imports": "off" }
	}
);
