import { existsSync } from "node:fs";
import { mkdir, readFile, rename, rm, writeFile, copyFile } from "node:fs/promises";
import { join } from "node:path";
import { pi0FastConfig, type PI0FastConfig } from "./config";
import { EMBED_TOKENS, LM_HEAD, parameterShapes } from "./model/parameters";
import type { DatasetStats } from "./normalize";
import { CRAFT_SIDECAR_FILE, configFromLeRobot, craftSidecar, lerobotConfigJson } from "./lerobot/configJson";
import {
  NORMALIZER_STEP,
  POSTPROCESSOR_NAME,
  PREPROCESSOR_NAME,
  UNNORMALIZER_STEP,
  normalizerState,
  normalizerStepOf,
  pipelineJsonText,
  postprocessorPipeline,
  preprocessorPipeline,
  statsFromNormalizerState,
} from "./lerobot/processorJson";
import { readSafetensors, readSafetensorsHeader, writeSafetensors, type SafetensorsInput } from "./weights/safetensors";

/**
 * LeRobot's `pretrained_model/` folder, both ways: config.json (LeRobot's schema) + craft_config.json
 * (craft-only settings), model.safetensors (LeRobot's tensor names, F32 or BF16 as `dtype` says),
 * policy_{pre,post}processor.json with their normaliser state files, train_config.json, and the
 * tokenizers craft trained (fast_tokenizer.json, text_tokenizer.json, tokenizer.json).
 */
export const PRETRAINED_FILES = {
  model: "model.safetensors",
  config: "config.json",
  craftConfig: CRAFT_SIDECAR_FILE,
  preprocessor: `${PREPROCESSOR_NAME}.json`,
  postprocessor: `${POSTPROCESSOR_NAME}.json`,
  trainConfig: "train_config.json",
  fastTokenizer: "fast_tokenizer.json",
  textTokenizer: "text_tokenizer.json",
  hfTokenizer: "tokenizer.json",
  /** Written by craft before the LeRobot layout; still read when no normaliser state is present. */
  legacyStats: "stats.json",
} as const;

/** Parameter name → values (row-major), as stored in model.safetensors. */
export type NamedArrays = Record<string, Float32Array>;

/** Where the text tokenizer comes from, so the checkpoint can carry and rebuild it. */
export type TextTokenizerSource = { readonly type: "byte_level" } | { readonly type: "hf"; readonly path: string };

export interface PretrainedContents {
  readonly config: PI0FastConfig;
  /** Every parameter of `parameterShapes(config)`. */
  readonly parameters: NamedArrays;
  readonly stats: DatasetStats;
  readonly fastTokenizerJson: unknown;
  readonly textTokenizerSource: TextTokenizerSource;
  /** The run's train_config.json, copied into the folder as LeRobot does. */
  readonly trainConfig?: unknown;
}

const STATE_KEY = "observation.state";
const ACTION_KEY = "action";

function dimOf(stats: DatasetStats, key: string): number | undefined {
  const s = stats[key] as Record<string, readonly number[] | undefined> | undefined;
  return s && (s.mean ?? s.q01 ?? s.min)?.length;
}

/**
 * LeRobot's input/output features; when the config has none (a craft run that did not record
 * them), they come from the statistics' dimensions and the camera keys at image_resolution.
 */
export function withFeatures(config: PI0FastConfig, stats: DatasetStats): PI0FastConfig {
  let input = config.input_features;
  let output = config.output_features;
  if (Object.keys(input).length === 0) {
    input = {};
    const stateDim = dimOf(stats, STATE_KEY);
    if (stateDim !== undefined) input[STATE_KEY] = { type: "STATE", shape: [stateDim] };
    for (const key of config.image_keys) input[key] = { type: "VISUAL", shape: [3, ...config.image_resolution] };
  }
  if (Object.keys(output).length === 0) {
    const actionDim = dimOf(stats, ACTION_KEY);
    output = actionDim === undefined ? {} : { [ACTION_KEY]: { type: "ACTION", shape: [actionDim] } };
  }
  return { ...config, input_features: input, output_features: output };
}

const jsonText = (value: unknown): string => JSON.stringify(value, null, 4);

