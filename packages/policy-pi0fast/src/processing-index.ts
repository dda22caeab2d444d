export { dctII, dctIII } from "./fast/dct";
export {
  fitFastTokenizer,
  fitFastTokenizerFromChunks,
  fastTokenizerFromJSON,
  FastTokenizerJsonCodec,
  type FastTokenizer,
  type FastTokenizerJson,
  type FastFitOptions,
  type FastDecoded,
} from "./fast/tokenizer";
export { byteLevelTokenizer, BYTE_LEVEL_SPECIALS } from "./text/byte-level";
export { loadHfTokenizer, hfTokenizerFromJSON } from "./text/hf-tokenizer";
export { quantileNormalizer, NORMALIZE_EPS, type Normalizer, type DatasetStats, type FeatureStats } from "./normalize";
export { resizeWithPad } from "./image";
export {
  createProcessor,
  discretizeState,
  cleanTask,
  type Processor,
  type ProcessorConfig,
  type ProcessorDeps,
  type DecodedActions,
  type Batch,
  type ArrayTensor,
} from "./processor";
