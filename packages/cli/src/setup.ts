import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import * as E from "fp-ts/lib/Either.js";
import {
  aggregateStats,
  createLoader,
  deltaTimestampsForChunk,
  isDatasetError,
  openAnchorSet,
  openDataset,
  parseEpisodeList,
  readInfo,
  readDatasetMeta,
  resolveDatasetRoot,
  type Batch,
  type DatasetStats,
  type FeatureStats,
  type LeRobotDataset,
  type Loader,
} from "@craft/datasets";
import {
  createPi0FastPolicy,
  describeBackend,
  loadFastTokenizer,
  fitFastTokenizer,
  initBackend,
  loadPi0FastPolicy,
  renameKey,
  featureNormalizer,
  readSafetensors,
  writeSafetensors,
  type BackendInfo,
  type FastTokenizer,
  type NormalizationMode,
  type PI0FastConfig,
  type Pi0FastPolicy,
} from "@craft/policy-pi0fast";
import type { NamedArrays, TensorFileIO } from "@craft/trainer";
import { ConfigError } from "./errors.js";
import type { DatasetSpec, TokenizerSpec } from "./runConfig.js";

/** Camera features (images or videos) of a dataset, in info.json order. */
export const cameraKeys = (dataset: Pick<LeRobotDataset, "features">): string[] =>
  Object.entries(dataset.features)
    .filter(([, spec]) => spec.dtype === "image" || spec.dtype === "video")
    .map(([key]) => key);

export type DatasetLocation = Pick<DatasetSpec, "root" | "repo_id" | "episodes" | "exclude">;

export function datasetRoot(spec: DatasetLocation): string {
  return resolveDatasetRoot({ root: spec.root ?? undefined, repoId: spec.repo_id ?? undefined });
}

/** `--dataset.episodes` for every command: LeRobot's `list[int]`, a scalar 3 meaning [3]. */
export function episodesFlag(value: unknown): readonly number[] | null {
  const parsed = parseEpisodeList(value);
  if (E.isLeft(parsed)) throw new ConfigError([`dataset.episodes: expected ${parsed.left.expected}, got ${parsed.left.actual}`]);
  return parsed.right;
}

/** Runs `open`, reporting a dataset's refusal of the `episodes` option as the --dataset.episodes flag. */
export async function withEpisodesFlag<T>(open: () => Promise<T>): Promise<T> {
  try {
    return await open();
  } catch (err) {
    if (isDatasetError(err) && err.field === "episodes") {
      throw new ConfigError([`dataset.episodes: expected ${err.expected} (${err.file}), got ${err.actual ?? "nothing"}`]);
    }
    throw err;
  }
}

/** Opens the training dataset with action chunks of `chunkSize` frames gathered per sample. */
export async function openTaskDataset(spec: DatasetLocation, chunkSize: number): Promise<LeRobotDataset> {
  const root = datasetRoot(spec);
  // fps from info.json: opening the dataset to learn it would check every video twice.
  const fps = readInfo(root).info.fps;
  return withEpisodesFlag(() =>
    openDataset(root, {
      exclude: spec.exclude,
      episodes: spec.episodes ?? undefined,
      deltaTimestamps: { action: deltaTimestampsForChunk(fps, chunkSize) },
    }),
  );
}

/** An anchor set: a LeRobot dataset or an anchor cache; its action chunks must match the policy's. */
export async function openAnchors(path: string, chunkSize: number, exclude: readonly string[]): Promise<LeRobotDataset> {
  if (!existsSync(path)) throw new ConfigError([`craft.anchor_dataset_path: ${path} does not exist (expected a LeRobot dataset or an anchor cache directory)`]);
  if (!statSync(path).isDirectory()) throw new ConfigError([`craft.anchor_dataset_path: ${path} is a file, expected a directory (a LeRobot dataset or an anchor cache)`]);
  const probe = await openAnchorSet(path, { exclude });
  const fps = probe.fps;
  await probe.close();
  const anchors = await openAnchorSet(path, { exclude, deltaTimestamps: { action: deltaTimestampsForChunk(fps, chunkSize) } });
  const chunk = anchors.deltaTimestamps.action?.length;
  if (chunk !== undefined && chunk !== chunkSize) {
    throw new ConfigError([
      `craft.anchor_dataset_path: the anchor cache at ${path} holds action chunks of ${chunk} frames, the policy's chunk_size is ${chunkSize}; rebuild it with --chunk_size=${chunkSize}`,
    ]);
  }
  return anchors;
}

/**
 * Statistics of several datasets as one normaliser must see them: LeRobot's count-weighted
 * aggregate for mean/std, and the union of the ranges for min/max and the q01/q99 bounds (a
 * weighted average of quantiles would squeeze a dimension that is constant in each dataset but
 * different across them into nothing).
 */
