export type {
  BatchSource,
  ComputeGradientsOptions,
  GradientSpace,
  LossAndGradients,
  NamedArrays,
  ReduceGradients,
  RetentionLossKind,
  TensorFileIO,
  TrainablePolicy,
} from "./interfaces.js";
export { train, trainCraft } from "./train.js";
export type { TrainCraftOptions, TrainOptions, TrainResult } from "./loop.js";
export {
  TrainConfigCodec,
  OptimizerConfigCodec,
  WandbConfigCodec,
  decodeTrainConfig,
  defaultTrainConfig,
  type OptimizerConfig,
  type TrainConfig,
  type WandbConfig,
} from "./config.js";
export { adamwStep, createAdamWState, type AdamWState } from "./adamw.js";
export { clipByGlobalNorm } from "./clip.js";
export { namedGradientSpace } from "./gradientSpace.js";
export { createRng, type Rng } from "./rng.js";
export {
  checkFreeSpace,
  checkpointBytes,
  lastCheckpointDir,
  readLastCheckpointSummary,
  readTrainingState,
  stepDirName,
  writeCheckpoint,
  type CheckpointSummary,
  type TrainingState,
} from "./checkpoint.js";
export { METRIC_KEYS, METRICS_FILE, SUPERSEDED_METRICS_FILE, type TrainMetrics } from "./metrics.js";
export { startWandb, type WandbOptions, type WandbSink } from "./wandb.js";
export { evaluatePolicy, type EvaluationResult } from "./evaluate.js";
export * from "./distributed/index.js";
