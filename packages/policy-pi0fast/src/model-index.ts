/**
 * `@craft/policy-pi0fast/model`: the model as functions, for benchmarks that time one training step
 * outside the policy class (parameters, processor, loss) and compare it with PyTorch.
 */
export { parameterShapes, initParameters, parameterCount, type ParameterShapes } from "./model/parameters";
export { actionLoss, type DistillTargets } from "./model/pi0fast";
export { createProcessor, type Processor, type Batch } from "./processor";
export { byteLevelTokenizer } from "./text/byte-level";
export type { ModelInputs } from "./inputs";
