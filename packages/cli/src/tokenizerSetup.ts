import { existsSync } from "node:fs";
import type { DatasetStats, LeRobotDataset } from "@craft/datasets";
import { featureNormalizer, fitFastTokenizer, loadFastTokenizer, type FastTokenizer, type NormalizationMode } from "@craft/policy-pi0fast";
import { ConfigError } from "./errors.js";
import type { TokenizerSpec } from "./runConfig.js";

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

/** The FAST tokenizer of `--tokenizer.path`; null = fit one on the training data. */
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

