import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { beforeAll, describe, expect, it } from "vitest";
import { sequenceLayout } from "../src/model/attention";
import { actionLogSoftmax, actionLoss, decodeGreedy } from "../src/model/pi0fast";
import { geluTanh } from "../src/model/ops";
import type { ModelInputs } from "../src/inputs";
import { checkGradientsByFiniteDifferences, disposeAll, handInputs, microConfig, microParams } from "./model-helpers";

beforeAll(async () => {
  await tf.setBackend("cpu");
});

const lossOf = (params: Record<string, tf.Tensor>, config: ReturnType<typeof microConfig>, inputs: ModelInputs): number =>
  tf.tidy(() => actionLoss(params, config, inputs).loss.dataSync()[0]);

describe("prefix-LM attention layout", () => {
  it("is bidirectional over the prefix, causal over actions, and masks padding", () => {
    // one sample: prefix [p0 p1 pad], actions [a0 a1 pad]
    const layout = sequenceLayout(1, Uint8Array.from([1, 1, 0]), 3, Uint8Array.from([1, 1, 0]), 3);
    expect(layout.length).toBe(6);
    const rows = Array.from({ length: 6 }, (_, q) => Array.from(layout.allowed.subarray(q * 6, q * 6 + 6)));
    expect(rows).toEqual([
      [1, 1, 0, 0, 0, 0], // p0 sees the prefix, not the actions
      [1, 1, 0, 0, 0, 0],
      [0, 0, 0, 0, 0, 0], // padded query
      [1, 1, 0, 1, 0, 0], // a0: prefix + itself
      [1, 1, 0, 1, 1, 0], // a1: prefix + a0 + itself
      [0, 0, 0, 0, 0, 0],
    ]);
    expect(Array.from(layout.valid)).toEqual([1, 1, 0, 1, 1, 0]);
    // RoPE positions count valid tokens only: the padding hole does not shift a0.
    expect(Array.from(layout.positions)).toEqual([0, 1, 1, 2, 3, 3]);
  });

  it("has shape [B, L, L] with per-sample padding", () => {
    const layout = sequenceLayout(2, Uint8Array.from([1, 0, 1, 1]), 2, Uint8Array.from([1, 1, 1, 0]), 2);
    expect(layout.allowed.length).toBe(2 * 4 * 4);
    // sample 1, query a1 (padded) sees nothing; query a0 sees p0, p1, a0
    expect(Array.from(layout.allowed.subarray(16 + 2 * 4, 16 + 3 * 4))).toEqual([1, 1, 1, 0]);
    expect(Array.from(layout.allowed.subarray(16 + 3 * 4, 16 + 4 * 4))).toEqual([0, 0, 0, 0]);
  });
});

