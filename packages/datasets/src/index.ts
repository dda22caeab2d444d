/**
 * @craft/datasets — LeRobot datasets (v2.1 and v3.0) read exactly as LeRobot writes them (DESIGN §3).
 *
 * Open a dataset (local root, LeRobot's cache or the Hugging Face hub cache) and gather frames with
 * delta_timestamps, batch them with a seeded, resumable loader, write v3.0 datasets, make the
 * synthetic tasks and run their simulated environments, and build anchor sets for CRaFT.
 */
export type { ArrayTensor, Batch, FeatureStats, DatasetStats } from "./batch.js";
export { DatasetError, isDatasetError, type DatasetErrorTag, type DatasetErrorDetails, type ExcludeOption } from "./errors.js";
export { readInfo, type DatasetInfo, type FeatureSpec, type CodebaseVersion } from "./info.js";
export { readDatasetMeta, aggregateStats, type DatasetMeta, type EpisodeInfo, type VideoLocation } from "./metadata.js";
export { openDataset, type OpenDatasetOptions, type LeRobotDataset, type DatasetEpisode, type FrameSource } from "./dataset.js";
export { deltaTimestampsForChunk } from "./deltaTimestamps.js";
export { createLoader, epochIndices, type Loader, type LoaderOptions, type LoaderPosition } from "./loader.js";
export { checkWritableRoot, writeDataset, type WriteDatasetOptions, type WriteEpisode, type WriteFeatureSpec, type FrameValues } from "./writer.js";
export { makeSyntheticDataset, syntheticEpisodes, SYNTHETIC_ENVS, SYNTHETIC_ROBOT_TYPE, SYNTHETIC_TASKS, type SyntheticTask, type SyntheticOptions } from "./synthetic.js";
export {
  makeEnv,
  STATIONS,
  STATION_JITTER,
  TARGET_COLORS,
  SUCCESS_RADIUS,
  SETTLE_STEP,
  MAX_STEP,
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
  readAnchorManifest,
  addTeacherDistributions,
  checkTeacherSignature,
  TEACHER_COLUMN,
  type TeacherSignatureRecord,
  stratifiedSelection,
  type AnchorCache,
  type AnchorManifest,
  type BuildAnchorCacheOptions,
} from "./anchors.js";
export { resolveDatasetRoot, fetchDatasetRoot } from "./resolve.js";
export {
  isHubRepoId,
  resolveHubSnapshot,
  pushToHub,
  type HubRepoType,
  type ResolveHubOptions,
  type PushToHubOptions,
} from "./hub.js";
export { datasetInfoReport, type DatasetInfoOptions } from "./report.js";
export { parseEpisodeList, type EpisodeListProblem } from "./episodes.js";
export { encodeVideo, probeVideo, hasFfmpeg, pickVideoCodec, type VideoCodec } from "./video.js";