export function unionStats(all: readonly DatasetStats[]): DatasetStats {
  if (all.length === 1) return all[0];
  const merged: Record<string, FeatureStats> = { ...aggregateStats(all) };
  for (const key of Object.keys(merged)) {
    const parts = all.map((s) => s[key]).filter((s): s is FeatureStats => s !== undefined);
    const bound = (name: "min" | "max" | "q01" | "q99", pick: (...v: number[]) => number) =>
      parts.every((p) => p[name] !== undefined) ? parts[0][name]!.map((_, j) => pick(...parts.map((p) => p[name]![j]))) : undefined;
    merged[key] = {
      ...merged[key],
      ...(bound("min", Math.min) && { min: bound("min", Math.min) }),
      ...(bound("max", Math.max) && { max: bound("max", Math.max) }),
      ...(bound("q01", Math.min) && { q01: bound("q01", Math.min) }),
      ...(bound("q99", Math.max) && { q99: bound("q99", Math.max) }),
    };
  }
  return merged;
}

/**
 * FAST fitted on the action chunks of (a sample of) datasets, normalised as the policy will
 * normalise them (`mode`, its normalization_mapping.ACTION).
 */
export async function fitTokenizerOnDataset(
  dataset: LeRobotDataset,
  options: { chunkSize: number; vocabSize: number; scale: number; mode: NormalizationMode; maxChunks?: number; stats?: DatasetStats; more?: readonly LeRobotDataset[] },
): Promise<FastTokenizer> {
  const normalizer = featureNormalizer(options.stats ?? dataset.stats, "action", options.mode);
  const chunks: Float32Array[] = [];
  let actionDim = 0;
  for (const source of [dataset, ...(options.more ?? [])]) {
    actionDim = await collectChunks(source, normalizer, Math.floor((options.maxChunks ?? 4000) / (1 + (options.more?.length ?? 0))), chunks);
  }
  return fitFastTokenizer(chunks, { chunkSize: options.chunkSize, actionDim, vocabSize: options.vocabSize, scale: options.scale });
}

async function collectChunks(
  dataset: LeRobotDataset,
  normalizer: { normalize(x: Float32Array): unknown },
  maxChunks: number,
  chunks: Float32Array[],
): Promise<number> {
  const total = dataset.numFrames;
  const stride = Math.max(1, Math.floor(total / maxChunks));
  const positions: number[] = [];
  for (let i = 0; i < total; i += stride) positions.push(i);
  let actionDim = 0;
  for (let start = 0; start < positions.length; start += 256) {
    const batch = await dataset.getFrames(positions.slice(start, start + 256));
    const action = batch.features.action;
    if (!action || action.shape.length !== 3) {
      throw new ConfigError([`${dataset.root}: feature "action": expected action chunks [B, T, D] to fit the FAST tokenizer`]);
    }
    const [b, t, d] = action.shape;
    actionDim = d;
    for (let i = 0; i < b; i++) {
      const chunk = Float32Array.from((action.data as Float32Array).subarray(i * t * d, (i + 1) * t * d));
      normalizer.normalize(chunk);
      chunks.push(chunk);
    }
  }
  return actionDim;
}

export function loadTokenizer(spec: TokenizerSpec): FastTokenizer | null {
  if (spec.path === null) return null;
  if (!existsSync(spec.path)) {
    throw new ConfigError([`tokenizer.path: ${spec.path} does not exist (a FAST tokenizer directory from "craft tokenizer fit": processor_config.json + tokenizer.json)`]);
  }
  try {
    return loadFastTokenizer(spec.path);
  } catch (e) {
    throw new ConfigError([`tokenizer.path: ${(e as Error).message}`]);
  }
}

/** `--policy.path` may name a pretrained_model dir, a checkpoint step dir, or a run's output_dir. */
export function resolvePretrainedDir(path: string): string {
  const candidates = [path, join(path, "pretrained_model"), join(path, "checkpoints", "last", "pretrained_model")];
  for (const dir of candidates) if (existsSync(join(dir, "config.json")) && existsSync(join(dir, "model.safetensors"))) return dir;
  throw new ConfigError([
    `policy.path: no pretrained model at ${path} (expected config.json and model.safetensors there, in pretrained_model/, or in checkpoints/last/pretrained_model/)`,
  ]);
}

/**
 * `CRAFT_WASM_KERNELS=stock` runs wasm with only the kernels it lacks (no matmul patches, no
 * OpenBLAS): the "before" of the speed comparisons in the policy package's README.
 */
/** The chunk size a checkpoint was trained with (its config.json), read before the policy is built. */
export function pretrainedChunkSize(path: string): number {
  const file = join(resolvePretrainedDir(path), "config.json");
  const chunk = (JSON.parse(readFileSync(file, "utf8")) as { chunk_size?: unknown }).chunk_size;
  if (typeof chunk !== "number" || !Number.isInteger(chunk) || chunk <= 0) {
    throw new ConfigError([`${file}: field "chunk_size": expected a positive integer, got ${JSON.stringify(chunk)}`]);
  }
  return chunk;
}