describe("pi0-FAST loss", () => {
  const config = microConfig();

  it("is the mean cross-entropy over lossMask positions, logits at j−1 predicting token j", () => {
    const params = microParams(config);
    const inputs = handInputs(config);
    const { loss, logp } = tf.tidy(() => ({
      loss: actionLoss(params, config, inputs).loss.dataSync()[0],
      logp: actionLogSoftmax(params, config, inputs).logProbs.arraySync() as number[][],
    }));
    const La = inputs.actionLength;
    let sum = 0;
    let count = 0;
    for (let b = 0; b < 2; b++) {
      for (let j = 1; j < La; j++) {
        if (!inputs.lossMask[b * La + j]) continue;
        sum -= logp[b * (La - 1) + j - 1][inputs.actionTokens[b * La + j]];
        count++;
      }
    }
    expect(count).toBe(8);
    expect(loss).toBeCloseTo(sum / count, 4);
    disposeAll(params);
  });

  it("ignores padded prompt tokens, padded action tokens and non-target positions, but not targets", () => {
    const params = microParams(config);
    const base = handInputs(config);
    const l0 = lossOf(params, config, base);
    const paddedPrompt = { ...base, promptTokens: base.promptTokens.map((v, i) => (i === 4 ? 33 : v)) };
    expect(lossOf(params, config, paddedPrompt)).toBe(l0);
    const paddedAction = { ...base, actionTokens: base.actionTokens.map((v, i) => (i === 4 || i === 5 ? 50 : v)) };
    expect(lossOf(params, config, paddedAction)).toBe(l0);
    // a real prompt token conditions the actions, so it does change the loss
    const realPrompt = { ...base, promptTokens: base.promptTokens.map((v, i) => (i === 1 ? 30 : v)) };
    expect(lossOf(params, config, realPrompt)).not.toBe(l0);
    // the last target of sample 1 (EOS at j = 5): changing it changes the loss
    const target = { ...base, actionTokens: base.actionTokens.map((v, i) => (i === 11 ? 60 : v)) };
    expect(lossOf(params, config, target)).not.toBeCloseTo(l0, 5);
    // excluding that position from lossMask while changing it: only the mean's count changes
    const masked = { ...target, lossMask: base.lossMask.map((v, i) => (i === 11 ? 0 : v)) };
    const maskedSame = { ...base, lossMask: masked.lossMask };
    expect(lossOf(params, config, masked)).toBeCloseTo(lossOf(params, config, maskedSame), 6);
    disposeAll(params);
  });

  it("keeps action positions causal: a later action token does not change earlier predictions", () => {
    const params = microParams(config);
    const base = handInputs(config);
    const changed = { ...base, actionTokens: base.actionTokens.map((v, i) => (i === 10 ? 20 : v)) };
    const [a, b] = tf.tidy(() => [
      actionLogSoftmax(params, config, base).logProbs.arraySync() as number[][],
      actionLogSoftmax(params, config, changed).logProbs.arraySync() as number[][],
    ]);
    // sample 1 rows are 5..9 (positions 0..4); position 4 (index 10) only affects row 9
    for (let r = 0; r < 9; r++) for (let v = 0; v < 64; v += 7) expect(b[r][v]).toBeCloseTo(a[r][v], 5);
    expect(Math.abs(b[9][0] - a[9][0]) + Math.abs(b[9][1] - a[9][1])).toBeGreaterThan(1e-6);
    disposeAll(params);
  });

  it("masks an empty camera: its pixels do not change the loss", () => {
    const params = microParams(config);
    const base = handInputs(config);
    const [, , H, W] = base.imageShape;
    const per = H * W * 3;
    const images = base.images.slice();
    for (let i = per; i < 2 * per; i++) images[i] = -1; // sample 0, camera 1 (masked)
    expect(lossOf(params, config, { ...base, images })).toBe(lossOf(params, config, base));
    const visible = base.images.slice();
    for (let i = 0; i < per; i++) visible[i] = 0.5; // sample 0, camera 0 (real)
    expect(lossOf(params, config, { ...base, images: visible })).not.toBe(lossOf(params, config, base));
    disposeAll(params);
  });
});

describe("empty cameras", () => {
  it("a camera empty in every sample gives the same loss as leaving it out", () => {
    const config = microConfig();
    const params = microParams(config);
    const base = handInputs(config);
    const [B, , H, W] = base.imageShape;
    const per = H * W * 3;
    // sample 0 and 1: camera 1 empty in both → equivalent to a one-camera batch
    const twoCams = { ...base, imageMask: Uint8Array.from([1, 0, 1, 0]) };
    const oneCamImages = new Float32Array(B * per);
    for (let b = 0; b < B; b++) oneCamImages.set(base.images.subarray(b * 2 * per, b * 2 * per + per), b * per);
    const oneCam: ModelInputs = { ...base, images: oneCamImages, imageShape: [B, 1, H, W, 3], imageMask: Uint8Array.from([1, 1]) };
    expect(lossOf(params, config, twoCams)).toBeCloseTo(lossOf(params, config, oneCam), 5);
    // and with no camera at all the vision tower is skipped but the loss is still defined
    const none = { ...base, imageMask: new Uint8Array(4) };
    expect(Number.isFinite(lossOf(params, config, none))).toBe(true);
    disposeAll(params);
  });
});

