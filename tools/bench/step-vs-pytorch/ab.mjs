// A/B of the model code at two commits in ONE process: the tiny preset's training step (forward +
// backward) with src/model/{ops,attention}.ts as of --before (default: the commit before the fused
// ops) against the working tree, on the same wasm backend and kernels, steps interleaved A, B, A, B…,
// median CPU and wall time per step. A ratio taken this way is meaningful on a loaded machine, where
// absolute times are not.
// Usage (from the repository root; builds both into ./dist, plus the backend entry the step bench builds):
//   node tools/bench/step-vs-pytorch/ab.mjs [--before <commit>] [--steps 5] [--no-blas] [--threads 1]
import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { syntheticInputs } from "./inputs.mjs";
import { importModelPackage } from "./model-package.mjs";

const argv = process.argv.slice(2);
const arg = (name, fallback) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : fallback;
};
process.env.OPENBLAS_NUM_THREADS = arg("threads", "1");
const BEFORE = arg("before", "9cc8a1a");
const STEPS = Number(arg("steps", "5"));
const FILES = ["src/model/ops.ts", "src/model/attention.ts"];

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "../../..");
// The OpenBLAS addon is found from the package directory (src/backend/nativeBlas.ts).
process.chdir(join(root, "packages/policy-pi0fast"));
const packageDir = join(root, "packages/policy-pi0fast");

/**
 * The package's current src, with FILES as of `commit` when given, bundled under ./dist/<name> (so
 * node_modules resolve; independent of the package's own dist, which other builds may be replacing).
 */
function buildModel(name, commit) {
  const work = join(here, "dist", name);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  cpSync(join(packageDir, "src"), join(work, "src"), { recursive: true });
  for (const f of commit === undefined ? [] : FILES) {
    writeFileSync(join(work, f), execFileSync("git", ["show", `${commit}:packages/policy-pi0fast/${f}`], { cwd: root }));
  }
  // The package's own externals, and its tsup option that bundles tfjs-core's gradient registrations.
  const pkgJson = JSON.parse(readFileSync(join(packageDir, "package.json"), "utf8"));
  writeFileSync(
    join(work, "package.json"),
    JSON.stringify({
      name: `pi0fast-${name}`,
      type: "module",
      dependencies: pkgJson.dependencies,
      tsup: { entry: { index: "src/index.ts", model: "src/model-index.ts" }, format: ["esm"], target: "node20", outDir: "out", noExternal: ["@tensorflow/tfjs-core/dist/register_all_gradients"] },
    }),
  );
  const r = spawnSync("npx", ["tsup", "--silent"], { cwd: work, stdio: "inherit" });
  if (r.status !== 0) throw new Error(`tsup build of the ${name} model failed`);
  return join(work, "out/index.js");
}

const beforeEntry = buildModel("before", BEFORE);
const afterEntry = buildModel("after", undefined);
const tf = await import("@tensorflow/tfjs-core");
const backend = await import(pathToFileURL(join(here, "dist/backend/backend-index.js")).href);
const info = await backend.initBackend("wasm", { nativeBlas: !argv.includes("--no-blas") });
const before = await importModelPackage(beforeEntry);
const after = await importModelPackage(afterEntry);

const B = 8;
function makeStep(pkg) {
  const config = pkg.pi0FastConfig({ preset: "tiny" });
  const shapes = pkg.parameterShapes(config);
  const values = pkg.initParameters(config, 0);
  const params = {};
  for (const [name, shape] of Object.entries(shapes)) params[name] = tf.variable(tf.tensor(values[name], shape), true);
  const inputs = syntheticInputs(config, B);
  const vars = Object.values(params);
  return () => {
    const { value, grads } = tf.variableGrads(() => pkg.actionLoss(params, config, inputs).loss, vars);
    const loss = value.dataSync()[0];
    const gradSum = Object.values(grads).reduce((s, g) => s + tf.sum(tf.abs(g)).dataSync()[0], 0);
    tf.dispose([value, ...Object.values(grads)]);
    return { loss, gradSum };
  };
}

const runs = { before: { step: makeStep(before), cpu: [], wall: [] }, after: { step: makeStep(after), cpu: [], wall: [] } };
const check = { before: runs.before.step(), after: runs.after.step() };
const loadBefore = loadavg()[0];
for (let i = 0; i < STEPS; i++) {
  for (const r of i % 2 === 0 ? [runs.before, runs.after] : [runs.after, runs.before]) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    r.step();
    const c = process.cpuUsage(c0);
    r.wall.push(performance.now() - t0);
    r.cpu.push((c.user + c.system) / 1000);
  }
}
const loadAfter = loadavg()[0];
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(backend.describeBackend(info));
console.log(`model code before = ${BEFORE} (${FILES.join(", ")}), after = working tree; ${STEPS} steps each, interleaved; OPENBLAS_NUM_THREADS=${process.env.OPENBLAS_NUM_THREADS}; load ${loadBefore.toFixed(1)}→${loadAfter.toFixed(1)}`);
console.log(`same loss and gradients: loss ${check.before.loss} vs ${check.after.loss}, Σ|grad| ${check.before.gradSum.toFixed(6)} vs ${check.after.gradSum.toFixed(6)}`);
for (const [name, r] of Object.entries(runs)) {
  console.log(`${name.padEnd(7)} CPU ${median(r.cpu).toFixed(0)} ms/step (${r.cpu.map((x) => x.toFixed(0)).join(", ")}), wall ${median(r.wall).toFixed(0)} ms/step`);
}
console.log(`after/before: CPU ${(median(runs.after.cpu) / median(runs.before.cpu)).toFixed(3)}, wall ${(median(runs.after.wall) / median(runs.before.wall)).toFixed(3)}${Math.max(loadBefore, loadAfter) > 1.5 ? " (wall not comparable: load > 1.5)" : ""}`);
