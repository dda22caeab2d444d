import type { GradientSpace } from "./interfaces.js";

/**
 * Clip by global norm as torch.nn.utils.clip_grad_norm_: coefficient max/(‖g‖ + 1e-6), capped at 1.
 * `maxNorm = 0` disables clipping. Returns the norm before clipping.
 */
export const clipByGlobalNorm = <G>(
  space: GradientSpace<G>,
  grad: G,
  maxNorm: number,
  normBefore: number = Math.sqrt(space.dot(grad, grad)),
): { grad: G; norm: number; clipped: boolean } => {
  if (maxNorm <= 0) return { grad, norm: normBefore, clipped: false };
  const coefficient = maxNorm / (normBefore + 1e-6);
  if (coefficient >= 1) return { grad, norm: normBefore, clipped: false };
  return { grad: space.scale(grad, coefficient), norm: normBefore, clipped: true };
};
