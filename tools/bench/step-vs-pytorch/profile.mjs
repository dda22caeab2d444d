// Where one training step of the package's tiny model goes on wasm, by op class: matmuls, attention
// softmax, attention layout (transposes), norms, GELU, RoPE, embedding/gather, loss, AdamW and JS↔wasm
// copies (tensor uploads, gradient read-outs). The step is the trainer's: forward + backward
// (tf.variableGrads), gradients read out, the trainer's AdamW on Float32Arrays, parameters written back.
// Usage (from packages/policy-pi0fast, after `npm run build` and a step bench run built ./dist):
//   node ../../tools/bench/step-vs-pytorch/profile.mjs [--no-blas] [--stock] [--steps 3] [--threads 1] [--model <entry>]
// Every wasm kernel is wrapped to time its outermost calls in CPU time (process.cpuUsage) and wall
// time. CPU time resists a loaded machine; with --threads 1 (default) the step is single-threaded,
// so CPU time is what an idle machine's wall time would be. A kernel's class is the label the model
// code sets (inOpClass in src/model/ops.ts) at the time of the forward op; backward kernels inherit
// their forward op's class through the tape. Unlabelled kernels are "other: <kernel>".
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
const THREADS = arg("threads", "1");
// Read by OpenBLAS when the addon loads (below), so set before it does.
process.env.OPENBLAS_NUM_THREADS = THREADS;
const STEPS = Number(arg("steps", "3"));

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "../../..");
// The OpenBLAS addon is found from the package directory (src/backend/nativeBlas.ts).
process.chdir(join(root, "packages/policy-pi0fast"));
const tf = await import("@tensorflow/tfjs-core");
const backend = await import(pathToFileURL(process.env.PI0FAST_ENTRY ?? join(here, "dist/backend/backend-index.js")).href);
const info = await backend.initBackend("wasm", {
  nativeBlas: !argv.includes("--no-blas"),
  // --no-blas: the wasm kernels alone (neither OpenBLAS nor ONNX Runtime's sgemm).
  onnxruntime: !argv.includes("--no-blas"),
  ...(argv.includes("--stock") ? { patchKernels: "missing-only" } : {}),
});
// --model <entry>: another build of the package (e.g. ab.mjs's dist/before/out/index.js).
const pkg = await importModelPackage(resolve(root, arg("model", "packages/policy-pi0fast/dist/index.js")));
const trainer = await import("@craft/trainer");
const loadBefore = loadavg()[0];

const OP_CLASS = Symbol.for("craft.policy-pi0fast.opClass");
const engine = tf.engine();
/** The class of the op running now: the model's label, else a tfjs op scope we know, else none. */
const currentClass = () => {
  const label = globalThis[OP_CLASS];
  if (label !== undefined) return label;
  const scopes = engine.state.scopeStack.map((s) => s.name);
  if (scopes.some((n) => n.startsWith("logSoftmax"))) return "loss";
  return undefined;
};

// Backward kernels run in the class of the forward op that recorded the tape node.
let backwardClass;
const addTapeNode = engine.addTapeNode.bind(engine);
engine.addTapeNode = (...args) => {
  addTapeNode(...args);
  const node = engine.state.activeTape.at(-1);
  const cls = currentClass();
  const gradient = node.gradient;
  if (gradient === undefined || cls === undefined) return;
  const inClass = (f) => () => {
    const outer = backwardClass;
    backwardClass = cls;
    try {
      return f();
    } finally {
      backwardClass = outer;
    }
  };
  node.gradient = (dys) => {
    const thunks = inClass(() => gradient(dys))();
    return Object.fromEntries(Object.entries(thunks).map(([k, f]) => [k, inClass(f)]));
  };
};

const totals = new Map(); // class → {cpu, wall, calls}
let depth = 0;
const timed = (cls, f) => {
  if (depth > 0) return f();
  depth++;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  try {
    return f();
  } finally {
    const wall = performance.now() - t0;
    const c = process.cpuUsage(c0);
    depth--;
    const e = totals.get(cls) ?? { cpu: 0, wall: 0, calls: 0 };
    e.cpu += (c.user + c.system) / 1000;
    e.wall += wall;
    e.calls++;
    totals.set(cls, e);
  }
};
for (const config of tf.getKernelsForBackend("wasm")) {
  const kernelFunc = config.kernelFunc;
  tf.unregisterKernel(config.kernelName, "wasm");
  tf.registerKernel({
    ...config,
    kernelFunc: (args) => timed(globalThis[OP_CLASS] ?? backwardClass ?? currentClass() ?? `other: ${config.kernelName}`, () => kernelFunc(args)),
  });
}
const wasmBackend = tf.backend();
for (const method of ["move", "readSync"]) {
  const original = wasmBackend[method].bind(wasmBackend);
  wasmBackend[method] = (...args) => timed("JS↔wasm copies", () => original(...args));
}

