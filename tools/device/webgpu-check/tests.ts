/**
 * packages/policy-pi0fast/test/webgpu.test.ts, bundled with vitest aliased to vitest-shim.ts, for
 * the GPU machine. Prints PASS/FAIL/N/A per test and a JSON summary line; exit code 1 on a failure.
 *   node webgpu-tests.mjs            (SO101_ROOT: the so101 dataset directory, set by check.ts)
 */
import "./modules";
import { runRegistered } from "./vitest-shim";
import "../../../packages/policy-pi0fast/test/webgpu.test";

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
