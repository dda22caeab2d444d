import * as tf from "@tensorflow/tfjs-core";
import { it } from "vitest";
import { initBackend } from "../src/backend/index";
import { actionLoss } from "../src/model/pi0fast";
import { webgpuErrors, webgpuMemory } from "../src/backend/webgpuBackend";
import { disposeAll, handInputs, microConfig, microParams } from "./model-helpers";

async function run(device: "cpu" | "webgpu") {
  const info = await initBackend(device);
  console.log(JSON.stringify(info).slice(0, 400));
  const config = microConfig();
  const params = microParams(config, 11);
  const inputs = handInputs(config);
  const names = Object.keys(params);
  const t0 = Date.now();
  const kernels = new Set<string>();
  let out: { loss: number; grads: Float32Array[] } = { loss: 0, grads: [] };
  const prof = await tf.profile(() => {
    out = tf.tidy(() => {
      const f = (...ts: tf.Tensor[]) => {
        const p = { ...params };
        names.forEach((n, i) => (p[n] = ts[i]));
        return actionLoss(p, config, inputs).loss;
      };
      const r = tf.valueAndGrads(f)(names.map((n) => params[n]));
      return { loss: r.value.dataSync()[0], grads: r.grads.map((g) => g.dataSync().slice() as Float32Array) };
    });
  });
  for (const k of prof.kernels) kernels.add(k.name);
  console.log(device, "ms", Date.now() - t0, "loss", out.loss, [...kernels].sort().join(","));
  disposeAll(params);
  return { ...out, names };
}

it("scratch", async () => {
  const cpu = await run("cpu");
  const gpu = await run("webgpu");
  let worst = 0;
  cpu.grads.forEach((g, k) => {
    let md = 0, ma = 0;
    for (let i = 0; i < g.length; i++) { md = Math.max(md, Math.abs(g[i] - gpu.grads[k][i])); ma = Math.max(ma, Math.abs(g[i])); }
    worst = Math.max(worst, md / Math.max(ma, 1e-2));
  });
  console.log("loss", cpu.loss, gpu.loss, "worst rel grad", worst, webgpuMemory(), webgpuErrors());
});
