// Vector spaces: gradients in any representation.
export { norm2, norm, cosine, cosineFromGram, type VectorSpace, type Gram } from "./vectorSpace.js";
export { float32Space } from "./float32Space.js";
export { namedFloat32Space, type NamedVectors } from "./namedSpace.js";

// Gradient surgery and merge.
export { applySurgery, surgeryCoefficients, SURGERY_EPS, type SurgeryKind, type SurgeryResult } from "./surgery.js";
export { mergeGradients, mergeWeights, type MergeKind } from "./merge.js";

// Constraint schedule and multiplier.
export { epsilonAt, scheduleProgress, type EpsilonScheduleKind } from "./epsilon.js";
export { initialLambdaState, updateLambda, smoothedRetentionLoss, type LambdaState } from "./lambda.js";

// The reducer.
export {
  craftStep,
  initialCraftState,
  isRetentionStep,
  decodeCraftState,
  type CraftState,
  type CraftStepInput,
  type CraftStepOutput,
  type CraftMetrics,
} from "./craftStep.js";

// Configuration at the boundary.
export {
  CraftConfigCodec,
  defaultCraftConfig,
  decodeCraftConfig,
  formatCraftConfigErrors,
  makeCraftConfig,
  craftConfigFields,
  craftConfigDocs,
  type CraftConfig,
  type LambdaUpdateKind,
  type RetentionLossKind,
} from "./config.js";
export { CraftError, isCraftError, type CraftErrorTag, type CraftErrorDetails } from "./errors.js";
export { parseDottedOverrides, applyCraftOverrides, parseFlagValue } from "./overrides.js";
