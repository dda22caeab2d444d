import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { beforeAll, describe, expect, it } from "vitest";
import { actionLogSoftmax, actionLoss, type DistillTargets } from "../src/model/pi0fast";
import type { ModelInputs } from "../src/inputs";
import { checkGradientsByFiniteDifferences, disposeAll, handInputs, microConfig, microParams } from "./model-helpers";

beforeAll(async () => {
  await tf.setBackend("cpu");
});

const config = microConfig();
const vocab = config.decoder.vocab_size;
const inputs = handInputs(config);

/** Per-position log-probs [N][vocab] of a parameter set, read back to the host. */
const logProbsOf = (params: Record<string, tf.Tensor>, x: ModelInputs = inputs): number[][] =>
  tf.tidy(() => actionLogSoftmax(params, config, x).logProbs.arraySync() as number[][]);

/** The teacher's top-k (id, log-prob) pairs, chosen by sorting on the host (independent of tf.topk). */
const topK = (logp: number[][], k: number): DistillTargets => {
  const out = new Float32Array(logp.length * k * 2);
  logp.forEach((row, n) => {
    const ids = row.map((_, i) => i).sort((a, b) => row[b] - row[a]).slice(0, k);
    ids.forEach((id, j) => {
      out[(n * k + j) * 2] = id;
      out[(n * k + j) * 2 + 1] = row[id];
    });
  });
  return { topLogProbs: out, k };
};

/** Loss-mask weights as the model uses them: mean over the target positions 1..La−1 with lossMask set. */
const weightsOf = (x: ModelInputs): number[] => {
  const w: number[] = [];
  for (let b = 0; b < x.batchSize; b++) for (let j = 1; j < x.actionLength; j++) w.push(x.lossMask[b * x.actionLength + j]);
  const total = w.reduce((a, c) => a + c, 0);
  return w.map((c) => c / total);
};

/** Σ_n w_n KL over the buckets {top-k ids} ∪ {rest}, in float64 on the host. */
const hostKl = (teacher: number[][], student: number[][], k: number): number => {
  const w = weightsOf(inputs);
  let total = 0;
  teacher.forEach((t, n) => {
    if (w[n] === 0) return;
    const ids = t.map((_, i) => i).sort((a, b) => t[b] - t[a]).slice(0, k);
    let pTop = 0;
    let qTop = 0;
    let kl = 0;
    for (const id of ids) {
      const p = Math.exp(t[id]);
      pTop += p;
      qTop += Math.exp(student[n][id]);
      kl += p * (t[id] - student[n][id]);
    }
    if (k < vocab) kl += (1 - pTop) * (Math.log(1 - pTop) - Math.log(1 - qTop));
    total += w[n] * kl;
  });
  return total;
};

const distillLossOf = (params: Record<string, tf.Tensor>, targets: DistillTargets): number =>
  tf.tidy(() => actionLoss(params, config, inputs, targets).loss.dataSync()[0]);

describe("distillation retention loss", () => {
  it("is the masked mean KL(teacher ‖ student), full with k = vocab and over top-k + rest buckets below", () => {
    const teacherParams = microParams(config, 5);
    const studentParams = microParams(config, 3);
    const teacher = logProbsOf(teacherParams);
    const student = logProbsOf(studentParams);
    for (const k of [vocab, 8, 1]) {
      const expected = hostKl(teacher, student, k);
      expect(expected).toBeGreaterThan(1e-3);
      expect(distillLossOf(studentParams, topK(teacher, k))).toBeCloseTo(expected, 4);
    }
    // the coarsened KL never exceeds the full one (data processing inequality)
    expect(hostKl(teacher, student, 8)).toBeLessThanOrEqual(hostKl(teacher, student, vocab) + 1e-9);
    disposeAll(teacherParams);
    disposeAll(studentParams);
  });

  it("is zero, with zero gradient, when the student is the teacher", () => {
    const params = microParams(config, 4);
    const teacher = logProbsOf(params);
    for (const k of [vocab, 8]) {
      const targets = topK(teacher, k);
      expect(Math.abs(distillLossOf(params, targets))).toBeLessThan(1e-5);
      const name = "model.paligemma_with_expert.paligemma.model.language_model.layers.1.mlp.gate_proj.weight";
      const g = tf.tidy(() => tf.grad((w: tf.Tensor) => actionLoss({ ...params, [name]: w }, config, inputs, targets).loss)(params[name]).dataSync().slice());
      expect(Math.max(...g.map(Math.abs))).toBeLessThan(1e-4);
    }
    disposeAll(params);
  });

  it("has gradients that match central finite differences on a micro model (top-k with the rest bucket)", () => {
    const teacherParams = microParams(config, 5);
    const params = microParams(config, 3);
    const targets = topK(logProbsOf(teacherParams), 8);
    disposeAll(teacherParams);
    const names = [
      "model.paligemma_with_expert.paligemma.model.vision_tower.vision_model.encoder.layers.0.self_attn.q_proj.weight",
      "model.paligemma_with_expert.paligemma.model.language_model.embed_tokens.weight",
      "model.paligemma_with_expert.paligemma.model.language_model.layers.1.mlp.gate_proj.weight",
      "model.paligemma_with_expert.paligemma.model.language_model.norm.weight",
    ];
    const checked = checkGradientsByFiniteDifferences(params, names, (p) => actionLoss(p, config, inputs, targets).loss, (g, fd) => {
      expect(Math.abs(g)).toBeGreaterThan(1e-4);
      expect(Math.abs(fd - g) / Math.max(Math.abs(g), 1e-3)).toBeLessThan(2e-2);
    });
    expect(checked).toBe(names.length * 2);
    disposeAll(params);
  });

  it("names the teacher token id outside the student's vocabulary", () => {
    const params = microParams(config, 3);
    const targets = topK(logProbsOf(params), 2);
    const bad = targets.topLogProbs.slice();
    bad[2] = vocab + 5;
    expect(() => distillLossOf(params, { topLogProbs: bad, k: 2 })).toThrow(`token id ${vocab + 5} at position 0 is not in 0..${vocab - 1}`);
    disposeAll(params);
  });
});
