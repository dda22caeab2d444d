import * as E from "fp-ts/lib/Either.js";
import type { CraftConfig } from "./config.js";
import { epsilonAt } from "./epsilon.js";
import { initialLambdaState, smoothedRetentionLoss, updateLambda, type LambdaState } from "./lambda.js";
import { mergeGradients, mergeWeights } from "./merge.js";
import { applySurgery, surgeryCoefficients } from "./surgery.js";
import { cosineFromGram, norm, type Gram, type VectorSpace } from "./vectorSpace.js";

/** Everything CRaFT carries from step to step; JSON-serialisable for checkpoints. */
export interface CraftState {
  readonly lambda: LambdaState;
}

export const initialCraftState = (config: CraftConfig): CraftState => ({ lambda: initialLambdaState(config) });

export interface CraftStepInput<V> {
  readonly gTask: V;
  readonly gRetain: V;
  /** Retention loss on the anchor batch that produced gRetain. */
  readonly retentionLoss: number;
  /** 0-based optimizer step. */
  readonly step: number;
}

export interface CraftMetrics {
  /** g_t·g_r before surgery. */
  dot: number;
  cosine: number;
  /** g_t·g_r < 0. */
  conflict: boolean;
  taskNorm: number;
  retainNorm: number;
  /** ‖g_t‖ after surgery. */
  taskNormAfter: number;
  /** ‖g_r‖ after surgery (differs from retainNorm only under pcgrad). */
  retainNormAfter: number;
  /** ‖merged gradient‖. */
  gradNorm: number;
  /** λ used for this step's merge (before the update). */
  lambda: number;
  /** λ after the update, used at the next step. */
  lambdaNext: number;
  epsilon: number;
  /** max(0, L̂_r − ε): how far the (smoothed) retention loss exceeds its bound. */
  violation: number;
  retentionLoss: number;
  /** L̂_r: the retention loss the λ update saw (the EMA when lambda_ema > 0). */
  retentionLossSmoothed: number;
}

export interface CraftStepOutput<V> {
  readonly state: CraftState;
  readonly grad: V;
  readonly metrics: CraftMetrics;
}

/** ‖x·a + y·b‖² from the Gram matrix of (a, b). */
const quadratic = (g: Gram, x: number, y: number): number =>
  Math.max(0, x * x * g.aa + 2 * x * y * g.ab + y * y * g.bb);

interface MergedGradient<V> {
  readonly grad: V;
  readonly gram: Gram;
  readonly taskNormAfter: number;
  readonly retainNormAfter: number;
  readonly gradNorm: number;
}

/**
 * Two passes: one reading pass for ⟨g_t,g_r⟩, ‖g_t‖², ‖g_r‖², then one writing pass for
 * g = a·g_t + b·g_r — surgery and merge are both linear in (g_t, g_r), so they fold into (a, b).
 * Norms after surgery and merge follow from the Gram matrix without touching the data again.
 */
const fusedMerge = <V>(
  config: CraftConfig,
  space: VectorSpace<V> & Required<Pick<VectorSpace<V>, "gram" | "combine">>,
  gTask: V,
  gRetain: V,
  lambda: number,
): MergedGradient<V> => {
  const gram = space.gram(gTask, gRetain);
  const c = surgeryCoefficients(config.surgery, gram.ab, gram.aa, gram.bb);
  const w = mergeWeights(config.merge, lambda);
  const a = w.task * c.tt + w.retain * c.rt;
  const b = w.task * c.tr + w.retain * c.rr;
  return {
    grad: space.combine(a, gTask, b, gRetain),
    gram,
    taskNormAfter: Math.sqrt(quadratic(gram, c.tt, c.tr)),
    retainNormAfter: Math.sqrt(quadratic(gram, c.rt, c.rr)),
    gradNorm: Math.sqrt(quadratic(gram, a, b)),
  };
};

/** Any space: surgery and merge through dot/scale/add(/axpy), norms measured on the results. */
const genericMerge = <V>(
  config: CraftConfig,
  space: VectorSpace<V>,
  gTask: V,
  gRetain: V,
  lambda: number,
): MergedGradient<V> => {
  const surgery = applySurgery(space, config.surgery, gTask, gRetain);
  const grad = mergeGradients(space, config.merge, surgery.task, surgery.retain, lambda);
  const gram = { ab: surgery.dot, aa: space.dot(gTask, gTask), bb: space.dot(gRetain, gRetain) };
  return {
    grad,
    gram,
    taskNormAfter: surgery.task === gTask ? Math.sqrt(gram.aa) : norm(space, surgery.task),
    retainNormAfter: surgery.retain === gRetain ? Math.sqrt(gram.bb) : norm(space, surgery.retain),
    gradNorm: norm(space, grad),
  };
};

