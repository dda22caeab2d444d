// Per-kernel time of one training step of the package's tiny model on wasm (tf.profile).
// Usage (from packages/policy-pi0fast, after `npm run bench:step` built ./dist):
//   node ../../tools/bench/step-vs-pytorch/profile.mjs [--no-blas]
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const packageDir = resolve(here, "../../../packages/policy-pi0fast");
const tf = await import("@tensorflow/tfjs-core");
const backend = await import(pathToFileURL(process.env.PI0FAST_ENTRY ?? join(here, "dist/backend-index.js")).href);
const info = await backend.initBackend("wasm", { nativeBlas: !process.argv.includes("--no-blas") });
console.log(backend.describeBackend(info));
const pkg = await import(pathToFileURL(join(packageDir, "dist/index.js")).href);
const config = pkg.pi0FastConfig({ preset: "tiny" });
const shapes = pkg.parameterShapes(config);
const values = pkg.initParameters(config, 0);
const params = {};
for (const [name, shape] of Object.entries(shapes)) params[name] = tf.variable(tf.tensor(values[name], shape), true, name);
const B = 8;
const size = config.vision.image_size;
const lp = config.tokenizer_max_length;
const la = config.max_action_tokens;
const inputs = {
  batchSize: B,
  images: new Float32Array(B * size * size * 3).map(() => Math.random() * 2 - 1),
  imageShape: [B, 1, size, size, 3],
  imageMask: new Uint8Array(B).fill(1),
  promptTokens: new Int32Array(B * lp).map(() => Math.floor(Math.random() * 2000)),
  promptMask: new Uint8Array(B * lp).fill(1),
  promptLength: lp,
  actionTokens: new Int32Array(B * la).map(() => Math.floor(Math.random() * 2000)),
  actionMask: new Uint8Array(B * la).fill(1),
  lossMask: new Uint8Array(B * la).fill(1),
  actionLength: la,
};
const vars = Object.values(params);
const step = () => {
  const { value, grads } = tf.variableGrads(() => pkg.actionLoss(params, config, inputs).loss, vars);
  value.dataSync();
  tf.dispose([value, ...Object.values(grads)]);
};
step();
const profile = await tf.profile(step);
const byKernel = new Map();
for (const k of profile.kernels) {
  const ms = await k.kernelTimeMs;
  const key = k.name === "BatchMatMul" ? `BatchMatMul ${k.inputShapes.map((s) => `[${s}]`).join("·")}` : k.name;
  const e = byKernel.get(key) ?? { ms: 0, calls: 0 };
  e.ms += typeof ms === "number" ? ms : 0;
  e.calls++;
  byKernel.set(key, e);
}
const total = [...byKernel.values()].reduce((s, e) => s + e.ms, 0);
console.log(`kernel time ${total.toFixed(0)} ms over ${profile.kernels.length} kernels`);
for (const [name, e] of [...byKernel.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, 25)) {
  console.log(`${e.ms.toFixed(1).padStart(8)} ms ${String(e.calls).padStart(4)}×  ${name}`);
}
