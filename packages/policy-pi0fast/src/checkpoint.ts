import { existsSync } from "node:fs";
import { mkdir, readFile, rename, rm, writeFile, copyFile } from "node:fs/promises";
import { isAbsolute, join, normalize, relative } from "node:path";
import * as t from "io-ts";
import { isLeft } from "fp-ts/lib/Either.js";
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
import { describeErrors, loadFastTokenizer, saveFastTokenizer, type FastTokenizer } from "./fast/tokenizer";
import { PolicyError } from "./errors";

/**
 * LeRobot's `pretrained_model/` folder, both ways: config.json (LeRobot's schema) + craft_config.json
 * (craft-only settings), model.safetensors (LeRobot's tensor names, F32 or BF16 as `dtype` says),
 * policy_{pre,post}processor.json with their normaliser state files, train_config.json, and the
 * tokenizers in Hugging Face's layouts: the FAST tokenizer craft fitted as a UniversalActionProcessor
 * folder `action_tokenizer/` (processor_config.json + tokenizer.json), the text tokenizer's
 * `tokenizer.json` beside config.json (where AutoTokenizer looks in a folder).
 *
 * LeRobot loads the tokenizers by config.json's `action_tokenizer_name`/`text_tokenizer_name` with
 * `AutoProcessor`/`AutoTokenizer.from_pretrained`: a Hub id, or a path relative to the working
 * directory, never to the checkpoint (and a local UniversalActionProcessor also needs the Hub repo's
 * remote code). So those fields keep their values, and the folder's own tokenizers are recorded in
 * craft_config.json's `files` section, which craft reads first.
 */
export const PRETRAINED_FILES = {
  model: "model.safetensors",
  config: "config.json",
  craftConfig: CRAFT_SIDECAR_FILE,
  preprocessor: `${PREPROCESSOR_NAME}.json`,
  postprocessor: `${POSTPROCESSOR_NAME}.json`,
  trainConfig: "train_config.json",
  /** The FAST tokenizer folder (UniversalActionProcessor layout). */
  actionTokenizer: "action_tokenizer",
  hfTokenizer: "tokenizer.json",
  /** Statistics of robot i ≥ 1 of a cross-embodiment policy (LeRobot's normaliser holds one set and never opens these). */
  embodimentStats: (i: number) => `craft_embodiment_${i}_normalizer.safetensors`,
  /** Craft's single-file tokenizers before the Hugging Face layout; still read. */
  legacyFastTokenizer: "fast_tokenizer.json",
  legacyTextTokenizer: "text_tokenizer.json",
  /** Written by craft before the LeRobot layout; still read when no normaliser state is present. */
  legacyStats: "stats.json",
} as const;

/** Names inside the folder: a plain relative path that stays in it. */
const InFolderPath = t.refinement(t.string, (p) => p !== "" && !isAbsolute(p) && !normalize(p).startsWith(".."), "PathInsideFolder");

/** `files` of craft_config.json: what this folder holds beyond LeRobot's files (checkpoint.ts owns it). */
export const CheckpointFilesCodec = t.exact(
  t.partial({
    /** A UniversalActionProcessor folder. */
    action_tokenizer: InFolderPath,
    /** A Hugging Face tokenizer.json, or "byte_level" (craft's CPU presets, no file). */
    text_tokenizer: t.union([t.literal("byte_level"), InFolderPath]),
    /** Normaliser state files of robots 1, 2, … (robot 0's is the preprocessor's own state file). */
    embodiment_stats: t.array(InFolderPath),
  }),
);
export type CheckpointFiles = t.TypeOf<typeof CheckpointFilesCodec>;
const FILES_KEY = "files";

/** Parameter name → values (row-major), as stored in model.safetensors. */
export type NamedArrays = Record<string, Float32Array>;

/** Where the text tokenizer comes from, so the checkpoint can carry and rebuild it. */
export type TextTokenizerSource = { readonly type: "byte_level" } | { readonly type: "hf"; readonly path: string };

