import * as tf from "@tensorflow/tfjs-core";
import { createPi0FastPolicy, fitFastTokenizer, initBackend } from "./dist/index.js";
await initBackend("wasm");
let seed = 1; const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
const D = 6, T = 10;
const stats = { "observation.state": { q01: Array(D).fill(-100), q99: Array(D).fill(100) }, action: { q01: Array(D).fill(-100), q99: Array(D).fill(100) } };
const chunk = () => Float32Array.from({ length: T * D }, () => rand() * 2 - 1);
const fast = fitFastTokenizer(Array.from({ length: 100 }, chunk), { chunkSize: T, actionDim: D, vocabSize: 512 });
const key = "observation.images.front";
const B = 8;
const batch = { size: B, task: Array(B).fill("pick"), features: {
  "observation.state": { data: new Float32Array(B * D).map(() => rand() * 100 - 50), shape: [B, D] },
  action: { data: new Float32Array(B * T * D).map(() => rand() * 100 - 50), shape: [B, T, D] },
  [key]: { data: new Uint8Array(B * 64 * 64 * 3).map(() => rand() * 255), shape: [B, 64, 64, 3] } } };
const policy = createPi0FastPolicy({ config: { preset: "tiny" }, stats, fastTokenizer: fast, imageKeys: [key] });
const inputs = policy.modelInputs(batch);
policy.gradientsOf(inputs);
let t0 = performance.now(); policy.gradientsOf(inputs); console.log("step", performance.now() - t0);
const prof = await tf.profile(() => { policy.gradientsOf(inputs); });
const by = new Map();
for (const k of prof.kernels) {
  if (k.name === "forward") continue;
  const key = k.name + (k.name.includes("MatMul") || k.name === "Transpose" ? " " + JSON.stringify(k.inputShapes) : "");
  const e = by.get(key) ?? { ms: 0, n: 0 }; e.ms += k.kernelTimeMs; e.n++; by.set(key, e);
}
let total = 0; for (const [, v] of by) total += v.ms;
console.log("sum kernel ms", total.toFixed(0));
const agg = new Map(); for (const [k, v] of by) { const n = k.split(" ")[0]; agg.set(n, (agg.get(n) ?? 0) + v.ms); }
console.log([...agg.entries()].sort((a, b) => b[1] - a[1]).slice(0, 15).map(([k, v]) => `${k}:${v.toFixed(0)}`).join("  "));
for (const [k, v] of [...by.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, 25)) console.log(v.ms.toFixed(1).padStart(8), String(v.n).padStart(5), k);
