import type { LeRobotDataset } from "@craft/datasets";
import { featureNormalizer, type Pi0FastPolicy } from "@craft/policy-pi0fast";

export interface EvaluationReport {
  readonly frames: number;
  /** Mean action-token cross-entropy (the training loss). */
  readonly loss: number;
  /** Mean squared error of the decoded actions against the ground-truth chunk, in the dataset's units. */
  readonly action_mse: number;
  readonly action_mse_per_dim: number[];
  /** Same error in the policy's normalised units (comparable across dimensions and datasets). */
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
  options: { batchSize: number; maxFrames: number; decode?: boolean; loss?: "replay" | "distill" },
): Promise<EvaluationReport> {
  const positions = evaluationPositions(dataset.numFrames, options.maxFrames);
  // Errors normalised with the policy's own normaliser (the one rule of normalize.ts, its mode and
  // its zero-range eps), so every dataset is measured on one scale.
  const normalizer = featureNormalizer(policy.stats, "action", policy.config.normalization_mapping.ACTION);
  let lossSum = 0;
  let frames = 0;
  let invalid = 0;
  let sqDims: number[] = [];
  let sqNorm = 0;
  let counted = 0;
  for (let start = 0; start < positions.length; start += options.batchSize) {
    const batch = await dataset.getFrames(positions.slice(start, start + options.batchSize));
    const { loss } = await policy.evaluate(batch, { loss: options.loss ?? "replay" });
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
        const predicted = selected.actions.slice((i * steps + s) * d, (i * steps + s + 1) * d);
        const actual = (truth.data as Float32Array).slice((i * t + s) * d, (i * t + s + 1) * d);
        for (let k = 0; k < d; k++) sqDims[k] += (predicted[k] - actual[k]) ** 2;
        normalizer.normalize(predicted);
        normalizer.normalize(actual);
        for (let k = 0; k < d; k++) sqNorm += (predicted[k] - actual[k]) ** 2;
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