describe("gradients", () => {
  it("match central finite differences on a micro model", () => {
    const config = microConfig();
    const params = microParams(config, 3);
    const inputs = handInputs(config);
    const names = [
      "model.paligemma_with_expert.paligemma.model.vision_tower.vision_model.embeddings.patch_embedding.weight",
      "model.paligemma_with_expert.paligemma.model.vision_tower.vision_model.encoder.layers.0.self_attn.q_proj.weight",
      "model.paligemma_with_expert.paligemma.model.vision_tower.vision_model.encoder.layers.0.layer_norm2.weight",
      "model.paligemma_with_expert.paligemma.model.multi_modal_projector.linear.weight",
      "model.paligemma_with_expert.paligemma.model.language_model.embed_tokens.weight",
      "model.paligemma_with_expert.paligemma.model.language_model.layers.0.self_attn.k_proj.weight",
      "model.paligemma_with_expert.paligemma.model.language_model.layers.1.self_attn.q_proj.weight",
      "model.paligemma_with_expert.paligemma.model.language_model.layers.1.mlp.gate_proj.weight",
      "model.paligemma_with_expert.paligemma.model.language_model.layers.0.input_layernorm.weight",
      "model.paligemma_with_expert.paligemma.model.language_model.norm.weight",
    ];
    const before = tf.memory().numTensors;
    const checked = checkGradientsByFiniteDifferences(params, names, (p) => actionLoss(p, config, inputs).loss, (g, fd) => {
      expect(Math.abs(g)).toBeGreaterThan(1e-4);
      expect(Math.abs(fd - g) / Math.max(Math.abs(g), 1e-3)).toBeLessThan(2e-2);
    });
    expect(tf.memory().numTensors).toBe(before);
    expect(checked).toBe(names.length * 2);
    disposeAll(params);
  });
});

describe("decoding", () => {
  const config = microConfig();
  const promptInputs = (full: ModelInputs): ModelInputs => ({
    ...full,
    actionTokens: Int32Array.from([2, 40, 2, 40]),
    actionMask: Uint8Array.from([1, 1, 1, 1]),
    lossMask: Uint8Array.from([0, 1, 0, 1]),
    actionLength: 2,
  });

  it("gives the same tokens with and without the KV cache, and they are the teacher-forced argmax", () => {
    const params = microParams(config, 5);
    const inputs = promptInputs(handInputs(config));
    const before = tf.memory().numTensors;
    const opts = { maxSteps: 7, eosId: -1 };
    const cached = decodeGreedy(params, config, inputs, { ...opts, useKvCache: true });
    const plain = decodeGreedy(params, config, inputs, { ...opts, useKvCache: false });
    expect(tf.memory().numTensors).toBe(before);
    expect(cached.map((r) => r.length)).toEqual([7, 7]);
    expect(cached).toEqual(plain);
    // Feeding the generated tokens back (teacher forcing) reproduces them as argmax predictions.
    const La = 2 + 7;
    const actionTokens = new Int32Array(2 * La);
    for (let b = 0; b < 2; b++) {
      actionTokens.set([2, 40, ...cached[b]], b * La);
    }
    const forced: ModelInputs = { ...inputs, actionTokens, actionMask: new Uint8Array(2 * La).fill(1), lossMask: new Uint8Array(2 * La).fill(1), actionLength: La };
    const preds = tf.tidy(() => actionLoss(params, config, forced).predictions);
    for (let b = 0; b < 2; b++) expect(Array.from(preds.subarray(b * (La - 1) + 1, (b + 1) * (La - 1)))).toEqual(cached[b]);
    disposeAll(params);
  });

  it("stops a sample at EOS and the batch when every sample has stopped", () => {
    const params = microParams(config, 5);
    const inputs = promptInputs(handInputs(config));
    const free = decodeGreedy(params, config, inputs, { maxSteps: 6, eosId: -1, useKvCache: true });
    const eos = free[0][2];
    const stopped = decodeGreedy(params, config, inputs, { maxSteps: 6, eosId: eos, useKvCache: true });
    expect(stopped[0]).toEqual(free[0].slice(0, free[0].indexOf(eos) + 1));
    disposeAll(params);
  });
});

describe("GELU (tanh approximation)", () => {
  it("matches 0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³))) and its derivative", () => {
    const xs = [-4, -1.5, -0.3, 0, 0.2, 1, 2.5, 6];
    const ref = (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
    const [values, grads] = tf.tidy(() => {
      const x = tf.tensor1d(xs);
      return [geluTanh(x).dataSync().slice(), tf.grad((t: tf.Tensor) => tf.sum(geluTanh(t)))(x).dataSync().slice()];
    });
    xs.forEach((x, i) => {
      expect(values[i]).toBeCloseTo(ref(x), 5);
      expect(grads[i]).toBeCloseTo((ref(x + 1e-3) - ref(x - 1e-3)) / 2e-3, 3);
    });
  });
});