export async function startBackend(device: PI0FastConfig["device"], quiet = false): Promise<BackendInfo> {
  const stock = process.env.CRAFT_WASM_KERNELS === "stock";
  const info = await initBackend(device, stock ? { patchKernels: "missing-only", nativeBlas: false, perBatchWasm: false } : {});
  if (!quiet) console.error(`[craft] backend: ${describeBackend(info)}`);
  return info;
}

/** A new policy for a dataset (stats, tokenizer fitted on it when none is given), or one loaded from a checkpoint. */
export async function buildPolicy(options: {
  policyPath: string | null;
  config: PI0FastConfig | null;
  overrides: Record<string, unknown>;
  dataset: LeRobotDataset;
  tokenizer: TokenizerSpec;
  seed: number;
  /** Datasets whose statistics (and action chunks, for the tokenizer) the normaliser must also cover. */
  statsRoots?: readonly string[];
  /** LeRobot's --rename_map (dataset key → policy key), applied by the policy's processor to every batch. */
  renameMap?: Readonly<Record<string, string>>;
}): Promise<Pi0FastPolicy> {
  const renameMap = options.renameMap ?? {};
  if (options.policyPath !== null) {
    // Cross-embodiment fine-tuning: the checkpoint's statistics stay first (a robot of its dims keeps
    // them); a task or stats-root dataset of other state/action dims is normalised with its own.
    const others: DatasetStats[] = [options.dataset.stats];
    for (const root of options.statsRoots ?? []) others.push(readDatasetMeta(root).stats);
    return loadPi0FastPolicy(resolvePretrainedDir(options.policyPath), { renameMap, embodimentStats: others });
  }
  const config = options.config!;
  const images = cameraKeys(options.dataset).map((key) => renameKey(key, renameMap));
  const more: LeRobotDataset[] = [];
  for (const root of options.statsRoots ?? []) {
    // Only the stats and action chunks of these datasets are read, so their cameras are left out:
    // a stats root with missing videos (what --dataset.exclude is for) opens as well as a whole one.
    const cameras = Object.entries(readInfo(root).info.features).filter(([, f]) => f.dtype === "image" || f.dtype === "video").map(([k]) => k);
    more.push(await withEpisodesFlag(() => openDataset(root, { deltaTimestamps: { action: deltaTimestampsForChunk(options.dataset.fps, config.chunk_size) }, exclude: cameras })));
  }
  const stats = unionStats([options.dataset.stats, ...more.map((d) => d.stats)]);
  const fast =
    loadTokenizer(options.tokenizer) ??
    (await fitTokenizerOnDataset(options.dataset, {
      chunkSize: config.chunk_size,
      vocabSize: options.tokenizer.vocab_size,
      scale: options.tokenizer.scale,
      mode: config.normalization_mapping.ACTION,
      stats,
      more,
    }));
  for (const d of more) await d.close();
  return createPi0FastPolicy({
    config: { ...config, image_keys: images, empty_cameras: images.length === 0 ? Math.max(1, config.empty_cameras) : config.empty_cameras },
    stats,
    fastTokenizer: fast,
    seed: options.seed,
    renameMap,
  });
}

export function batchesOf(
  dataset: LeRobotDataset,
  options: { batchSize: number; seed: number; rank?: number; worldSize?: number },
): Loader {
  if (dataset.numFrames < options.batchSize * (options.worldSize ?? 1)) {
    throw new ConfigError([
      `batch_size: ${options.batchSize}${(options.worldSize ?? 1) > 1 ? ` × ${options.worldSize} ranks` : ""} exceeds the ${dataset.numFrames} frames of ${dataset.root}`,
    ]);
  }
  return createLoader(dataset, { batchSize: options.batchSize, seed: options.seed, cycle: true, dropLast: true, prefetch: 2, rank: options.rank, worldSize: options.worldSize });
}

/** Checkpoint tensors (optimizer moments, cached gradients) as safetensors files. */
export const safetensorsIO: TensorFileIO = {
  async write(path: string, tensors: NamedArrays, metadata?: Readonly<Record<string, string>>) {
    const input: Record<string, { dtype: "F32"; shape: number[]; data: Float32Array }> = {};
    for (const [name, data] of Object.entries(tensors)) input[name] = { dtype: "F32", shape: [data.length], data };
    await writeSafetensors(path, input, metadata ? { ...metadata } : undefined);
  },
  async read(path: string) {
    const file = await readSafetensors(path);
    const tensors: NamedArrays = {};
    for (const [name, t] of Object.entries(file.tensors)) tensors[name] = t.data as Float32Array;
    return { tensors, metadata: file.metadata ?? {} };
  },
};

export type { Batch };
