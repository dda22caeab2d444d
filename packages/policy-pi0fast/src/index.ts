export {
  PI0FastConfigCodec,
  PRESETS,
  decodePI0FastConfig,
  pi0FastConfig,
  schedulerFor,
  learningRateAt,
  type PI0FastConfig,
  type Preset,
  type VisionConfig,
  type DecoderConfig,
} from "./config";
export {
  parameterShapes,
  checkpointShapes,
  parameterCount,
  initParameters,
  noWeightDecay,
  PALIGEMMA_PREFIX,
  type ParameterShapes,
} from "./model/parameters";
export { sequenceLayout, type SequenceLayout } from "./model/attention";
export { actionLoss, actionLogSoftmax, decodeGreedy, type DecodeOptions, type DistillTargets } from "./model/pi0fast";
export { modelFlops, type ModelFlops } from "./model/flops";
export {
  Pi0FastPolicy,
  createPi0FastPolicy,
  loadPi0FastPolicy,
  PRETRAINED_FILES,
  TEACHER_LOG_PROBS_KEY,
  type CreatePi0FastPolicyOptions,
  type NamedArrays,
  type SelectedActions,
  type TextTokenizerSource,
} from "./policy";
export type { ModelInputs, TextTokenizer } from "./inputs";
export * from "./processing-index";
export * from "./backend-index";
