// Three projects: `unit` needs nothing running; `integration` starts real local servers (tests/harness); `smoke`
// checks the whole pipeline on a local stack it starts itself, or on a deployed one (tests/smoke/target.ts).
const transform = { "^.+\\.ts$": ["ts-jest", { useESM: true, diagnostics: false }] };
const common = {
  extensionsToTreatAsEsm: [".ts"],
  transform,
  testEnvironment: "node",
  setupFiles: ["<rootDir>/tests/harness/env.ts"],
};

export default {
  testTimeout: 300000,
  projects: [
    {
      ...common,
      displayName: "unit",
      testMatch: [
        "<rootDir>/layers/**/*.test.ts",
        "<rootDir>/functions/**/*.test.ts",
        "<rootDir>/tests/unit/**/*.test.ts",
      ],
    },
    {
      ...common,
      displayName: "integration",
      testMatch: ["<rootDir>/tests/integration/**/*.test.ts"],
      globalSetup: "<rootDir>/tests/harness/global-setup.mjs",
      globalTeardown: "<rootDir>/tests/harness/global-teardown.mjs",
    },
    {
      ...common,
      displayName: "smoke",
      testMatch: ["<rootDir>/tests/smoke/**/*.test.ts"],
    },
  ],
};