export interface PretrainedContents {
  readonly config: PI0FastConfig;
  /** Every parameter of `parameterShapes(config)`. */
  readonly parameters: NamedArrays;
  readonly stats: DatasetStats;
  /** Statistics of the further robots a cross-embodiment policy serves (after `stats`). */
  readonly embodimentStats?: readonly DatasetStats[];
  readonly fastTokenizer: FastTokenizer;
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

/**
 * The further robots' statistics the processor can ever choose: it takes the first robot whose
 * state/action dims fit a batch, so one repeating an earlier robot's dims (a fine-tune on the
 * checkpoint's own robot) is never used, and saving it would only grow each fine-tune's folder.
 */
function reachableEmbodiments(first: DatasetStats, more: readonly DatasetStats[]): DatasetStats[] {
  const dims = (s: DatasetStats) => `${dimOf(s, STATE_KEY)}/${dimOf(s, ACTION_KEY)}`;
  const seen = new Set([dims(first)]);
  return more.filter((s) => !seen.has(dims(s)) && seen.add(dims(s)));
}

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
  const embodiments = reachableEmbodiments(contents.stats, contents.embodimentStats ?? []);
  const embodimentFiles = embodiments.map((_, i) => PRETRAINED_FILES.embodimentStats(i + 1));
  for (const [i, file] of embodimentFiles.entries()) {
    await writeSafetensors(tmp(file), normalizerState(embodiments[i]!));
    written.push(file);
  }
  await put(PRETRAINED_FILES.preprocessor, pipelineJsonText(pre));
  await put(PRETRAINED_FILES.postprocessor, pipelineJsonText(post));
  saveFastTokenizer(contents.fastTokenizer, tmp(PRETRAINED_FILES.actionTokenizer));
  const source = contents.textTokenizerSource;
  if (source.type === "hf") {
    await copyFile(source.path, tmp(PRETRAINED_FILES.hfTokenizer));
    written.push(PRETRAINED_FILES.hfTokenizer);
  }
  const files: CheckpointFiles = {
    action_tokenizer: PRETRAINED_FILES.actionTokenizer,
    text_tokenizer: source.type === "hf" ? PRETRAINED_FILES.hfTokenizer : "byte_level",
    ...(embodimentFiles.length > 0 ? { embodiment_stats: embodimentFiles } : {}),
  };
  await put(PRETRAINED_FILES.craftConfig, jsonText({ ...craftSidecar(config), [FILES_KEY]: files }));
  if (contents.trainConfig !== undefined) await put(PRETRAINED_FILES.trainConfig, jsonText(contents.trainConfig));
  // config.json last: a folder with a config.json is complete.
  await put(PRETRAINED_FILES.config, lerobotConfigJson(config));
  await rm(join(dir, PRETRAINED_FILES.actionTokenizer), { recursive: true, force: true });
  await rename(tmp(PRETRAINED_FILES.actionTokenizer), join(dir, PRETRAINED_FILES.actionTokenizer));
  for (const file of written) await rename(tmp(file), join(dir, file));
  // What an earlier save in craft's older layouts left, now superseded (robots beyond this save's count too).
  const stale: string[] = [PRETRAINED_FILES.legacyStats, PRETRAINED_FILES.legacyFastTokenizer, PRETRAINED_FILES.legacyTextTokenizer];
  for (let i = embodimentFiles.length + 1; existsSync(join(dir, PRETRAINED_FILES.embodimentStats(i))); i++) stale.push(PRETRAINED_FILES.embodimentStats(i));
  if (source.type !== "hf") stale.push(PRETRAINED_FILES.hfTokenizer);
  for (const file of stale) await rm(join(dir, file), { force: true });
}

export interface PretrainedRead {
  readonly dir: string;
  readonly config: PI0FastConfig;
  readonly parameters: NamedArrays;
  readonly stats: DatasetStats;
  /** The further robots' statistics of a cross-embodiment policy (craft_config.json files.embodiment_stats). */
  readonly embodimentStats: readonly DatasetStats[];
  /** The folder's FAST tokenizer; undefined when it has none (a LeRobot checkpoint: see config.action_tokenizer_name). */
  readonly fastTokenizer: FastTokenizer | undefined;
  /** The folder's text tokenizer; undefined when it has none (see config.text_tokenizer_name). */
  readonly textTokenizer: TextTokenizerSource | undefined;
  readonly warnings: readonly string[];
}

async function readJson(path: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(path, "utf8"));
  } catch (e) {
    throw new PolicyError("InvalidCheckpoint", { file: path, field: "(root)", expected: "JSON", message: `${path}: invalid JSON (${(e as Error).message})` });
  }
}

const optionalJson = async (path: string): Promise<unknown> => (existsSync(path) ? readJson(path) : undefined);

/** The pretrained_model folder `dir` names: itself, or `dir/pretrained_model`. */
export function pretrainedDirOf(dir: string): string {
  return existsSync(join(dir, "pretrained_model", PRETRAINED_FILES.config)) ? join(dir, "pretrained_model") : dir;
}

/**
 * The config of a pretrained_model folder: LeRobot's config.json + the sidecar, or craft's older
 * single file; and the sidecar's `files` section (empty for a folder LeRobot wrote).
 */
