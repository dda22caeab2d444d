export type { ArrayTensor, Batch, FeatureStats, DatasetStats } from "./batch.js";
export { DatasetError, isDatasetError, type DatasetErrorTag, type DatasetErrorDetails } from "./errors.js";
export { readInfo, formatTemplate, type DatasetInfo, type FeatureSpec, type CodebaseVersion } from "./info.js";
export { readDatasetMeta, aggregateStats, type DatasetMeta, type EpisodeInfo, type VideoLocation } from "./metadata.js";
export { openDataset, type OpenDatasetOptions, type LeRobotDataset, type DatasetEpisode, type FrameSource } from "./dataset.js";
export { deltaTimestampsForChunk } from "./deltaTimestamps.js";
export { createLoader, epochIndices, type Loader, type LoaderOptions, type LoaderPosition } from "./loader.js";
export { writeDataset, type WriteDatasetOptions, type WriteEpisode, type WriteFeatureSpec, type FrameValues } from "./writer.js";
export { makeSyntheticDataset, syntheticEpisodes, TASK_TEXT, SYNTHETIC_TASKS, SYNTHETIC_ENVS, type SyntheticTask, type SyntheticOptions } from "./synthetic.js";
export {
  makeEnv,
  ENV_TYPES,
  TARGET_COLORS,
  type MakeEnvOptions,
  type SimEnv,
  type EnvSpec,
  type EnvObservation,
  type StepResult,
  type StepInfo,
  type EnvOutcome,
  type EnvType,
} from "./envs/index.js";
export {
  buildAnchorCache,
  openAnchorSet,
  addTeacherDistributions,
  checkTeacherSignature,
  TEACHER_COLUMN,
  type TeacherSignatureRecord,
  stratifiedSelection,
  isAnchorCache,
  ANCHOR_MANIFEST,
  type AnchorCache,
  type AnchorManifest,
  type BuildAnchorCacheOptions,
} from "./anchors.js";
export { resolveDatasetRoot, fetchDatasetRoot, lerobotHome } from "./resolve.js";
export {
  hfHubCache,
  hubOffline,
  isHubRepoId,
  hubRepoFolder,
  cachedSnapshot,
  resolveHubSnapshot,
  pushToHub,
  type HubRepoType,
  type ResolveHubOptions,
  type PushToHubOptions,
} from "./hub.js";
export { datasetInfoReport, type DatasetInfoOptions } from "./report.js";
export { parseEpisodeList, selectEpisodes, type EpisodeListProblem } from "./episodes.js";
export { encodeVideo, probeVideo, hasFfmpeg, pickVideoCodec, type VideoCodec } from "./video.js";
export { encodePng, decodeImage, type RgbImage } from "./image.js";
