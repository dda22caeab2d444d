import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { isHubRepoId, resolveHubSnapshot, type DatasetStats, type LeRobotDataset } from "@craft/datasets";
import {
  featureNormalizer,
  fitFastTokenizer,
  loadFastTokenizer,
  loadHfTokenizer,
  type FastTokenizer,
  type NormalizationMode,
  type TextTokenizer,
  type TextTokenizerSource,
} from "@craft/policy-pi0fast";
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


/** The files of each kind of tokenizer repository LeRobot names (only these are downloaded, never a model's weights). */
const TOKENIZER_FILES = {
  action: ["processor_config.json", "tokenizer.json"],
  text: ["tokenizer.json"],
} as const;

/**
 * A tokenizer name from a LeRobot config.json (`action_tokenizer_name`, `text_tokenizer_name`) as a
 * local path: an existing path as is, a Hub id ORG/NAME through the Hugging Face cache (only the
 * tokenizer's files downloaded when online; offline and uncached, one error naming the folder).
 */
async function tokenizerFolder(name: string, kind: keyof typeof TOKENIZER_FILES, configFile: string, env: NodeJS.ProcessEnv): Promise<string> {
  if (existsSync(name)) return name;
  const field = `${kind}_tokenizer_name`;
  if (!isHubRepoId(name)) {
    throw new ConfigError([`${configFile}: field "${field}": expected a Hub id ORG/NAME or an existing local path, got ${JSON.stringify(name)}`]);
  }
  return resolveHubSnapshot({ type: "model", repoId: name, field, files: TOKENIZER_FILES[kind], env });
}

/** The FAST tokenizer config.json's `action_tokenizer_name` names (a UniversalActionProcessor folder). */
export async function resolveActionTokenizer(name: string, configFile: string, env: NodeJS.ProcessEnv = process.env): Promise<FastTokenizer> {
  const folder = await tokenizerFolder(name, "action", configFile, env);
  try {
    return loadFastTokenizer(folder);
  } catch (e) {
    throw new ConfigError([`${configFile}: field "action_tokenizer_name" (${name}): ${(e as Error).message}`]);
  }
}

/** The text tokenizer config.json's `text_tokenizer_name` names: a folder with tokenizer.json (PaliGemma's), or the file. */
export async function resolveTextTokenizer(
  name: string,
  configFile: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ tokenizer: TextTokenizer; source: TextTokenizerSource }> {
  const found = await tokenizerFolder(name, "text", configFile, env);
  const path = statSync(found).isDirectory() ? join(found, "tokenizer.json") : found;
  if (!existsSync(path)) throw new ConfigError([`${configFile}: field "text_tokenizer_name" (${name}): ${path} does not exist (a Hugging Face tokenizer.json)`]);
  try {
    return { tokenizer: loadHfTokenizer(path), source: { type: "hf", path } };
  } catch (e) {
    throw new ConfigError([`${configFile}: field "text_tokenizer_name" (${name}): ${(e as Error).message}`]);
  }
}
