import * as t from "io-ts";
import { NormModeCodec, type PI0FastConfig } from "../config";
import type { DatasetStats, FeatureStats } from "../normalize";
import type { SafetensorsInput, SafetensorsTensor } from "../weights/safetensors";
import { pythonJsonDumps } from "./pyJson";
import { PolicyError } from "../errors";

/**
 * `policy_preprocessor.json` / `policy_postprocessor.json` as LeRobot's DataProcessorPipeline
 * writes them (processor/pipeline.py `get_config`, json.dump indent 2), for the step lists of
 * `make_pi0_fast_pre_post_processors` (policies/pi0_fast/processor_pi0_fast.py). Stateful steps
 * (the normaliser and un-normaliser) keep their statistics in
 * `{pipeline}_step_{index}_{registry_name}.safetensors`, flat `"{feature}.{stat}"` tensors.
 */

export const PREPROCESSOR_NAME = "policy_preprocessor";
export const POSTPROCESSOR_NAME = "policy_postprocessor";
export const NORMALIZER_STEP = "normalizer_processor";
export const UNNORMALIZER_STEP = "unnormalizer_processor";
/** LeRobot's NormalizerProcessorStep default eps. */
const NORMALIZER_EPS = 1e-8;

const StepCodec = t.intersection([
  t.partial({ registry_name: t.string, class: t.string, config: t.UnknownRecord, state_file: t.string }),
  t.type({}),
]);
export const PipelineJsonCodec = t.type({ name: t.string, steps: t.array(StepCodec) });
export type PipelineJson = t.TypeOf<typeof PipelineJsonCodec>;
type Step = t.TypeOf<typeof StepCodec>;

export const stateFileName = (pipeline: string, index: number, registryName: string): string =>
  `${pipeline}_step_${index}_${registryName}.safetensors`;

const TORCH_DEVICE: Readonly<Record<PI0FastConfig["device"], string>> = { auto: "cpu", cpu: "cpu", wasm: "cpu", gpu: "cuda", webgpu: "cuda" };

function normalizerConfig(features: PI0FastConfig["input_features"], config: PI0FastConfig): Record<string, unknown> {
  return { eps: NORMALIZER_EPS, features, norm_map: config.normalization_mapping };
}

/** The preprocessor pipeline of LeRobot's pi0_fast for this config (state of step 3: the normaliser). */
export function preprocessorPipeline(config: PI0FastConfig, renameMap: Readonly<Record<string, string>> = {}): PipelineJson {
  const steps: Step[] = [
    { registry_name: "rename_observations_processor", config: { rename_map: renameMap } },
    { registry_name: "to_batch_processor", config: {} },
    {
      registry_name: "relative_actions_processor",
      config: { enabled: config.use_relative_actions, exclude_joints: config.relative_exclude_joints, action_names: config.action_feature_names },
    },
    {
      registry_name: NORMALIZER_STEP,
      config: normalizerConfig({ ...config.input_features, ...config.output_features }, config),
      state_file: stateFileName(PREPROCESSOR_NAME, 3, NORMALIZER_STEP),
    },
    { registry_name: "pi0_fast_prepare_state_tokenizer_processor_step", config: {} },
    {
      registry_name: "tokenizer_processor",
      config: {
        max_length: config.tokenizer_max_length,
        task_key: "task",
        padding_side: "right",
        padding: "max_length",
        truncation: true,
        tokenizer_name: config.text_tokenizer_name,
      },
    },
    {
      registry_name: "action_tokenizer_processor",
      config: {
        trust_remote_code: true,
        max_action_tokens: config.max_action_tokens,
        fast_skip_tokens: config.fast_skip_tokens,
        paligemma_tokenizer_name: config.text_tokenizer_name,
        allow_truncation: true,
        action_tokenizer_name: config.action_tokenizer_name,
      },
    },
    { registry_name: "device_processor", config: { device: TORCH_DEVICE[config.device], float_dtype: null } },
  ];
  return { name: PREPROCESSOR_NAME, steps };
}

/** The postprocessor pipeline (state of step 0: the un-normaliser over the output features). */
export function postprocessorPipeline(config: PI0FastConfig): PipelineJson {
  return {
    name: POSTPROCESSOR_NAME,
    steps: [
      { registry_name: UNNORMALIZER_STEP, config: normalizerConfig(config.output_features, config), state_file: stateFileName(POSTPROCESSOR_NAME, 0, UNNORMALIZER_STEP) },
      { registry_name: "absolute_actions_processor", config: { enabled: config.use_relative_actions } },
      { registry_name: "device_processor", config: { device: "cpu", float_dtype: null } },
    ],
  };
}