/** Write `dir` (a pretrained_model folder): every file to a temporary name first, then renamed. */
export async function writePretrained(dir: string, contents: PretrainedContents): Promise<void> {
  const config = withFeatures(contents.config, contents.stats);
  await mkdir(dir, { recursive: true });
  const shapes = parameterShapes(config);
  const dtype = config.dtype === "bfloat16" ? "BF16" : "F32";
  const tensors: Record<string, SafetensorsInput> = {};
  for (const [name, shape] of Object.entries(shapes)) tensors[name] = { dtype, shape, data: contents.parameters[name]! };
  tensors[LM_HEAD] = { dtype, shape: shapes[EMBED_TOKENS]!, data: contents.parameters[EMBED_TOKENS]! };
  const pre = preprocessorPipeline(config);
  const post = postprocessorPipeline(config);
  const preState = pre.steps[3]!.state_file!;
  const postState = post.steps[0]!.state_file!;
  const written: string[] = [];
  const tmp = (f: string) => join(dir, `.${f}.tmp`);
  const put = async (file: string, text: string) => {
    await writeFile(tmp(file), text);
    written.push(file);
  };
  await writeSafetensors(tmp(PRETRAINED_FILES.model), tensors, { format: "pt" });
  written.push(PRETRAINED_FILES.model);
  const featureKeys = Object.keys({ ...config.input_features, ...config.output_features });
  await writeSafetensors(tmp(preState), normalizerState(contents.stats, featureKeys));
  written.push(preState);
  await writeSafetensors(tmp(postState), normalizerState(contents.stats, Object.keys(config.output_features)));
  written.push(postState);
  await put(PRETRAINED_FILES.preprocessor, pipelineJsonText(pre));
  await put(PRETRAINED_FILES.postprocessor, pipelineJsonText(post));
  await put(PRETRAINED_FILES.craftConfig, jsonText(craftSidecar(config)));
  await put(PRETRAINED_FILES.fastTokenizer, JSON.stringify(contents.fastTokenizerJson));
  const source = contents.textTokenizerSource;
  await put(PRETRAINED_FILES.textTokenizer, JSON.stringify(source.type === "hf" ? { type: "hf", file: PRETRAINED_FILES.hfTokenizer } : { type: "byte_level" }));
  if (source.type === "hf") {
    await copyFile(source.path, tmp(PRETRAINED_FILES.hfTokenizer));
    written.push(PRETRAINED_FILES.hfTokenizer);
  }
  if (contents.trainConfig !== undefined) await put(PRETRAINED_FILES.trainConfig, jsonText(contents.trainConfig));
  // config.json last: a folder with a config.json is complete.
  await put(PRETRAINED_FILES.config, lerobotConfigJson(config));
  for (const file of written) await rename(tmp(file), join(dir, file));
  if (existsSync(join(dir, PRETRAINED_FILES.legacyStats))) await rm(join(dir, PRETRAINED_FILES.legacyStats));
}

export interface PretrainedRead {
  readonly dir: string;
  readonly config: PI0FastConfig;
  readonly parameters: NamedArrays;
  readonly stats: DatasetStats;
  /** Parsed fast_tokenizer.json and its path, or undefined when the folder has none (a LeRobot checkpoint). */
  readonly fastTokenizer: { readonly json: unknown; readonly path: string } | undefined;
  /** From text_tokenizer.json; undefined when the folder has none. */
  readonly textTokenizer: TextTokenizerSource | undefined;
  readonly warnings: readonly string[];
}

async function readJson(path: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(path, "utf8"));
  } catch (e) {
    throw new Error(`${path}: invalid JSON (${(e as Error).message})`);
  }
}

const optionalJson = async (path: string): Promise<unknown> => (existsSync(path) ? readJson(path) : undefined);

/** The pretrained_model folder `dir` names: itself, or `dir/pretrained_model`. */
export function pretrainedDirOf(dir: string): string {
  return existsSync(join(dir, "pretrained_model", PRETRAINED_FILES.config)) ? join(dir, "pretrained_model") : dir;
}

/** The config of a pretrained_model folder: LeRobot's config.json + the sidecar, or craft's older single file. */
export async function readPretrainedConfig(dir: string): Promise<{ config: PI0FastConfig; warnings: string[] }> {
  const configPath = join(dir, PRETRAINED_FILES.config);
  if (!existsSync(configPath)) throw new Error(`${configPath}: missing (expected a pi0_fast pretrained_model folder)`);
  const json = await readJson(configPath);
  const sidecarPath = join(dir, PRETRAINED_FILES.craftConfig);
  // Before the LeRobot layout craft wrote its whole config (preset, widths) into config.json.
  if (typeof json === "object" && json !== null && "preset" in json && !existsSync(sidecarPath)) {
    return { config: pi0FastConfig(json), warnings: [] };
  }
  return configFromLeRobot(json, await optionalJson(sidecarPath), { config: configPath, sidecar: sidecarPath });
}