export async function readPretrainedConfig(dir: string): Promise<{ config: PI0FastConfig; warnings: string[]; files: CheckpointFiles }> {
  const configPath = join(dir, PRETRAINED_FILES.config);
  if (!existsSync(configPath)) throw new PolicyError("InvalidCheckpoint", { file: configPath, field: "(file)", expected: "a pi0_fast pretrained_model folder's config.json", message: `${configPath}: missing (expected a pi0_fast pretrained_model folder)` });
  const json = await readJson(configPath);
  const sidecarPath = join(dir, PRETRAINED_FILES.craftConfig);
  // Before the LeRobot layout craft wrote its whole config (preset, widths) into config.json.
  if (typeof json === "object" && json !== null && "preset" in json && !existsSync(sidecarPath)) {
    return { config: pi0FastConfig(json), warnings: [], files: {} };
  }
  let sidecar = await optionalJson(sidecarPath);
  let files: CheckpointFiles = {};
  if (typeof sidecar === "object" && sidecar !== null && FILES_KEY in sidecar) {
    const { [FILES_KEY]: raw, ...rest } = sidecar as Record<string, unknown>;
    const decoded = CheckpointFilesCodec.decode(raw);
    if (isLeft(decoded)) throw new PolicyError("InvalidCheckpoint", { file: sidecarPath, field: FILES_KEY, expected: "the files section of craft_config.json", message: `${sidecarPath}: ${FILES_KEY}.${describeErrors(decoded.left)}` });
    files = decoded.right;
    sidecar = rest;
  }
  return { ...configFromLeRobot(json, sidecar, { config: configPath, sidecar: sidecarPath }), files };
}

function inFolder(dir: string, name: string, field: string): string {
  const path = join(dir, name);
  if (!existsSync(path)) throw new PolicyError("InvalidCheckpoint", { file: join(dir, PRETRAINED_FILES.craftConfig), field: `${FILES_KEY}.${field}`, expected: `an existing ${path}`, message: `${join(dir, PRETRAINED_FILES.craftConfig)}: ${FILES_KEY}.${field}: ${path} does not exist` });
  return path;
}

/** The folder's FAST tokenizer: files.action_tokenizer, else craft's older fast_tokenizer.json, else none. */
function readFastTokenizer(dir: string, files: CheckpointFiles): FastTokenizer | undefined {
  if (files.action_tokenizer !== undefined) return loadFastTokenizer(inFolder(dir, files.action_tokenizer, "action_tokenizer"));
  const legacy = join(dir, PRETRAINED_FILES.legacyFastTokenizer);
  return existsSync(legacy) ? loadFastTokenizer(legacy) : undefined;
}

/** The folder's text tokenizer: files.text_tokenizer, else craft's older text_tokenizer.json, else none. */
async function readTextTokenizer(dir: string, files: CheckpointFiles): Promise<TextTokenizerSource | undefined> {
  if (files.text_tokenizer === "byte_level") return { type: "byte_level" };
  if (files.text_tokenizer !== undefined) return { type: "hf", path: inFolder(dir, files.text_tokenizer, "text_tokenizer") };
  const legacy = join(dir, PRETRAINED_FILES.legacyTextTokenizer);
  const spec = (await optionalJson(legacy)) as { type?: string; file?: string } | undefined;
  if (spec === undefined) return undefined;
  if (spec.type === "hf") return { type: "hf", path: join(dir, spec.file ?? PRETRAINED_FILES.hfTokenizer) };
  if (spec.type === "byte_level") return { type: "byte_level" };
  throw new PolicyError("InvalidTokenizer", { file: legacy, field: "type", expected: '"byte_level" or "hf"', message: `${legacy}: type: expected "byte_level" or "hf", got ${JSON.stringify(spec.type)}` });
}

/**
 * The tokenizers a pretrained_model folder does not carry (one LeRobot wrote carries none): for
 * each, the name config.json gives it (`action_tokenizer_name`, `text_tokenizer_name`: a Hub id or
 * a local path), for the caller to resolve. Reads config.json and the sidecar only.
 */
export async function tokenizersToResolve(path: string): Promise<{ dir: string; action?: string; text?: string }> {
  const dir = pretrainedDirOf(path);
  const { config, files } = await readPretrainedConfig(dir);
  const hasAction = files.action_tokenizer !== undefined || existsSync(join(dir, PRETRAINED_FILES.legacyFastTokenizer));
  const hasText = files.text_tokenizer !== undefined || existsSync(join(dir, PRETRAINED_FILES.legacyTextTokenizer));
  return {
    dir,
    ...(hasAction ? {} : { action: config.action_tokenizer_name }),
    ...(hasText ? {} : { text: config.text_tokenizer_name }),
  };
}

