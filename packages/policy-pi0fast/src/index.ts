export {
  PI0FastConfigCodec,
  PRESETS,
  decodePI0FastConfig,
  pi0FastConfig,
  schedulerFor,
  learningRateAt,
  VARIANT_PRESET,
  type PI0FastConfig,
  type Preset,
  type PaligemmaVariant,
  type PolicyFeature,
  type FeatureType,
  type NormMode,
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
  type LoadPi0FastPolicyOptions,
  PRETRAINED_FILES,
  TEACHER_LOG_PROBS_KEY,
  DEFAULT_TEACHER_TOP_K,
  type TeacherSignature,
  type CreatePi0FastPolicyOptions,
  type NamedArrays,
  type SelectedActions,
  type TextTokenizerSource,
} from "./policy";
export {
  readPretrained,
  readPretrainedConfig,
  inspectPretrained,
  type PretrainedSummary,
  writePretrained,
  pretrainedDirOf,
  withFeatures,
  type PretrainedContents,
  type PretrainedRead,
} from "./checkpoint";
export {
  configFromLeRobot,
  lerobotConfigJson,
  craftSidecar,
  imageKeysOf,
  LEROBOT_CONFIG_FIELDS,
  CRAFT_SIDECAR_FILE,
  type CraftSidecar,
  type LeRobotConfigRead,
} from "./lerobot/configJson";
export { preprocessorPipeline, postprocessorPipeline, normalizerStepOf, type PipelineJson } from "./lerobot/processorJson";
export { readSafetensorsHeader, type SafetensorsHeader } from "./weights/safetensors";
export type { ModelInputs, TextTokenizer } from "./inputs";
export * from "./processing-index";
export * from "./backend-index";
