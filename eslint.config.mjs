import js from "@eslint/js";
import globals from "globals";
import tseslint from "typescript-eslint";

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
