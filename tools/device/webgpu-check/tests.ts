/**
 * Runs the tests a package's test file registered, on the GPU machine, the way vitest would: the
 * bundle (build.mjs) puts modules.ts and the test file (packages/policy-pi0fast/test/webgpu.test.ts,
 * with vitest aliased to vitest-shim.ts) before this entry, so every `describe`/`it` is registered
 * when this runs. No tool code imports from a package's test files; the test file is the bundle's input.
 * Prints PASS/FAIL/N/A per test and a JSON summary line; exit code 1 on a failure.
 *   node webgpu-tests.mjs            (SO101_ROOT: the so101 dataset directory, set by check.ts)
 */
import { runRegistered } from "./vitest-shim";

const t0 = performance.now();
const results = await runRegistered();
const count = (s: string) => results.filter((r) => r.status === s).length;
console.log(
  JSON.stringify({
    phase: "webgpu-tests",
    passed: count("passed"),
    failed: count("failed"),
    notRunOnDevice: results.filter((r) => r.status === "not run on device").map((r) => `${r.name}: ${r.error}`),
    seconds: (performance.now() - t0) / 1000,
  }),
);
process.exit(count("failed") > 0 || count("passed") === 0 ? 1 : 0);
