/** The batch and statistics shapes the loader yields: declared once in @craft/data-contract, shared with the policy. */
export type { ArrayTensor, Batch, FeatureStats, DatasetStats } from "@craft/data-contract";
