// tfjs-core registers no gradients by itself (the union package does); this side effect does.
import "@tensorflow/tfjs-core/dist/register_all_gradients";
import * as tf from "@tensorflow/tfjs-core";
import { wasmMatMulTakesTransposeFlags } from "../backend/kernels/BatchMatMul";

/**
 * Building blocks with hand-written gradients that only use plain (non-transposed) matmuls plus
 * explicit transposes: tfjs-backend-wasm runs `transposeA`/`transposeB` matmuls 10–40× slower than
 * the plain kernel (DESIGN.md §4), and every stock matmul gradient uses them.
 */

const OP_CLASS = Symbol.for("craft.policy-pi0fast.opClass");
type OpClassHolder = { [OP_CLASS]?: string };

/**
 * Runs `f` labelled with an op class ("matmul", "norm", "gelu", …) that a profiler reads from
 * `globalThis[Symbol.for("craft.policy-pi0fast.opClass")]` while kernels run
 * (tools/bench/step-vs-pytorch/profile.mjs). The innermost label wins. Costs two assignments.
 */
export function inOpClass<T>(name: string, f: () => T): T {
  const holder = globalThis as OpClassHolder;
  const outer = holder[OP_CLASS];
  holder[OP_CLASS] = name;
  try {
    return f();
  } finally {
    holder[OP_CLASS] = outer;
  }
}

/**
 * Whether tf.matMul's transpose flags cost nothing extra here: every backend but stock wasm. Our
 * wasm BatchMatMul passes them to cblas_sgemm, or transposes inside the kernel without the engine's
 * per-op overhead; stock wasm runs them 10–40× slower, hence the explicit transposes below.
 */
function transposeFlagsAreCheap(): boolean {
  return tf.getBackend() !== "wasm" || wasmMatMulTakesTransposeFlags();
}

/** Swap the last two axes. */
export function swapLast(x: tf.Tensor): tf.Tensor {
  const perm = x.shape.map((_, i) => i);
  const n = perm.length;
  perm[n - 1] = n - 2;
  perm[n - 2] = n - 1;
  return tf.transpose(x, perm);
}

