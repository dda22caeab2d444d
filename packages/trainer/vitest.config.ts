import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: {
    // Test against craft-core's source, so a stale craft-core build cannot hide a mismatch.
    alias: { "@craft/craft-core": fileURLToPath(new URL("../craft-core/src/index.ts", import.meta.url)) },
  },
  test: {
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    // Guards against hangs, not speed bounds: tests must pass on a slow, shared machine.
    testTimeout: 600_000,
    hookTimeout: 600_000,
  },
});
