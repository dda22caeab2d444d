import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    // One fixed fast-check seed for every property test (FC_SEED overrides it locally).
    setupFiles: ["../../test-support/fast-check-seed.ts"],
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    // Guards against hangs, not speed bounds: tests must pass on a slow, shared machine.
    testTimeout: 600_000,
    hookTimeout: 600_000,
  },
});
