/** @type {import("jest").Config} */
module.exports = {
	testEnvironment: "node",
	roots: ["<rootDir>/test"],
	testMatch: ["**/*.test.ts"],
	transform: { "^.+\\.ts$": ["@swc/jest"] },
	setupFiles: ["<rootDir>/test/helpers/env.ts"],
	testTimeout: 30000
};