async function readEmbodimentStats(dir: string, files: CheckpointFiles): Promise<DatasetStats[]> {
  const out: DatasetStats[] = [];
  for (const [i, name] of (files.embodiment_stats ?? []).entries()) {
    const path = inFolder(dir, name, `embodiment_stats[${i}]`);
    out.push(statsFromNormalizerState((await readSafetensors(path)).tensors, path));
  }
  return out;
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
          throw new PolicyError("InvalidCheckpoint", { file: prePath, field: `steps[${step.index}].config.norm_map.${type}`, expected: `${own} (config.json normalization_mapping)`, message: `${prePath}: steps[${step.index}].config.norm_map.${type}: expected ${own} (config.json normalization_mapping), got ${mode}` });
        }
      }
      if (step.stateFile !== undefined) {
        const statePath = join(dir, step.stateFile);
        if (!existsSync(statePath)) throw new PolicyError("InvalidCheckpoint", { file: prePath, field: `steps[${step.index}].state_file`, expected: `an existing ${statePath}`, message: `${prePath}: steps[${step.index}].state_file: ${statePath} does not exist` });
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
  if (needsStats) throw new PolicyError("InvalidCheckpoint", { file: prePath, field: "(file)", expected: "the normaliser statistics", message: `${prePath}: missing (the normaliser statistics of a ${Object.values(config.normalization_mapping).join("/")} policy)` });
  return {};
}

/**
 * Everything in a pretrained_model folder, checked before anything is built: every tensor of the
 * config's variant present once with its shape (the tied head may be stored as lm_head only),
 * none extra, F32/BF16/F16 widened to float32.
 */
export async function readPretrained(path: string): Promise<PretrainedRead> {
  const dir = pretrainedDirOf(path);
  const { config, warnings, files } = await readPretrainedConfig(dir);
  const stats = await readStats(dir, config);
  const embodimentStats = await readEmbodimentStats(dir, files);
  const modelPath = join(dir, PRETRAINED_FILES.model);
  if (!existsSync(modelPath)) throw new PolicyError("InvalidCheckpoint", { file: modelPath, field: "(file)", expected: "the policy's weights", message: `${modelPath}: missing (the policy's weights)` });
  const file = await readSafetensors(modelPath);
  const shapes = parameterShapes(config);
  const parameters: NamedArrays = {};
  for (const [name, shape] of Object.entries(shapes)) {
    const tensor = file.tensors[name] ?? (name === EMBED_TOKENS ? file.tensors[LM_HEAD] : undefined);
    if (!tensor) throw new PolicyError("InvalidCheckpoint", { file: modelPath, field: name, expected: `shape [${shape.join(", ")}] for preset ${config.preset}`, message: `${modelPath}: missing tensor "${name}" (shape [${shape.join(", ")}] for preset ${config.preset})` });
    if (tensor.shape.length !== shape.length || tensor.shape.some((d, i) => d !== shape[i])) {
      throw new PolicyError("InvalidCheckpoint", { file: modelPath, field: name, expected: `shape [${shape.join(", ")}] (preset ${config.preset})`, message: `${modelPath}: tensor "${name}": expected shape [${shape.join(", ")}] (preset ${config.preset}), got [${tensor.shape.join(", ")}]` });
    }
    if (!(tensor.data instanceof Float32Array)) throw new PolicyError("InvalidCheckpoint", { file: modelPath, field: name, expected: "dtype F32 or BF16", message: `${modelPath}: tensor "${name}": expected dtype F32 or BF16, got ${tensor.dtype}` });
    parameters[name] = tensor.data;
  }
  const extra = Object.keys(file.tensors).filter((n) => !(n in shapes) && n !== LM_HEAD);
  if (extra.length > 0) {
    throw new PolicyError("InvalidCheckpoint", { file: modelPath, field: extra[0], expected: `only parameters of preset ${config.preset}`, message: `${modelPath}: unexpected tensor "${extra[0]}"${extra.length > 1 ? ` (and ${extra.length - 1} more)` : ""} (not a parameter of preset ${config.preset})` });
  }
  const fastTokenizer = readFastTokenizer(dir, files);
  const textTokenizer = await readTextTokenizer(dir, files);
  return { dir, config, parameters, stats, embodimentStats, fastTokenizer, textTokenizer, warnings };
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
  const { config, warnings, files } = await readPretrainedConfig(dir);
  const modelPath = join(dir, PRETRAINED_FILES.model);
  if (!existsSync(modelPath)) throw new PolicyError("InvalidCheckpoint", { file: modelPath, field: "(file)", expected: "the policy's weights", message: `${modelPath}: missing (the policy's weights)` });
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
  const text = await readTextTokenizer(dir, files);
  const ownAction = files.action_tokenizer ?? (existsSync(join(dir, PRETRAINED_FILES.legacyFastTokenizer)) ? PRETRAINED_FILES.legacyFastTokenizer : undefined);
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
    text_tokenizer:
      text?.type === "byte_level" ? "byte-level (craft CPU preset)" : text?.type === "hf" ? `${config.text_tokenizer_name} (${relative(dir, text.path)} in the folder)` : config.text_tokenizer_name,
    action_tokenizer: ownAction !== undefined ? `FAST (${ownAction} in the folder)` : config.action_tokenizer_name,
    warnings,
  };
}
