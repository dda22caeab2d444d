import type { LeRobotDataset } from "@craft/datasets";
import type { Pi0FastPolicy } from "@craft/policy-pi0fast";

export interface EvaluationReport {
  readonly frames: number;
  /** Mean action-token cross-entropy (the training loss). */
  readonly loss: number;
  /** Mean squared error of the decoded actions against the ground-truth chunk, in the dataset's units. */
  readonly action_mse: number;
  readonly action_mse_per_dim: number[];
  /** Same error after quantile normalisation (comparable across dimensions and datasets). */
  readonly action_mse_normalized: number;
  /** Samples whose generated tokens were not a well-formed FAST sequence. */
  readonly invalid_decodes: number;
}

/** Evenly spread frame positions (deterministic), at most `maxFrames`. */
export function evaluationPositions(numFrames: number, maxFrames: number): number[] {
  const n = Math.min(numFrames, maxFrames);
  return Array.from({ length: n }, (_, i) => Math.floor((i * numFrames) / n));
}

/** Loss and decoded-action error of a policy on (a deterministic sample of) a dataset. */
export async function evaluateOn(
  policy: Pi0FastPolicy,
  dataset: LeRobotDataset,
  options: { batchSize: number; maxFrames: number; decode?: boolean },
): Promise<EvaluationReport> {
  const positions = evaluationPositions(dataset.numFrames, options.maxFrames);
  // Normalise errors with the policy's own statistics, so every dataset is measured on one scale.
  const q01 = policy.stats.action?.q01 ?? policy.stats.action?.min;
  const q99 = policy.stats.action?.q99 ?? policy.stats.action?.max;
  let lossSum = 0;
  let frames = 0;
  let invalid = 0;
  let sqDims: number[] = [];
  let sqNorm = 0;
  let counted = 0;
  for (let start = 0; start < positions.length; start += options.batchSize) {
    const batch = await dataset.getFrames(positions.slice(start, start + options.batchSize));
    const { loss } = await policy.evaluate(batch);
    lossSum += loss * batch.size;
    frames += batch.size;
    if (options.decode === false) continue;
    const selected = await policy.selectAction(batch);
    invalid += selected.invalid;
    const truth = batch.features.action;
    const pad = batch.features.action_is_pad;
    const [b, t, d] = truth.shape;
    const steps = selected.actions.length / (b * d);
    if (sqDims.length === 0) sqDims = new Array(d).fill(0);
    for (let i = 0; i < b; i++) {
      for (let s = 0; s < Math.min(steps, t); s++) {
        if (pad && pad.data[i * t + s]) continue;
        for (let k = 0; k < d; k++) {
          const diff = selected.actions[(i * steps + s) * d + k] - (truth.data as Float32Array)[(i * t + s) * d + k];
          sqDims[k] += diff * diff;
          // Constant dimensions (q99 = q01) are compared in their own units rather than blown up by 1/eps.
          const range = q01 && q99 && q99[k] - q01[k] > 1e-6 ? (q99[k] - q01[k]) / 2 : 1;
          sqNorm += (diff / range) ** 2;
        }
        counted++;
      }
    }
  }
  const perDim = sqDims.map((s) => s / Math.max(counted, 1));
  return {
    frames,
    loss: lossSum / Math.max(frames, 1),
    action_mse: perDim.length ? perDim.reduce((a, b) => a + b, 0) / perDim.length : NaN,
    action_mse_per_dim: perDim,
    action_mse_normalized: sqDims.length ? sqNorm / Math.max(counted * sqDims.length, 1) : NaN,
    invalid_decodes: invalid,
  };
}
