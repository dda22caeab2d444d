import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: {
    // Test against craft-core's source, so a stale craft-core build cannot hide a mismatch.
    alias: { "@craft/craft-core": fileURLToPath(new URL("../craft-core/src/index.ts", import.meta.url)) },
  },
  test: {
    // Every temporary file of the run (the spawned CLI processes' too) under one directory, removed at the end.
    globalSetup: ["../../test-support/scratch-tmpdir.ts"],
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    // Guards against hangs, not speed bounds: the slowest test here takes about 10 s on the idle
    // 2-core VM, so two minutes leave room for a busy machine.
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
