/**
 * fp32 matmul throughput of tfjs's WebGPU backend at n×n (default 1024, 4096, 8192): the issue's
 * target is ≥ 27 TFLOP/s at 8192² on the H200 (tfjs 4.22 measured 14.5). One JSON line per size.
 *   node webgpu-matmul.mjs [--sizes 1024,4096,8192] [--reps 10] [--allow-software]
 */
import "../../device/webgpu-check/modules";
import * as tf from "@tensorflow/tfjs-core";
import { describeBackend, initBackend } from "@craft/policy-pi0fast/backend";

const argv = process.argv.slice(2);
const arg = (name: string, fallback: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < argv.length ? argv[i + 1] : fallback;
};
const info = await initBackend("webgpu");
console.error(`[webgpu-matmul] ${describeBackend(info)}`);
if (info.adapter?.software && !argv.includes("--allow-software")) throw new Error("software adapter: pass --allow-software for a dry run");
const reps = Number(arg("reps", "10"));
for (const n of arg("sizes", "1024,4096,8192").split(",").map(Number)) {
  const a = tf.randomUniform([n, n], -1, 1);
  const b = tf.randomUniform([n, n], -1, 1);
  // Warm-up: shader compilation and first allocation.
  const w = tf.matMul(a, b);
  await w.data();
  w.dispose();
  const t0 = performance.now();
  let last: tf.Tensor | undefined;
  for (let i = 0; i < reps; i++) {
    last?.dispose();
    last = tf.matMul(a, b);
  }
  // Wait for the queue through a 1-element read (reading the whole n² result would add its copy).
  const probe = tf.slice(last!, [0, 0], [1, 1]);
  await probe.data();
  probe.dispose();
  const s = (performance.now() - t0) / 1000;
  last!.dispose();
  a.dispose();
  b.dispose();
  console.log(JSON.stringify({ matmul: n, reps, ms_each: (s * 1000) / reps, tflops: (2 * n ** 3 * reps) / s / 1e12 }));
}
