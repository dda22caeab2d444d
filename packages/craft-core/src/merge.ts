import { axpyIn, type VectorSpace } from "./vectorSpace.js";

export type MergeKind = "sum" | "normalized";

/** Weights (w_t, w_r) of g = w_t·g_t + w_r·g_r. */
export const mergeWeights = (kind: MergeKind, lambda: number): { readonly task: number; readonly retain: number } =>
  kind === "sum" ? { task: 1, retain: lambda } : { task: 1 / (1 + lambda), retain: lambda / (1 + lambda) };

/** `sum`: g = g_t + λ·g_r. `normalized`: g = (g_t + λ·g_r) / (1 + λ). */
export const mergeGradients = <V>(space: VectorSpace<V>, kind: MergeKind, gTask: V, gRetain: V, lambda: number): V => {
  const sum = axpyIn(space, gTask, lambda, gRetain);
  return kind === "sum" ? sum : space.scale(sum, 1 / (1 + lambda));
};
