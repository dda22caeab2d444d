export { dctII, dctIII } from "./fast/dct";
export {
  fitFastTokenizer,
  fitFastTokenizerFromChunks,
  fastTokenizerFromJSON,
  saveFastTokenizer,
  loadFastTokenizer,
  roundHalfEven,
  PROCESSOR_CONFIG_FILE,
  FastTokenizerJsonCodec,
  type FastTokenizer,
  type FastTokenizerJson,
  type FastProcessorConfig,
  type FastFitOptions,
  type FastDecoded,
} from "./fast/tokenizer";
export { byteLevelTokenizer, BYTE_LEVEL_SPECIALS } from "./text/byte-level";
export { loadHfTokenizer, hfTokenizerFromJSON } from "./text/hf-tokenizer";
export { featureNormalizer, NORMALIZE_EPS, type Normalizer, type NormalizationMode, type DatasetStats, type FeatureStats } from "./normalize";
export { resizeWithPad } from "./image";
export {
  createProcessor,
  discretizeState,
  cleanTask,
  renameKey,
  renameBatchKeys,
  renameStats,
  type Processor,
  type ProcessorConfig,
  type ProcessorDeps,
  type DecodedActions,
  type Batch,
  type ArrayTensor,
} from "./processor";
