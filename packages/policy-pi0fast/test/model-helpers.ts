/** Hand-built ModelInputs and a micro config for the model tests (no processor involved). */
import * as tf from "@tensorflow/tfjs-core";
import { pi0FastConfig, type PI0FastConfig } from "../src/config";
import type { ModelInputs } from "../src/inputs";
import { initParameters, parameterShapes } from "../src/model/parameters";

/** Small enough for finite differences on the cpu backend; grouped attention (4 heads, 2 KV heads). */
export function microConfig(overrides: Record<string, unknown> = {}): PI0FastConfig {
  return pi0FastConfig({
    preset: "tiny",
    image_resolution: [16, 16],
    fast_skip_tokens: 8,
    vision: { image_size: 16, patch_size: 8, width: 16, depth: 1, mlp_dim: 32, heads: 2 },
    decoder: { width: 32, depth: 2, mlp_dim: 64, heads: 4, kv_heads: 2, head_dim: 8, vocab_size: 64 },
    ...overrides,
  });
}

/** A whole policy (processor + model) of the CLI tests' micro size, MEAN_STD-normalised, one empty camera: fast on any backend. */
export const MICRO_POLICY = {
  preset: "tiny",
  vision: { image_size: 32, patch_size: 8, width: 32, depth: 1, mlp_dim: 64, heads: 2 },
  decoder: { width: 64, depth: 1, mlp_dim: 128, heads: 2, kv_heads: 1, head_dim: 32, vocab_size: 1024 },
  image_resolution: [32, 32],
  chunk_size: 5,
  n_action_steps: 5,
  max_action_tokens: 64,
  max_decoding_steps: 6,
  tokenizer_max_length: 64,
  empty_cameras: 1,
  normalization_mapping: { VISUAL: "IDENTITY", STATE: "MEAN_STD", ACTION: "MEAN_STD" },
};

export function microParams(config: PI0FastConfig, seed = 1): Record<string, tf.Tensor> {
  const values = initParameters(config, seed);
  const shapes = parameterShapes(config);
  // Larger weights than the 0.02 init, and non-trivial norms and biases, so every path carries a
  // measurable gradient.
  const out: Record<string, tf.Tensor> = {};
  for (const [name, data] of Object.entries(values)) {
    const v = data.map((x) => x * 10);
    if (shapes[name].length === 1) {
      const isLayerNormScale = /layer_?norm\d?\.weight$/.test(name) && name.includes("vision_tower");
      for (let i = 0; i < v.length; i++) v[i] = (isLayerNormScale ? 1 : 0) + 0.1 * Math.sin(i + seed);
    }
    out[name] = tf.tensor(v, shapes[name]);
  }
  return out;
}

/**
 * B = 2, two cameras (the second sample has both, the first only camera 0), prompt of 5 with
 * padding, action block of 6: sample 0 = [BOS a b c pad pad], sample 1 = [BOS a b c d e].
 */
export function handInputs(config: PI0FastConfig): ModelInputs {
  const B = 2;
  const [H, W] = config.image_resolution;
  const images = new Float32Array(B * 2 * H * W * 3);
  for (let i = 0; i < images.length; i++) images[i] = Math.sin(i * 0.37) * 0.9;
  return {
    batchSize: B,
    images,
    imageShape: [B, 2, H, W, 3],
    imageMask: Uint8Array.from([1, 0, 1, 1]),
    promptTokens: Int32Array.from([2, 10, 11, 12, 0, 2, 13, 14, 15, 16]),
    promptMask: Uint8Array.from([1, 1, 1, 1, 0, 1, 1, 1, 1, 1]),
    promptLength: 5,
    actionTokens: Int32Array.from([2, 40, 41, 1, 0, 0, 2, 42, 43, 44, 45, 1]),
    actionMask: Uint8Array.from([1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1]),
    lossMask: Uint8Array.from([0, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1]),
    actionLength: 6,
  };
}

export function disposeAll(params: Record<string, tf.Tensor>): void {
  for (const t of Object.values(params)) t.dispose();
}

/**
 * Compares tf.grads of `loss` with central differences (step 1e-2) at the two largest-magnitude
 * gradient entries of each named parameter; returns how many entries were checked.
 */
export function checkGradientsByFiniteDifferences(
  params: Record<string, tf.Tensor>,
  names: readonly string[],
  loss: (p: Record<string, tf.Tensor>) => tf.Scalar,
  expectClose: (analytic: number, numeric: number) => void,
): number {
  const grads = tf.tidy(() => {
    const f = (...ts: tf.Tensor[]) => {
      const p = { ...params };
      names.forEach((n, i) => (p[n] = ts[i]));
      return loss(p);
    };
    return tf.grads(f)(names.map((n) => params[n])).map((g) => g.dataSync().slice());
  });
  const eps = 1e-2;
  let checked = 0;
  names.forEach((name, k) => {
    const g = grads[k];
    const order = Array.from(g.keys()).sort((a, b) => Math.abs(g[b]) - Math.abs(g[a])).slice(0, 2);
    const original = params[name];
    const values = original.dataSync().slice();
    for (const idx of order) {
      const at = (delta: number): number => {
        const v = values.slice();
        v[idx] += delta;
        const t = tf.tensor(v, original.shape);
        const l = tf.tidy(() => loss({ ...params, [name]: t }).dataSync()[0]);
        t.dispose();
        return l;
      };
      expectClose(g[idx], (at(eps) - at(-eps)) / (2 * eps));
      checked++;
    }
  });
  return checked;
}
