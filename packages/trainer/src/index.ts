/**
 * @craft/trainer — the baseline and CRaFT training loops over interfaces (DESIGN §5).
 *
 * A policy and a batch source satisfy `TrainablePolicy` and `BatchSource` structurally; `train` and
 * `trainCraft` run the loop, write checkpoints and metrics, and resume exactly. The optimizer pieces
 * serve other loops and benchmarks; the distributed layer joins an MPI data-parallel job.
 */
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
export type { StepEndHook, TrainCraftOptions, TrainOptions, TrainResult } from "./loop.js";
export {
  TrainConfigCodec,
  OptimizerConfigCodec,
  WandbConfigCodec,
  decodeTrainConfig,
  defaultTrainConfig,
  trainConfigDocs,
  wandbConfigDocs,
  type OptimizerConfig,
  type TrainConfig,
  type WandbConfig,
} from "./config.js";
export { adamwStep, createAdamWState, type AdamWState } from "./adamw.js";
export { namedGradientSpace } from "./gradientSpace.js";
export {
  checkFreeSpace,
  checkpointBytes,
  readLastCheckpointSummary,
  writeCheckpoint,
  type CheckpointSummary,
  type TrainingState,
} from "./checkpoint.js";
export { METRIC_KEYS, METRICS_FILE, SUPERSEDED_METRICS_FILE, type TrainMetrics } from "./metrics.js";
export { evaluatePolicy, type EvaluationResult } from "./evaluate.js";
export { TrainerError, isTrainerError, type TrainerErrorTag, type TrainerErrorDetails } from "./errors.js";
export {
  detectLaunchEnvironment,
  initDistributed,
  runDistributed,
  singleProcessCommunicator,
  DEFAULT_COLLECTIVE_TIMEOUT_S,
  type Communicator,
  type DistributedMode,
  type DistributedOptions,
  type LaunchEnvironment,
  type RankProcess,
} from "./distributed/index.js";
