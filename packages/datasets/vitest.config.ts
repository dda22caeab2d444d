import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    // One fixed fast-check seed for every property test (FC_SEED overrides it locally).
    setupFiles: ["../../test-support/fast-check-seed.ts"],
    // Every temporary file of the run (the spawned CLI processes' too) under one directory, removed at the end.
    globalSetup: ["../../test-support/scratch-tmpdir.ts"],
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    // Guards against hangs, not speed bounds: the slowest test here takes under 10 s on the
    // idle 2-core VM, so a minute leaves room for a busy machine.
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