const config = pkg.pi0FastConfig({ preset: "tiny" });
const shapes = pkg.parameterShapes(config);
const values = pkg.initParameters(config, 0);
const params = {};
for (const [name, shape] of Object.entries(shapes)) params[name] = tf.variable(tf.tensor(values[name], shape), true, name);
const B = 8;
const inputs = syntheticInputs(config, B);
const names = Object.keys(params);
const vars = names.map((n) => params[n]);
const host = Object.fromEntries(names.map((n) => [n, Float32Array.from(values[n])]));
const adamState = trainer.createAdamWState();
const optimizer = { lr: 2.5e-5, betas: [0.9, 0.95], eps: 1e-8, weight_decay: 0.01 };

const step = () => {
  const { value, grads } = tf.variableGrads(() => pkg.actionLoss(params, config, inputs).loss, vars);
  value.dataSync();
  const hostGrads = Object.fromEntries(names.map((n) => [n, grads[n].dataSync()]));
  tf.dispose([value, ...Object.values(grads)]);
  timed("AdamW (trainer, on Float32Arrays)", () => trainer.adamwStep(optimizer, adamState, host, hostGrads, optimizer.lr));
  for (const n of names) {
    const t = tf.tensor(host[n], shapes[n]);
    params[n].assign(t);
    t.dispose();
  }
};

step();
totals.clear();
const perStep = [];
for (let s = 0; s < STEPS; s++) {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  step();
  const c = process.cpuUsage(c0);
  perStep.push({ wall: performance.now() - t0, cpu: (c.user + c.system) / 1000 });
}
const loadAfter = loadavg()[0];
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
// Shares are of the mean step (the class totals are sums over all timed steps).
const stepCpu = perStep.reduce((a, p) => a + p.cpu, 0) / STEPS;
const stepWall = median(perStep.map((p) => p.wall));
console.log(backend.describeBackend(info));
console.log(
  `tiny preset, batch ${B}, ${STEPS} steps after 1 warm-up, OPENBLAS_NUM_THREADS=${THREADS}; load ${loadBefore.toFixed(1)}→${loadAfter.toFixed(1)}` +
    `${Math.max(loadBefore, loadAfter) > 1.5 ? " (loaded machine: wall times not comparable, CPU times inflated by cache sharing)" : ""}`,
);
console.log(`step: CPU ${stepCpu.toFixed(0)} ms (mean), wall ${stepWall.toFixed(0)} ms (median)`);
const rows = [...totals.entries()].sort((a, b) => b[1].cpu - a[1].cpu);
const accounted = rows.reduce((s, [, e]) => s + e.cpu, 0) / STEPS;
console.log(`| op class | CPU ms/step | share of step CPU | wall ms/step | kernel calls/step |`);
console.log(`|---|---|---|---|---|`);
for (const [cls, e] of rows) {
  if (e.cpu / STEPS < 0.5 && cls.startsWith("other")) continue;
  console.log(`| ${cls} | ${(e.cpu / STEPS).toFixed(1)} | ${((100 * e.cpu) / STEPS / stepCpu).toFixed(1)}% | ${(e.wall / STEPS).toFixed(1)} | ${(e.calls / STEPS).toFixed(0)} |`);
}
const small = rows.filter(([cls, e]) => e.cpu / STEPS < 0.5 && cls.startsWith("other"));
if (small.length > 0) {
  const cpu = small.reduce((s, [, e]) => s + e.cpu, 0) / STEPS;
  console.log(`| other (${small.length} kernels under 0.5 ms each) | ${cpu.toFixed(1)} | ${((100 * cpu) / stepCpu).toFixed(1)}% | | |`);
}
console.log(`| JS outside kernels (tape, dispatch, GC) | ${(stepCpu - accounted).toFixed(1)} | ${((100 * (stepCpu - accounted)) / stepCpu).toFixed(1)}% | | |`);
