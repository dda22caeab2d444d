import { axpyIn, norm2, type VectorSpace } from "./vectorSpace.js";

export type SurgeryKind = "none" | "project_task" | "pcgrad";

/** Guards the projection coefficient against ‖g‖² = 0 (DESIGN.md §2). */
export const SURGERY_EPS = 1e-12;

export interface SurgeryResult<V> {
  readonly task: V;
  readonly retain: V;
  /** g_t·g_r before surgery. */
  readonly dot: number;
  /** g_t·g_r < 0. */
  readonly conflict: boolean;
}

/**
 * Coefficients of the surgered gradients in the basis (g_t, g_r):
 * task' = tt·g_t + tr·g_r, retain' = rt·g_t + rr·g_r. Shared by the generic and the fused path.
 */
export interface SurgeryCoefficients {
  readonly tt: number;
  readonly tr: number;
  readonly rt: number;
  readonly rr: number;
}

const IDENTITY: SurgeryCoefficients = { tt: 1, tr: 0, rt: 0, rr: 1 };

export const surgeryCoefficients = (
  kind: SurgeryKind,
  dot: number,
  taskNorm2: number,
  retainNorm2: number,
): SurgeryCoefficients => {
  if (!(dot < 0) || kind === "none") return IDENTITY;
  // A-GEM (Chaudhry et al. 2019) / one-sided PCGrad: remove g_t's component along g_r.
  // craft-core's Float32Array spaces give dot and ‖·‖² as float64 sums of exact float32 products,
  // so subnormal gradients neither underflow ‖g_r‖² to 0 nor blow up the coefficient (ε guards a
  // space that does underflow); what stays is the rounding of the result back to float32, which
  // leaves g_t'·g_r ≥ −(half an ulp per component)·|g_r| (test/properties.test.ts).
  const projectTask = dot / (retainNorm2 + SURGERY_EPS);
  if (kind === "project_task") return { tt: 1, tr: -projectTask, rt: 0, rr: 1 };
  // PCGrad, Yu et al. 2020, eq. 1 — each against the *original* other gradient.
  const projectRetain = dot / (taskNorm2 + SURGERY_EPS);
  return { tt: 1, tr: -projectTask, rt: -projectRetain, rr: 1 };
};

/**
 * Gradient surgery on a (task, retention) pair. Non-conflicting pairs (dot ≥ 0) come back as the
 * very same values, bit for bit.
 */
export const applySurgery = <V>(space: VectorSpace<V>, kind: SurgeryKind, gTask: V, gRetain: V): SurgeryResult<V> => {
  const dot = space.dot(gTask, gRetain);
  const conflict = dot < 0;
  if (!conflict || kind === "none") return { task: gTask, retain: gRetain, dot, conflict };
  const taskNorm2 = kind === "pcgrad" ? norm2(space, gTask) : 0;
  const c = surgeryCoefficients(kind, dot, taskNorm2, norm2(space, gRetain));
  const task = axpyIn(space, gTask, c.tr, gRetain);
  const retain = c.rt === 0 ? gRetain : axpyIn(space, gRetain, c.rt, gTask);
  return { task, retain, dot, conflict };
};
