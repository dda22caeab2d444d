import type { BatchSource, TrainablePolicy } from "./interfaces.js";

export interface EvaluationResult {
  /** Mean loss over the batches. */
  readonly loss: number;
  /** Mean of each metric the policy reported. */
  readonly metrics: Readonly<Record<string, number>>;
  readonly batches: number;
}

/** Mean loss (and mean policy metrics) of `numBatches` batches, without gradients. */
export const evaluatePolicy = async <B>(
  policy: Pick<TrainablePolicy<B, unknown>, "evaluate">,
  source: BatchSource<B>,
  numBatches: number,
): Promise<EvaluationResult> => {
  if (!Number.isInteger(numBatches) || numBatches <= 0) {
    throw new Error(`evaluatePolicy: numBatches: expected a positive integer, got ${numBatches}`);
  }
  let loss = 0;
  const sums: Record<string, number> = {};
  for (let i = 0; i < numBatches; i++) {
    const result = await policy.evaluate(await source.next());
    loss += result.loss;
    for (const [k, v] of Object.entries(result.metrics ?? {})) sums[k] = (sums[k] ?? 0) + v;
  }
  const metrics: Record<string, number> = {};
  for (const [k, v] of Object.entries(sums)) metrics[k] = v / numBatches;
  return { loss: loss / numBatches, metrics, batches: numBatches };
};