/** a @ b for rank-2 or rank-3 operands (same batch), gradients through explicit transposes. */
export const matmul = tf.customGrad(((a: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
  save([a, b]);
  return {
    value: inOpClass("matmul", () => tf.matMul(a as tf.Tensor3D, b as tf.Tensor3D)),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
      inOpClass("matmul", () => {
        const [sa, sb] = saved;
        if (transposeFlagsAreCheap()) {
          return [tf.matMul(dy as tf.Tensor3D, sb as tf.Tensor3D, false, true), tf.matMul(sa as tf.Tensor3D, dy as tf.Tensor3D, true, false)];
        }
        return [tf.matMul(dy as tf.Tensor3D, swapLast(sb) as tf.Tensor3D), tf.matMul(swapLast(sa) as tf.Tensor3D, dy as tf.Tensor3D)];
      }),
  };
}) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (a: tf.Tensor, b: tf.Tensor) => tf.Tensor;

/**
 * Pre-transposed weights for inference: decoding feeds one token per step, where transposing every
 * weight each time would cost more than the matmuls themselves. Filled by `withTransposedWeights`.
 */
const transposed = new WeakMap<tf.Tensor, tf.Tensor>();

/** weightᵀ, from the inference cache when present. */
export function transposeWeight(weight: tf.Tensor): tf.Tensor {
  return transposed.get(weight) ?? tf.transpose(weight);
}

/** Run `f` with every rank-2 weight of `params` transposed once up front (no gradients flow through these). */
export function withTransposedWeights<T>(params: Readonly<Record<string, tf.Tensor>>, f: () => T): T {
  const made: tf.Tensor[] = [];
  for (const w of Object.values(params)) {
    if (w.rank === 2 && !transposed.has(w)) {
      const t = tf.keep(tf.transpose(w));
      transposed.set(w, t);
      made.push(w);
    }
  }
  try {
    return f();
  } finally {
    for (const w of made) {
      transposed.get(w)?.dispose();
      transposed.delete(w);
    }
  }
}

/**
 * x [N, in] · weightᵀ with weight [out, in], differentiated directly in the PyTorch layout:
 * dx = dy · weight and dweight = dyᵀ · x, so the backward pass transposes only dy.
 */
const linearNoBias = tf.customGrad(((x: tf.Tensor, weight: tf.Tensor, save: tf.GradSaveFunc) => {
  save([x, weight]);
  return {
    value: inOpClass("matmul", () => {
      const cached = transposed.get(weight);
      if (cached === undefined && transposeFlagsAreCheap()) return tf.matMul(x as tf.Tensor2D, weight as tf.Tensor2D, false, true);
      return tf.matMul(x as tf.Tensor2D, (cached ?? tf.transpose(weight)) as tf.Tensor2D);
    }),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
      inOpClass("matmul", () => {
        const [sx, sw] = saved;
        const dyT = transposeFlagsAreCheap() ? undefined : tf.transpose(dy);
        const dWeight = dyT === undefined ? tf.matMul(dy as tf.Tensor2D, sx as tf.Tensor2D, true, false) : tf.matMul(dyT as tf.Tensor2D, sx as tf.Tensor2D);
        return [tf.matMul(dy as tf.Tensor2D, sw as tf.Tensor2D), dWeight];
      }),
  };
}) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (x: tf.Tensor, weight: tf.Tensor) => tf.Tensor;

/** PyTorch Linear on rows: x [N, in], weight [out, in], bias [out] → [N, out]. */
export function linear(x: tf.Tensor, weight: tf.Tensor, bias?: tf.Tensor): tf.Tensor {
  const y = linearNoBias(x, weight);
  return bias ? inOpClass("matmul", () => tf.add(y, bias)) : y;
}

/** x as rows [N, d] over its last axis. */
function rows(x: tf.Tensor): tf.Tensor2D {
  const d = x.shape[x.rank - 1];
  return tf.reshape(x, [-1, d]) as tf.Tensor2D;
}

/**
 * LayerNorm over the last axis (SigLIP, eps 1e-6), with its gradient written out: with x̂ = (x − μ)·r,
 * r = 1/√(var + eps) and u = dy·w, dx = r·(u − mean(u) − x̂·mean(u·x̂)), dw = Σ dy·x̂, db = Σ dy
 * (autodiff through mean/var/rsqrt takes about twice the kernels).
 */
export function layerNorm(x: tf.Tensor, weight: tf.Tensor, bias: tf.Tensor, eps = 1e-6): tf.Tensor {
  let op = layerNormOps.get(eps);
  if (op === undefined) layerNormOps.set(eps, (op = layerNormWithEps(eps)));
  return op(x, weight, bias);
}

type LayerNormOp = (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => tf.Tensor;
const layerNormOps = new Map<number, LayerNormOp>();

const layerNormWithEps = (eps: number): LayerNormOp =>
  tf.customGrad(((x: tf.Tensor, weight: tf.Tensor, bias: tf.Tensor, save: tf.GradSaveFunc) =>
  inOpClass("norm", () => {
    const mean = tf.mean(x, -1, true);
    const centred = tf.sub(x, mean);
    const r = tf.rsqrt(tf.add(tf.mean(tf.square(centred), -1, true), eps));
    const normed = tf.mul(centred, r);
    save([normed, r, weight]);
    return {
      value: tf.add(tf.mul(normed, weight), bias),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        inOpClass("norm", () => {
          const [xh, sr, w] = saved;
          const u = tf.mul(dy, w);
          const dx = tf.mul(sr, tf.sub(tf.sub(u, tf.mean(u, -1, true)), tf.mul(xh, tf.mean(tf.mul(u, xh), -1, true))));
          const dw = tf.sum(rows(tf.mul(dy, xh)), 0);
          const db = tf.sum(rows(dy), 0);
          return [dx, dw, db];
        }),
    };
  })) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as LayerNormOp;

/**
 * Gemma RMSNorm: x·r·(1 + w), r = 1/√(mean(x²) + eps), eps 1e-6. Gradient written out: with
 * u = dy·(1 + w), dx = r·u − x·r³·mean(u·x), dw = Σ dy·x·r.
 */
export function rmsNorm(x: tf.Tensor, weight: tf.Tensor, eps = 1e-6): tf.Tensor {
  let op = rmsNormOps.get(eps);
  if (op === undefined) rmsNormOps.set(eps, (op = rmsNormWithEps(eps)));
  return op(x, weight);
}

type RmsNormOp = (x: tf.Tensor, w: tf.Tensor) => tf.Tensor;
const rmsNormOps = new Map<number, RmsNormOp>();

const rmsNormWithEps = (eps: number): RmsNormOp =>
  tf.customGrad(((x: tf.Tensor, weight: tf.Tensor, save: tf.GradSaveFunc) =>
  inOpClass("norm", () => {
    const r = tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), eps));
    const normed = tf.mul(x, r);
    const scale = tf.add(weight, 1);
    save([normed, r, scale]);
    return {
      value: tf.mul(normed, scale),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        inOpClass("norm", () => {
          const [xr, sr, sc] = saved;
          // In terms of x̂ = x·r: dx = r·(u − x̂·mean(u·x̂)).
          const u = tf.mul(dy, sc);
          const dx = tf.mul(sr, tf.sub(u, tf.mul(xr, tf.mean(tf.mul(u, xr), -1, true))));
          const dw = tf.sum(rows(tf.mul(dy, xr)), 0);
          return [dx, dw];
        }),
    };
  })) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as RmsNormOp;

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/**
 * GELU, tanh approximation (`gelu_pytorch_tanh`), evaluated as x·σ(2u) with u = √(2/π)(x + 0.044715x³)
 * since ½(1 + tanh u) = σ(2u): wasm's Sigmoid kernel is ~7× faster than its Tanh.
 */
export const geluTanh = tf.customGrad(((x: tf.Tensor, save: tf.GradSaveFunc) => inOpClass("gelu", () => {
  const twoU = tf.mul(x, tf.add(tf.mul(tf.square(x), 2 * 0.044715 * SQRT_2_OVER_PI), 2 * SQRT_2_OVER_PI));
  const sig = tf.sigmoid(twoU);
  save([x, sig]);
  return {
    value: tf.mul(x, sig),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => inOpClass("gelu", () => {
      const [sx, s] = saved;
      // d/dx [x·σ(2u)] = σ(2u) + x·σ(2u)(1 − σ(2u))·2u′,  2u′ = 2√(2/π)(1 + 3·0.044715x²)
      const twoDu = tf.add(tf.mul(tf.square(sx), 6 * 0.044715 * SQRT_2_OVER_PI), 2 * SQRT_2_OVER_PI);
      const grad = tf.add(s, tf.mul(tf.mul(tf.mul(sx, s), tf.sub(1, s)), twoDu));
      return [tf.mul(dy, grad)];
    }),
  };
})) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (x: tf.Tensor) => tf.Tensor;

function hasKernel(name: string): boolean {
  return tf.getKernel(name, tf.getBackend()) !== undefined;
}

/**
 * Embedding lookup: rows of `table` [V, d] at `ids` [N] (int32). The gradient scatters rows back with
 * `UnsortedSegmentSum` when the backend has it, otherwise with a one-hot matmul (always available).
 */
/** [vocab, N] with a 1 at (ids[n], n); built on the host because wasm's OneHot ignores float32. */
function oneHotTransposed(ids: Int32Array, vocab: number): tf.Tensor2D {
  const data = new Float32Array(vocab * ids.length);
  for (let n = 0; n < ids.length; n++) data[ids[n] * ids.length + n] = 1;
  return tf.tensor2d(data, [vocab, ids.length]);
}

export const embed = tf.customGrad(((table: tf.Tensor, ids: tf.Tensor, save: tf.GradSaveFunc) => inOpClass("embedding", () => {
  // ids are saved too: a tensor captured by closure would be disposed before the backward pass.
  save([table, ids]);
  return {
    value: tf.gather(table, ids),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => inOpClass("embedding", () => {
      const [t, idx] = saved;
      const vocab = t.shape[0];
      const dTable = hasKernel("UnsortedSegmentSum")
        ? tf.unsortedSegmentSum(dy, idx as tf.Tensor1D, vocab)
        : tf.matMul(oneHotTransposed(idx.dataSync() as Int32Array, vocab), dy as tf.Tensor2D);
      return [dTable, tf.zerosLike(idx)];
    }),
  };
})) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (table: tf.Tensor, ids: tf.Tensor) => tf.Tensor;
