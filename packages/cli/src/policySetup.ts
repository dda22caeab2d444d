import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { deltaTimestampsForChunk, openDataset, readDatasetMeta, readInfo, type DatasetStats, type LeRobotDataset } from "@craft/datasets";
import {
  createPi0FastPolicy,
  loadPi0FastPolicy,
  readSafetensors,
  renameKey,
  tokenizersToResolve,
  writeSafetensors,
  type PI0FastConfig,
  type Pi0FastPolicy,
} from "@craft/policy-pi0fast";
import type { NamedArrays, TensorFileIO } from "@craft/trainer";
import { cameraKeys, unionStats, withEpisodesFlag } from "./datasetSetup.js";
import { ConfigError } from "./errors.js";
import type { TokenizerSpec } from "./runConfig.js";
import { fitTokenizerOnDataset, loadTokenizer, resolveActionTokenizer, resolveTextTokenizer } from "./tokenizerSetup.js";

/** `--policy.path` may name a pretrained_model dir, a checkpoint step dir, or a run's output_dir. */
export function resolvePretrainedDir(path: string): string {
  const candidates = [path, join(path, "pretrained_model"), join(path, "checkpoints", "last", "pretrained_model")];
  for (const dir of candidates) if (existsSync(join(dir, "config.json")) && existsSync(join(dir, "model.safetensors"))) return dir;
  throw new ConfigError([
    `policy.path: no pretrained model at ${path} (expected config.json and model.safetensors there, in pretrained_model/, or in checkpoints/last/pretrained_model/)`,
  ]);
}

/** The chunk size a checkpoint was trained with (its config.json), read before the policy is built. */
export function pretrainedChunkSize(path: string): number {
  const file = join(resolvePretrainedDir(path), "config.json");
  const chunk = (JSON.parse(readFileSync(file, "utf8")) as { chunk_size?: unknown }).chunk_size;
  if (typeof chunk !== "number" || !Number.isInteger(chunk) || chunk <= 0) {
    throw new ConfigError([`${file}: field "chunk_size": expected a positive integer, got ${JSON.stringify(chunk)}`]);
  }
  return chunk;
}

/**
 * The policy of `--policy.path` (see resolvePretrainedDir), whether craft or LeRobot wrote it. A
 * folder without its own tokenizers (LeRobot's) gets them from config.json's
 * `action_tokenizer_name`/`text_tokenizer_name` (local paths or Hub ids in the HF cache);
 * `--tokenizer.path` replaces the action tokenizer either way.
 */
export async function loadPretrainedPolicy(
  policyPath: string,
  options: {
    readonly tokenizer?: TokenizerSpec;
    readonly renameMap?: Readonly<Record<string, string>>;
    readonly embodimentStats?: readonly DatasetStats[];
    readonly env?: NodeJS.ProcessEnv;
  } = {},
): Promise<Pi0FastPolicy> {
  const dir = resolvePretrainedDir(policyPath);
  const env = options.env ?? process.env;
  const wanted = await tokenizersToResolve(dir);
  const configFile = join(wanted.dir, "config.json");
  const fastTokenizer =
    (options.tokenizer ? loadTokenizer(options.tokenizer) : null) ?? (wanted.action !== undefined ? await resolveActionTokenizer(wanted.action, configFile, env) : undefined);
  const text = wanted.text !== undefined ? await resolveTextTokenizer(wanted.text, configFile, env) : undefined;
  return loadPi0FastPolicy(dir, {
    fastTokenizer,
    textTokenizer: text?.tokenizer,
    textTokenizerSource: text?.source,
    renameMap: options.renameMap,
    embodimentStats: options.embodimentStats,
  });
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
    return loadPretrainedPolicy(options.policyPath, { tokenizer: options.tokenizer, renameMap, embodimentStats: others });
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

