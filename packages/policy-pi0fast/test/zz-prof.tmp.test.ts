import * as tf from "@tensorflow/tfjs-core";
import { it } from "vitest";
import { initBackend } from "../src/backend/index";
import { createPi0FastPolicy } from "../src/policy";
import { loadSo101Frames, so101Batch, so101FastTokenizer } from "./policy-so101";
it("prof", async () => {
  const info = await initBackend("wasm");
  console.log(info.name, info.kernels, info.blas, info.threads, info.notes);
  const frames = await loadSo101Frames();
  const fast = await so101FastTokenizer(10);
  const policy = createPi0FastPolicy({ config: { preset: "tiny", max_state_dim: 6, empty_cameras: 1, max_action_tokens: 40 }, stats: frames.stats as never, fastTokenizer: fast, seed: 0 });
  const batch = so101Batch(frames, [120, 800], 10);
  const inputs = policy.modelInputs(batch);
  policy.gradientsOf(inputs);
  let t0 = performance.now();
  policy.gradientsOf(inputs);
  console.log("step ms B=8", performance.now() - t0);
  const prof = await tf.profile(() => { policy.gradientsOf(inputs); });
  const by = new Map<string, { ms: number; n: number }>();
  for (const k of prof.kernels) {
    const key = k.name + (k.name.includes("MatMul") ? " " + JSON.stringify(k.inputShapes) : "");
    const e = by.get(key) ?? { ms: 0, n: 0 };
    e.ms += k.kernelTimeMs as number; e.n++; by.set(key, e);
  }
  const rows = [...by.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, 30);
  for (const [k, v] of rows) console.log(v.ms.toFixed(1).padStart(8), String(v.n).padStart(5), k);
  const a = tf.tensor2d(new Float32Array(1024*1024).fill(0.5), [1024,1024]);
  tf.matMul(a,a).dispose();
  t0 = performance.now(); for (let i=0;i<4;i++) { const c = tf.matMul(a,a); c.dataSync(); c.dispose(); }
  console.log("matmul GFLOP/s", 4*2*1024**3/((performance.now()-t0)/1000)/1e9);
  policy.dispose();
}, 600000);
