import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    // One fixed fast-check seed for every property test (FC_SEED overrides it locally).
    setupFiles: ["../../test-support/fast-check-seed.ts"],
    // Every temporary file of the run (the spawned CLI processes' too) under one directory, removed at the end.
    globalSetup: ["../../test-support/scratch-tmpdir.ts"],
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    // A guard against hangs, not a speed bound: tests are kept small (the experiment runs its
    // `smoke` preset, training runs take a few micro steps); the slowest, the README blocks, take
    // under two minutes on the idle 2-core VM.
    testTimeout: 240_000,
    // The same guard for hooks: the README check copies the repository in beforeAll and removes the
    // copy (node_modules included) in afterAll, which takes far more than vitest's 10 s on a loaded machine.
    hookTimeout: 240_000,
  },
});