const hasFusedPath = <V>(
  space: VectorSpace<V>,
): space is VectorSpace<V> & Required<Pick<VectorSpace<V>, "gram" | "combine">> =>
  space.gram !== undefined && space.combine !== undefined;

/**
 * The CRaFT reducer (DESIGN.md §2): surgery on (g_t, g_r), merge with the current λ, then the λ
 * update with the retention loss against ε(step). Pure: the same state and input give the same
 * output, and nothing passed in is mutated.
 */
export const craftStep = <V>(config: CraftConfig, space: VectorSpace<V>, totalSteps: number) => {
  if (!Number.isInteger(totalSteps) || totalSteps < 0) {
    throw new Error(`craftStep: totalSteps must be an integer ≥ 0 (the run's step count), got ${totalSteps}`);
  }
  return (state: CraftState, input: CraftStepInput<V>): CraftStepOutput<V> => {
    const lambda = state.lambda.lambda;
    const epsilon = epsilonAt(config, input.step, totalSteps);
    const merged = hasFusedPath(space)
      ? fusedMerge(config, space, input.gTask, input.gRetain, lambda)
      : genericMerge(config, space, input.gTask, input.gRetain, lambda);
    const smoothed = smoothedRetentionLoss(config, state.lambda, input.retentionLoss);
    const nextLambda = updateLambda(config, state.lambda, input.retentionLoss, epsilon);
    return {
      state: { lambda: nextLambda },
      grad: merged.grad,
      metrics: {
        dot: merged.gram.ab,
        cosine: cosineFromGram(merged.gram),
        conflict: merged.gram.ab < 0,
        taskNorm: Math.sqrt(merged.gram.aa),
        retainNorm: Math.sqrt(merged.gram.bb),
        taskNormAfter: merged.taskNormAfter,
        retainNormAfter: merged.retainNormAfter,
        gradNorm: merged.gradNorm,
        lambda,
        lambdaNext: nextLambda.lambda,
        epsilon,
        violation: Math.max(0, smoothed - epsilon),
        retentionLoss: input.retentionLoss,
        retentionLossSmoothed: smoothed,
      },
    };
  };
};

/** Whether the retention gradient is recomputed at `step` (else the trainer reuses the last one). */
export const isRetentionStep = (config: Pick<CraftConfig, "retention_freq">, step: number): boolean =>
  step % config.retention_freq === 0;

const isNullableFinite = (value: unknown): value is number | null =>
  value === null || (typeof value === "number" && Number.isFinite(value));

/** Validate a CraftState read back from a checkpoint. */
export const decodeCraftState = (input: unknown, path = "craft_state"): E.Either<string[], CraftState> => {
  const lambdaState = (input as { lambda?: unknown } | null)?.lambda;
  if (typeof lambdaState !== "object" || lambdaState === null) {
    return E.left([`${path}.lambda: expected object, got ${JSON.stringify(lambdaState) ?? "undefined"}`]);
  }
  const s = lambdaState as Record<string, unknown>;
  const errors: string[] = [];
  for (const key of ["lambda", "integral"] as const) {
    if (typeof s[key] !== "number" || !Number.isFinite(s[key]) || (s[key] as number) < 0) {
      errors.push(`${path}.lambda.${key}: expected finite number ≥ 0, got ${JSON.stringify(s[key]) ?? "undefined"}`);
    }
  }
  for (const key of ["ema", "prevLoss"] as const) {
    if (!isNullableFinite(s[key])) {
      errors.push(`${path}.lambda.${key}: expected number | null, got ${JSON.stringify(s[key]) ?? "undefined"}`);
    }
  }
  if (errors.length > 0) return E.left(errors);
  return E.right({
    lambda: {
      lambda: s.lambda as number,
      integral: s.integral as number,
      ema: s.ema as number | null,
      prevLoss: s.prevLoss as number | null,
    },
  });
};
