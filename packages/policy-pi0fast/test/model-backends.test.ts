import * as tf from "@tensorflow/tfjs-core";
import { describe, expect, it } from "vitest";
import { initBackend } from "../src/backend/index";
import { actionLoss, decodeGreedy } from "../src/model/pi0fast";
import type { ModelInputs } from "../src/inputs";
import { disposeAll, handInputs, microConfig, microParams } from "./model-helpers";

/** Loss, every gradient and greedy tokens of the micro model on one backend. */
async function run(device: "cpu" | "wasm") {
  await initBackend(device);
  const config = microConfig();
  const params = microParams(config, 11);
  const inputs = handInputs(config);
  const names = Object.keys(params);
  const { loss, grads } = tf.tidy(() => {
    const f = (...ts: tf.Tensor[]) => {
      const p = { ...params };
      names.forEach((n, i) => (p[n] = ts[i]));
      return actionLoss(p, config, inputs).loss;
    };
    const r = tf.valueAndGrads(f)(names.map((n) => params[n]));
    return { loss: r.value.dataSync()[0], grads: r.grads.map((g) => g.dataSync().slice()) };
  });
  const prompt: ModelInputs = { ...inputs, actionTokens: Int32Array.from([2, 40, 2, 40]), actionMask: new Uint8Array(4).fill(1), lossMask: Uint8Array.from([0, 1, 0, 1]), actionLength: 2 };
  const tokens = decodeGreedy(params, config, prompt, { maxSteps: 5, eosId: -1, useKvCache: true });
  disposeAll(params);
  return { loss, grads, names, tokens };
}

describe("backends", () => {
  it("wasm (with this package's kernel patches) matches cpu on loss, every gradient and decoding", async () => {
    const cpu = await run("cpu");
    const wasm = await run("wasm");
    expect(tf.getBackend()).toBe("wasm");
    expect(wasm.loss).toBeCloseTo(cpu.loss, 4);
    cpu.grads.forEach((g, k) => {
      const w = wasm.grads[k];
      let maxDiff = 0;
      let maxAbs = 0;
      for (let i = 0; i < g.length; i++) {
        maxDiff = Math.max(maxDiff, Math.abs(g[i] - w[i]));
        maxAbs = Math.max(maxAbs, Math.abs(g[i]));
      }
      expect(maxDiff, cpu.names[k]).toBeLessThan(1e-3 * Math.max(maxAbs, 1e-2));
    });
    expect(wasm.tokens).toEqual(cpu.tokens);
  });
});
