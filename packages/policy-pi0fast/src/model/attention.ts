import * as tf from "@tensorflow/tfjs-core";
import { inOpClass, matmul, swapLast } from "./ops";

/** Additive bias for a masked key (openpi uses a very large negative value too). */
export const MASKED = -1e9;

/**
 * The pi0-FAST sequence layout: [image tokens | prompt tokens | action tokens], per sample.
 * `valid` [B, L] marks real tokens; `allowed` [B, L, L] (query, key) is the prefix-LM rule of
 * LeRobot's `_create_custom_attention_mask_fast`: images and prompt attend bidirectionally among
 * themselves, action tokens attend to every prefix token and causally to action tokens; padding
 * is masked both as query and as key. `positions` are RoPE positions: cumsum(valid) − 1.
 */
export interface SequenceLayout {
  readonly batchSize: number;
  readonly length: number;
  readonly prefixLength: number;
  readonly valid: Uint8Array;
  readonly allowed: Uint8Array;
  readonly positions: Float32Array;
}

export function sequenceLayout(
  batchSize: number,
  prefixValid: Uint8Array,
  prefixLength: number,
  actionValid: Uint8Array,
  actionLength: number,
): SequenceLayout {
  const L = prefixLength + actionLength;
  const valid = new Uint8Array(batchSize * L);
  const positions = new Float32Array(batchSize * L);
  const allowed = new Uint8Array(batchSize * L * L);
  for (let b = 0; b < batchSize; b++) {
    let count = 0;
    for (let i = 0; i < L; i++) {
      const v = i < prefixLength ? prefixValid[b * prefixLength + i] : actionValid[b * actionLength + i - prefixLength];
      valid[b * L + i] = v ? 1 : 0;
      count += v ? 1 : 0;
      positions[b * L + i] = Math.max(count - 1, 0);
    }
    for (let q = 0; q < L; q++) {
      if (!valid[b * L + q]) continue;
      const row = (b * L + q) * L;
      const keyEnd = q < prefixLength ? prefixLength : q + 1;
      for (let k = 0; k < keyEnd; k++) allowed[row + k] = valid[b * L + k];
    }
  }
  return { batchSize, length: L, prefixLength, valid, allowed, positions };
}

/** [B, 1, Lq, Lk] additive bias from an allowed mask [B, Lq, Lk]. */
export function maskBias(allowed: Uint8Array, batchSize: number, lq: number, lk: number): tf.Tensor {
  const bias = new Float32Array(allowed.length);
  for (let i = 0; i < allowed.length; i++) bias[i] = allowed[i] ? 0 : MASKED;
  return tf.tensor4d(bias, [batchSize, 1, lq, lk]);
}

/** RoPE tables (HF Gemma, base 10000, rotate-half layout): cos, sin [B, L, 1, headDim]. */
export function ropeTables(positions: Float32Array, batchSize: number, length: number, headDim: number): { cos: tf.Tensor; sin: tf.Tensor } {
  const half = headDim / 2;
  const cos = new Float32Array(batchSize * length * headDim);
  const sin = new Float32Array(batchSize * length * headDim);
  for (let n = 0; n < batchSize * length; n++) {
    const pos = positions[n];
    for (let i = 0; i < half; i++) {
      const angle = pos * Math.pow(10000, (-2 * i) / headDim);
      const c = Math.cos(angle);
      const s = Math.sin(angle);
      cos[n * headDim + i] = c;
      cos[n * headDim + half + i] = c;
      sin[n * headDim + i] = s;
      sin[n * headDim + half + i] = s;
    }
  }
  const shape: [number, number, number, number] = [batchSize, length, 1, headDim];
  return { cos: tf.tensor4d(cos, shape), sin: tf.tensor4d(sin, shape) };
}

/**
 * rotate_half as a matrix: x·P = [−x₂, x₁] for x = [x₁, x₂] along headDim. P is a signed
 * permutation, so x·P is exact and Pᵀ = −P.
 */
function rotateHalfMatrix(headDim: number): tf.Tensor2D {
  const half = headDim / 2;
  const p = new Float32Array(headDim * headDim);
  for (let i = 0; i < half; i++) {
    p[(i + half) * headDim + i] = -1;
    p[i * headDim + i + half] = 1;
  }
  return tf.tensor2d(p, [headDim, headDim]);
}

