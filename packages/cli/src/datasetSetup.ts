import { existsSync, statSync } from "node:fs";
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
  resolveDatasetRoot,
  type Batch,
  type DatasetStats,
  type FeatureStats,
  type LeRobotDataset,
  type Loader,
} from "@craft/datasets";
import { ConfigError } from "./errors.js";
import type { DatasetSpec } from "./runConfig.js";

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

/** Endless shuffled batches of the training set (this rank's shard when data parallel). */
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

export type { Batch };