async function readStats(dir: string, config: PI0FastConfig): Promise<DatasetStats> {
  const prePath = join(dir, PRETRAINED_FILES.preprocessor);
  const pre = await optionalJson(prePath);
  if (pre !== undefined) {
    const step = normalizerStepOf(pre, prePath, NORMALIZER_STEP);
    if (step) {
      for (const [type, mode] of Object.entries(step.normMap)) {
        const own = (config.normalization_mapping as Record<string, string>)[type];
        if (own !== undefined && own !== mode) {
          throw new Error(`${prePath}: steps[${step.index}].config.norm_map.${type}: expected ${own} (config.json normalization_mapping), got ${mode}`);
        }
      }
      if (step.stateFile !== undefined) {
        const statePath = join(dir, step.stateFile);
        if (!existsSync(statePath)) throw new Error(`${prePath}: steps[${step.index}].state_file: ${statePath} does not exist`);
        return statsFromNormalizerState((await readSafetensors(statePath)).tensors, statePath);
      }
    }
  }
  const postPath = join(dir, PRETRAINED_FILES.postprocessor);
  const post = await optionalJson(postPath);
  if (post !== undefined) normalizerStepOf(post, postPath, UNNORMALIZER_STEP);
  const legacy = await optionalJson(join(dir, PRETRAINED_FILES.legacyStats));
  if (legacy !== undefined) return legacy as DatasetStats;
  const needsStats = Object.values(config.normalization_mapping).some((m) => m !== "IDENTITY");
  if (needsStats) throw new Error(`${prePath}: missing (the normaliser statistics of a ${Object.values(config.normalization_mapping).join("/")} policy)`);
  return {};
}

/**
 * Everything in a pretrained_model folder, checked before anything is built: every tensor of the
 * config's variant present once with its shape (the tied head may be stored as lm_head only),
 * none extra, F32/BF16/F16 widened to float32.
 */
export async function readPretrained(path: string): Promise<PretrainedRead> {
  const dir = pretrainedDirOf(path);
  const { config, warnings } = await readPretrainedConfig(dir);
  const stats = await readStats(dir, config);
  const modelPath = join(dir, PRETRAINED_FILES.model);
  if (!existsSync(modelPath)) throw new Error(`${modelPath}: missing (the policy's weights)`);
  const file = await readSafetensors(modelPath);
  const shapes = parameterShapes(config);
  const parameters: NamedArrays = {};
  for (const [name, shape] of Object.entries(shapes)) {
    const tensor = file.tensors[name] ?? (name === EMBED_TOKENS ? file.tensors[LM_HEAD] : undefined);
    if (!tensor) throw new Error(`${modelPath}: missing tensor "${name}" (shape [${shape.join(", ")}] for preset ${config.preset})`);
    if (tensor.shape.length !== shape.length || tensor.shape.some((d, i) => d !== shape[i])) {
      throw new Error(`${modelPath}: tensor "${name}": expected shape [${shape.join(", ")}] (preset ${config.preset}), got [${tensor.shape.join(", ")}]`);
    }
    if (!(tensor.data instanceof Float32Array)) throw new Error(`${modelPath}: tensor "${name}": expected dtype F32 or BF16, got ${tensor.dtype}`);
    parameters[name] = tensor.data;
  }
  const extra = Object.keys(file.tensors).filter((n) => !(n in shapes) && n !== LM_HEAD);
  if (extra.length > 0) {
    throw new Error(`${modelPath}: unexpected tensor "${extra[0]}"${extra.length > 1 ? ` (and ${extra.length - 1} more)` : ""} (not a parameter of preset ${config.preset})`);
  }
  const fastPath = join(dir, PRETRAINED_FILES.fastTokenizer);
  const fastTokenizer = existsSync(fastPath) ? { json: await readJson(fastPath), path: fastPath } : undefined;
  const textSpec = (await optionalJson(join(dir, PRETRAINED_FILES.textTokenizer))) as { type?: string; file?: string } | undefined;
  let textTokenizer: TextTokenizerSource | undefined;
  if (textSpec?.type === "hf") textTokenizer = { type: "hf", path: join(dir, textSpec.file ?? PRETRAINED_FILES.hfTokenizer) };
  else if (textSpec?.type === "byte_level") textTokenizer = { type: "byte_level" };
  else if (textSpec !== undefined) {
    throw new Error(`${join(dir, PRETRAINED_FILES.textTokenizer)}: type: expected "byte_level" or "hf", got ${JSON.stringify(textSpec.type)}`);
  }
  return { dir, config, parameters, stats, fastTokenizer, textTokenizer, warnings };
}