/**
 * x·cos + rotate_half(x)·sin on [B, L, heads, headDim], rotate_half as one matmul by P, and the
 * gradient written out: dx = dy·cos − (dy·sin)·P. Slicing and concatenating halves instead took
 * Slice, Neg, Concat and their gradients (SplitV, PadV2): ~8% of a tiny training step's CPU time.
 */
export function applyRope(x: tf.Tensor, cos: tf.Tensor, sin: tf.Tensor): tf.Tensor {
  const shape = x.shape;
  const hd = shape[shape.length - 1];
  return inOpClass("rope", () => {
    const p = rotateHalfMatrix(hd);
    const rotate = (t: tf.Tensor): tf.Tensor => tf.reshape(tf.matMul(tf.reshape(t, [-1, hd]) as tf.Tensor2D, p), shape);
    const rope = tf.customGrad(((input: tf.Tensor, save: tf.GradSaveFunc) => {
      save([cos, sin, p]);
      return {
        value: tf.add(tf.mul(input, cos), tf.mul(rotate(input), sin)),
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
          inOpClass("rope", () => {
            const [c, s, sp] = saved;
            const back = tf.reshape(tf.matMul(tf.reshape(tf.mul(dy, s), [-1, hd]) as tf.Tensor2D, sp as tf.Tensor2D), shape);
            return [tf.sub(tf.mul(dy, c), back)];
          }),
      };
    }) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (t: tf.Tensor) => tf.Tensor;
    return rope(x);
  });
}

/**
 * Grouped-query attention. q [B, Lq, H, hd], k/v in cache layout [B, G, Lk, hd], bias
 * [B, 1, Lq, Lk] or null. Query heads h use key head ⌊h / (H/G)⌋ (HF `repeat_kv`). The score
 * matmul runs as one batched matmul per (sample, key head) over all its query heads and positions,
 * so no key/value is repeated. Returns [B·Lq, H·hd].
 */
export function groupedAttention(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, bias: tf.Tensor | null): tf.Tensor {
  const [B, Lq, H, hd] = q.shape as number[];
  const G = k.shape[1] as number;
  const Lk = k.shape[2] as number;
  const R = H / G;
  const fourD = G === 1 || R === 1;
  const [qg, kT] = inOpClass("attention layout", () => {
    const scaled = tf.mul(q, 1 / Math.sqrt(hd));
    return [
      fourD
        ? tf.reshape(tf.transpose(scaled, [0, 2, 1, 3]), [B * G, R * Lq, hd])
        : tf.reshape(tf.transpose(tf.reshape(scaled, [B, Lq, G, R, hd]), [0, 2, 3, 1, 4]), [B * G, R * Lq, hd]),
      tf.reshape(swapLast(k), [B * G, hd, Lk]),
    ];
  });
  const scores = tf.reshape(matmul(qg, kT), [B, H, Lq, Lk]);
  const probs = tf.reshape(maskedSoftmax(scores, bias), [B * G, R * Lq, Lk]);
  const out = matmul(probs, tf.reshape(v, [B * G, Lk, hd]));
  return inOpClass("attention layout", () => {
    const merged = fourD
      ? tf.transpose(tf.reshape(out, [B, H, Lq, hd]), [0, 2, 1, 3])
      : tf.transpose(tf.reshape(out, [B, G, R, Lq, hd]), [0, 3, 1, 2, 4]);
    return tf.reshape(merged, [B * Lq, H * hd]);
  });
}

/**
 * softmax(scores + bias) over the last axis, bias [B, 1, Lq, Lk] or null (a constant: no gradient).
 * Gradient written out from the saved probabilities, y·(dy − Σ dy·y), two kernels fewer than
 * autodiff through the bias add and tfjs's Softmax gradient.
 */
export function maskedSoftmax(scores: tf.Tensor, bias: tf.Tensor | null): tf.Tensor {
  return softmaxOfScores(bias === null ? scores : inOpClass("attention softmax", () => tf.add(scores, bias)));
}

const softmaxOfScores = tf.customGrad(((scores: tf.Tensor, save: tf.GradSaveFunc) =>
  inOpClass("attention softmax", () => {
    const y = tf.softmax(scores);
    save([y]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        inOpClass("attention softmax", () => {
          const [sy] = saved;
          const dyy = tf.mul(dy, sy);
          return [tf.sub(dyy, tf.mul(sy, tf.sum(dyy, -1, true)))];
        }),
    };
  })) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (scores: tf.Tensor) => tf.Tensor;
