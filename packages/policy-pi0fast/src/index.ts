/**
 * @craft/policy-pi0fast — pi0-FAST as LeRobot ships it, on TensorFlow.js.
 *
 * The public API: build or load a policy (`createPi0FastPolicy`, `loadPi0FastPolicy`), its config
 * (LeRobot's PI0FastConfig with defaults and presets) and LR schedule, the FAST action tokenizer,
 * the checkpoint folder (`pretrained_model/`) and safetensors files, and the tfjs backend choice.
 * Two documented sub-paths serve benchmarks and device checks: `@craft/policy-pi0fast/backend`
 * (kernels, native BLAS, WebGPU memory) and `@craft/policy-pi0fast/model` (the model's functions).
 */
export {
  decodePI0FastConfig,
  pi0FastConfig,
  policyConfigDocs,
  policyNestedConfigDocs,
  schedulerFor,
  learningRateAt,
  type PI0FastConfig,
  type Preset,
  type NormMode,
} from "./config";
export {
  Pi0FastPolicy,
  createPi0FastPolicy,
  loadPi0FastPolicy,
  PRETRAINED_FILES,
  TEACHER_LOG_PROBS_KEY,
  DEFAULT_TEACHER_TOP_K,
  type TeacherSignature,
  type LoadPi0FastPolicyOptions,
  type CreatePi0FastPolicyOptions,
  type NamedArrays,
  type SelectedActions,
  type TextTokenizerSource,
} from "./policy";
export { inspectPretrained, tokenizersToResolve, type PretrainedSummary } from "./checkpoint";
export { modelFlops, type ModelFlops } from "./model/flops";
export type { ModelInputs, TextTokenizer } from "./inputs";
export { initBackend, describeBackend, type BackendDevice, type BackendInfo, type BackendOptions } from "./backend/index";
export { readSafetensors, writeSafetensors, type SafetensorsFile, type SafetensorsInput } from "./weights/safetensors";
export { fitFastTokenizer, saveFastTokenizer, loadFastTokenizer, type FastTokenizer } from "./fast/tokenizer";
export { loadHfTokenizer } from "./text/hf-tokenizer";
export { featureNormalizer, type Normalizer, type NormalizationMode, type DatasetStats } from "./normalize";
export { renameKey, type Batch } from "./processor";
export { PolicyError, isPolicyError, type PolicyErrorTag, type PolicyErrorDetails } from "./errors";
