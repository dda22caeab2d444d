import {
  buildAnchorCache,
  datasetInfoReport,
  deltaTimestampsForChunk,
  makeSyntheticDataset,
  readInfo,
  resolveDatasetRoot,
  SYNTHETIC_TASKS,
  type SyntheticTask,
} from "@craft/datasets";
import { rejectUnknownFlags, UsageError, type ParsedArgs } from "../flags.js";
import { episodesFlag, withEpisodesFlag } from "../datasetSetup.js";

const str = (args: ParsedArgs, key: string): string | undefined => {
  const v = args.flags.get(key);
  if (v === undefined) return undefined;
  if (typeof v !== "string" || v === "") throw new UsageError(`--${key}: expected a non-empty string, got ${JSON.stringify(v)}`);
  return v;
};
const int = (args: ParsedArgs, key: string, fallback?: number): number => {
  const v = args.flags.get(key) ?? fallback;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0) throw new UsageError(`--${key}: expected a non-negative integer, got ${JSON.stringify(v)}`);
  return v;
};
const list = (args: ParsedArgs, key: string): string[] => {
  const v = args.flags.get(key);
  if (v === undefined) return [];
  if (typeof v === "string") return v.split(",").map((s) => s.trim()).filter(Boolean);
  if (Array.isArray(v) && v.every((x) => typeof x === "string")) return v;
  throw new UsageError(`--${key}: expected a list such as ["observation.images.top"], got ${JSON.stringify(v)}`);
};
const rootOf = (args: ParsedArgs): string => {
  const root = str(args, "dataset.root");
  const repoId = str(args, "dataset.repo_id");
  if (!root && !repoId) throw new UsageError("--dataset.root: expected a LeRobot dataset directory (or --dataset.repo_id), got nothing");
  return resolveDatasetRoot({ root, repoId });
};

export const DATASET_FLAGS = {
  info: ["dataset.root", "dataset.repo_id", "dataset.exclude", "dataset.episodes"],
  "make-synthetic": ["task", "episodes", "output", "seed", "fps", "image_size", "video", "overwrite"],
  "build-anchor-cache": ["dataset.root", "dataset.repo_id", "dataset.exclude", "dataset.episodes", "num_samples", "seed", "output", "chunk_size"],
} as const;

export async function runDataset(sub: string | undefined, args: ParsedArgs): Promise<number> {
  switch (sub) {
    case "info": {
      rejectUnknownFlags(args.flags, DATASET_FLAGS.info, "dataset info");
      const root = rootOf(args);
      const exclude = list(args, "dataset.exclude");
      const episodes = episodesFlag(args.flags.get("dataset.episodes")) ?? undefined;
      console.log(await withEpisodesFlag(() => datasetInfoReport(root, { exclude, episodes })));
      return 0;
    }
    case "make-synthetic": {
      rejectUnknownFlags(args.flags, DATASET_FLAGS["make-synthetic"], "dataset make-synthetic");
      const task = str(args, "task");
      if (!task || !SYNTHETIC_TASKS.includes(task as SyntheticTask)) {
        throw new UsageError(`--task: expected one of ${SYNTHETIC_TASKS.join(", ")}, got ${JSON.stringify(task ?? null)}`);
      }
      const output = str(args, "output");
      if (!output) throw new UsageError("--output: expected the directory to write the dataset to");
      await makeSyntheticDataset(output, {
        task: task as SyntheticTask,
        episodes: int(args, "episodes", 20),
        seed: int(args, "seed", 0),
        fps: int(args, "fps", 10),
        imageSize: int(args, "image_size", 64),
        video: args.flags.get("video") === true,
        overwrite: args.flags.get("overwrite") === true,
      });
      console.log(`wrote synthetic "${task}" dataset to ${output}`);
      return 0;
    }
    case "build-anchor-cache": {
      rejectUnknownFlags(args.flags, DATASET_FLAGS["build-anchor-cache"], "dataset build-anchor-cache");
      const root = rootOf(args);
      const output = str(args, "output");
      if (!output) throw new UsageError("--output: expected the directory to write the anchor cache to");
      const exclude = list(args, "dataset.exclude");
      const episodes = episodesFlag(args.flags.get("dataset.episodes")) ?? undefined;
      // Only the selected episodes' videos are checked (by buildAnchorCache's open); fps is in info.json.
      const fps = readInfo(root).info.fps;
      const manifest = await withEpisodesFlag(() =>
        buildAnchorCache(root, output, {
          numSamples: int(args, "num_samples", 256),
          seed: int(args, "seed", 0),
          exclude,
          episodes,
          deltaTimestamps: { action: deltaTimestampsForChunk(fps, int(args, "chunk_size", 10)) },
        }),
      );
      console.log(`wrote anchor cache of ${manifest.numSamples} frames from ${root} (seed ${manifest.seed}) to ${output}`);
      return 0;
    }
    default:
      throw new UsageError(`craft dataset: expected a subcommand info | make-synthetic | build-anchor-cache, got ${JSON.stringify(sub ?? null)}`);
  }
}