export const pipelineJsonText = (pipeline: PipelineJson): string => pythonJsonDumps(pipeline, { indent: 2, floatKeys: new Set(["eps"]) });

function flatten(value: unknown, shape: number[], out: number[]): boolean {
  if (typeof value === "number") {
    out.push(value);
    return true;
  }
  if (!Array.isArray(value)) return false;
  shape.push(value.length);
  const depth = shape.length;
  for (const item of value) {
    const inner: number[] = [];
    if (!flatten(item, inner, out)) return false;
    if (shape.length === depth) shape.push(...inner);
  }
  return true;
}

/** The normaliser's state dict: `"{feature}.{stat}"` → float32 tensor, for every numeric statistic. */
export function normalizerState(stats: DatasetStats, keys?: readonly string[]): Record<string, SafetensorsInput> {
  const out: Record<string, SafetensorsInput> = {};
  for (const [key, featureStats] of Object.entries(stats)) {
    if (keys && !keys.includes(key)) continue;
    for (const [stat, value] of Object.entries(featureStats as Record<string, unknown>)) {
      const values: number[] = [];
      const shape: number[] = [];
      if (!flatten(value, shape, values)) continue;
      out[`${key}.${stat}`] = { dtype: "F32", shape, data: Float32Array.from(values) };
    }
  }
  return out;
}

/** Statistics back from a normaliser state file (keys split at their last dot, as LeRobot does). */
export function statsFromNormalizerState(tensors: Readonly<Record<string, SafetensorsTensor>>, file: string): DatasetStats {
  const stats: Record<string, Record<string, number[]>> = {};
  for (const [name, tensor] of Object.entries(tensors)) {
    const dot = name.lastIndexOf(".");
    if (dot <= 0) throw new PolicyError("InvalidProcessor", { file, field: name, expected: '"<feature>.<statistic>"', message: `${file}: tensor "${name}": expected "<feature>.<statistic>"` });
    if (!(tensor.data instanceof Float32Array)) throw new PolicyError("InvalidProcessor", { file, field: name, expected: "a float tensor", message: `${file}: tensor "${name}": expected a float tensor, got ${tensor.dtype}` });
    (stats[name.slice(0, dot)] ??= {})[name.slice(dot + 1)] = Array.from(tensor.data);
  }
  return stats as Record<string, FeatureStats>;
}

/**
 * Check a pipeline JSON read from `file` and find its (un)normaliser step: the step, its index and
 * its norm_map, every mode checked against LeRobot's NormalizationMode.
 */
export function normalizerStepOf(
  json: unknown,
  file: string,
  registryName: typeof NORMALIZER_STEP | typeof UNNORMALIZER_STEP,
): { index: number; stateFile: string | undefined; normMap: Record<string, t.TypeOf<typeof NormModeCodec>> } | undefined {
  const decoded = PipelineJsonCodec.decode(json);
  if (decoded._tag === "Left") {
    const path = decoded.left[0]?.context.map((c) => c.key).filter((k) => k !== "").join(".") ?? "";
    throw new PolicyError("InvalidProcessor", { file, field: path || "(root)", expected: String(decoded.left[0]?.context.at(-1)?.type.name), message: `${file}: ${path || "(root)"}: expected ${decoded.left[0]?.context.at(-1)?.type.name}, got ${JSON.stringify(decoded.left[0]?.value)}` });
  }
  const index = decoded.right.steps.findIndex((s) => s.registry_name === registryName);
  if (index < 0) return undefined;
  const step = decoded.right.steps[index]!;
  const normMap = (step.config?.norm_map ?? {}) as Record<string, unknown>;
  for (const [featureType, mode] of Object.entries(normMap)) {
    if (!NormModeCodec.is(mode)) {
      throw new PolicyError("InvalidProcessor", { file, field: `steps[${index}].config.norm_map.${featureType}`, expected: `one of ${Object.keys(NormModeCodec.keys).join(", ")}`, message: `${file}: steps[${index}].config.norm_map.${featureType}: expected one of ${Object.keys(NormModeCodec.keys).join(", ")}, got ${JSON.stringify(mode)}` });
    }
  }
  return { index, stateFile: step.state_file, normMap: normMap as Record<string, t.TypeOf<typeof NormModeCodec>> };
}
