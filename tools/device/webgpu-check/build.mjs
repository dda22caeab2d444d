// Prepares .device/ at the repository root for one WebGPU run on the GPU machine (issue 10):
//   node tools/device/webgpu-check/build.mjs
// then, in the run (with `.device` carried):
//   source .device/prelude.sh; cd .device && node webgpu-check.mjs
// and, to try it here first on Mesa's llvmpipe: (cd .device && node webgpu-check.mjs --dry)
//
// ../shared/device/pack.sh supplies node, the Vulkan loader .deb, webgpu's index.js + dawn.node and
// prelude.sh; the entries are bundled here with esbuild's API (the same settings as pack.sh:
// tfjs resolved to its ESM build, `webgpu` external, a `require` banner) plus two things pack.sh's
// command line cannot do: `vitest` aliased to vitest-shim.ts for the bundled test file (the
// so101 reader, test-support/so101.ts, finds the dataset copied into .device/data/ at $SO101_ROOT), and
// @craft/policy-pi0fast's public entries compiled from its sources (one module instance).
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const top = resolve(here, "../../..");
const device = join(top, ".device");
const pack = resolve(top, "../shared/device/pack.sh");
if (!existsSync(pack)) throw new Error(`build.mjs: expected ${pack} (the shared device tooling), not found`);

const r = spawnSync("bash", [pack], { cwd: top, stdio: "inherit" });
if (r.status !== 0) throw new Error(`build.mjs: ${pack} failed (exit ${r.status})`);

const { build } = await import("esbuild");
// The tools name only @craft/policy-pi0fast's public entries; the bundle compiles them from the
// package's sources, so the bundled webgpu.test.ts (which imports src/ directly) and the tools'
// imports share one instance of each module (the backend's registry of optional modules above all).
const policySources = {
  name: "policy-public-entries-from-src",
  setup(b) {
    const src = join(top, "packages/policy-pi0fast/src");
    const files = { "": "index.ts", "/backend": "backend-index.ts", "/model": "model-index.ts" };
    b.onResolve({ filter: /^@craft\/policy-pi0fast(\/backend|\/model)?$/ }, (args) => ({
      path: join(src, files[args.path.slice("@craft/policy-pi0fast".length)]),
    }));
  },
};
// The policy package's own WebGPU test file is an input of the webgpu-tests bundle, evaluated
// (after modules.ts) before tests.ts runs what it registered, as vitest would run it.
const policyWebgpuTests = join(top, "packages/policy-pi0fast/test/webgpu.test.ts");
const entries = {
  "webgpu-check": { entry: join(here, "check.ts") },
  "webgpu-tests": { entry: join(here, "tests.ts"), before: [join(here, "modules.ts"), policyWebgpuTests] },
  "webgpu-step": { entry: join(top, "tools/bench/step-vs-pytorch/webgpu-step.ts") },
  "webgpu-matmul": { entry: join(top, "tools/bench/step-vs-pytorch/webgpu-matmul.ts") },
};
for (const [name, { entry, before = [] }] of Object.entries(entries)) {
  await build({
    entryPoints: [entry],
    inject: before,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    mainFields: ["module", "main"],
    external: ["webgpu"],
    alias: { vitest: join(here, "vitest-shim.ts") },
    plugins: [policySources],
    banner: { js: "import {createRequire as __cr} from 'module'; const require = __cr(import.meta.url);" },
    outfile: join(device, `${name}.mjs`),
    logLevel: "warning",
  });
}
cpSync(join(top, "tools/bench/step-vs-pytorch/webgpu-twin.py"), join(device, "webgpu-twin.py"));
cpSync(join(top, "tools/bench/step-vs-pytorch/twin_model.py"), join(device, "twin_model.py"));
const data = join(device, "data/so101-pick-orange-cube");
mkdirSync(data, { recursive: true });
cpSync(resolve(top, "../shared/datasets/so101-pick-orange-cube"), data, { recursive: true });

const du = spawnSync("du", ["-sh", device], { encoding: "utf8" }).stdout.trim();
for (const name of Object.keys(entries)) console.log(`${name}.mjs ${(statSync(join(device, `${name}.mjs`)).size / 1e6).toFixed(1)} MB`);
console.log(`.device: ${du} (must stay under 64 MiB with everything else carried)`);