export interface PretrainedSummary {
  readonly dir: string;
  readonly type: "pi0_fast";
  readonly preset: PI0FastConfig["preset"];
  readonly paligemma_variant: PI0FastConfig["paligemma_variant"];
  /** Parameters stored in model.safetensors (the tied lm_head counted once), from its header alone. */
  readonly parameters: number;
  /** Element count per safetensors dtype. */
  readonly dtypes: Readonly<Record<string, number>>;
  readonly config_dtype: PI0FastConfig["dtype"];
  readonly tensors: number;
  /** Tensors the config's shapes expect but the file lacks / has with another shape / has beyond them. */
  readonly missing: readonly string[];
  readonly mismatched: readonly string[];
  readonly unexpected: readonly string[];
  /** Bytes of model.safetensors read: the length field and the header, no tensor data. */
  readonly bytes_read: number;
  readonly input_features: PI0FastConfig["input_features"];
  readonly output_features: PI0FastConfig["output_features"];
  readonly normalization_mapping: PI0FastConfig["normalization_mapping"];
  readonly text_tokenizer: string;
  readonly action_tokenizer: string;
  readonly warnings: readonly string[];
}

/**
 * What a pretrained_model folder holds, without loading its weights: config, features,
 * normalisation, tokenizers, and the parameter count and dtype from model.safetensors' header.
 */
export async function inspectPretrained(path: string): Promise<PretrainedSummary> {
  const dir = pretrainedDirOf(path);
  const { config, warnings } = await readPretrainedConfig(dir);
  const modelPath = join(dir, PRETRAINED_FILES.model);
  if (!existsSync(modelPath)) throw new Error(`${modelPath}: missing (the policy's weights)`);
  const header = await readSafetensorsHeader(modelPath);
  const expected = parameterShapes(config);
  const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
  const dtypes: Record<string, number> = {};
  let parameters = 0;
  const tied = header.tensors[EMBED_TOKENS] !== undefined && header.tensors[LM_HEAD] !== undefined;
  for (const [name, tensor] of Object.entries(header.tensors)) {
    dtypes[tensor.dtype] = (dtypes[tensor.dtype] ?? 0) + size(tensor.shape);
    if (!(tied && name === LM_HEAD)) parameters += size(tensor.shape);
  }
  const stored = (name: string) => header.tensors[name] ?? (name === EMBED_TOKENS ? header.tensors[LM_HEAD] : undefined);
  const missing = Object.keys(expected).filter((n) => stored(n) === undefined);
  const mismatched = Object.entries(expected)
    .filter(([n, shape]) => {
      const t = stored(n);
      return t !== undefined && (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]));
    })
    .map(([n]) => n);
  const unexpected = Object.keys(header.tensors).filter((n) => !(n in expected) && n !== LM_HEAD);
  const fastPath = join(dir, PRETRAINED_FILES.fastTokenizer);
  const textSpec = (await optionalJson(join(dir, PRETRAINED_FILES.textTokenizer))) as { type?: string } | undefined;
  return {
    dir,
    type: config.type,
    preset: config.preset,
    paligemma_variant: config.paligemma_variant,
    parameters,
    dtypes,
    config_dtype: config.dtype,
    tensors: Object.keys(header.tensors).length,
    missing,
    mismatched,
    unexpected,
    bytes_read: header.bytesRead,
    input_features: config.input_features,
    output_features: config.output_features,
    normalization_mapping: config.normalization_mapping,
    text_tokenizer: textSpec?.type === "byte_level" ? "byte-level (craft CPU preset)" : textSpec?.type === "hf" ? `${config.text_tokenizer_name} (tokenizer.json in the folder)` : config.text_tokenizer_name,
    action_tokenizer: existsSync(fastPath) ? `FAST (fast_tokenizer.json in the folder)` : config.action_tokenizer_name,
    warnings,
  };
}
