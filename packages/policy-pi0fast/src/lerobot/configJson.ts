import * as t from "io-ts";
import {
  DecoderConfigCodec,
  PresetCodec,
  VisionConfigCodec,
  decodePI0FastConfig,
  type PI0FastConfig,
} from "../config";
import { pythonJsonDumps } from "./pyJson";
import { PolicyError, problemExpected, problemField } from "../errors";

/**
 * `pretrained_model/config.json` in LeRobot's PI0FastConfig schema, both ways. LeRobot's loader
 * (draccus) refuses any field outside its dataclass, so everything craft-only lives in the sidecar
 * `craft_config.json`: the preset and explicit widths (LeRobot derives them from
 * `paligemma_variant`), freezing, the decoder input scaling, FAST-grammar-constrained decoding,
 * the camera order and the tfjs device.
 */

/** The fields LeRobot writes, in its order (PreTrainedConfig's, then PI0FastConfig's). */
export const LEROBOT_CONFIG_FIELDS = [
  "type",
  "n_obs_steps",
  "input_features",
  "output_features",
  "device",
  "use_amp",
  "use_peft",
  "push_to_hub",
  "repo_id",
  "private",
  "tags",
  "license",
  "pretrained_path",
  "pretrained_revision",
  "paligemma_variant",
  "action_expert_variant",
  "dtype",
  "chunk_size",
  "n_action_steps",
  "max_state_dim",
  "max_action_dim",
  "max_action_tokens",
  "use_relative_actions",
  "relative_exclude_joints",
  "action_feature_names",
  "rtc_config",
  "image_resolution",
  "empty_cameras",
  "tokenizer_max_length",
  "text_tokenizer_name",
  "action_tokenizer_name",
  "temperature",
  "max_decoding_steps",
  "fast_skip_tokens",
  "validate_action_token_prefix",
  "use_kv_cache",
  "normalization_mapping",
  "gradient_checkpointing",
  "compile_model",
  "compile_mode",
  "optimizer_lr",
  "optimizer_betas",
  "optimizer_eps",
  "optimizer_weight_decay",
  "optimizer_grad_clip_norm",
  "scheduler_warmup_steps",
  "scheduler_decay_steps",
  "scheduler_decay_lr",
] as const;
export type LeRobotConfigField = (typeof LEROBOT_CONFIG_FIELDS)[number];

/** Fields typed `float` in LeRobot's dataclass (draccus writes them as `0.0`, `2.5e-05`). */
const FLOAT_FIELDS: ReadonlySet<string> = new Set([
  "temperature",
  "optimizer_lr",
  "optimizer_betas",
  "optimizer_eps",
  "optimizer_weight_decay",
  "optimizer_grad_clip_norm",
  "scheduler_decay_lr",
]);

/** LeRobot fields that only steer PyTorch execution; a non-default value is read, kept, and warned about. */
const UNUSED_FIELDS: Readonly<Partial<Record<LeRobotConfigField, unknown>>> = {
  use_amp: false,
  gradient_checkpointing: false,
  compile_model: false,
  compile_mode: "max-autotune",
};

export const CRAFT_SIDECAR_FILE = "craft_config.json";

/** The craft-only part of PI0FastConfig, stored beside config.json. */
export const CraftSidecarCodec = t.exact(
  t.partial({
    preset: PresetCodec,
    vision: t.exact(t.partial(VisionConfigCodec.type.props)),
    decoder: t.exact(t.partial(DecoderConfigCodec.type.props)),
    freeze_vision_encoder: t.boolean,
    freeze_lm_head: t.boolean,
    scale_decoder_inputs: t.boolean,
    constrained_decoding: t.boolean,
    image_keys: t.array(t.string),
    device: t.keyof({ auto: null, gpu: null, webgpu: null, wasm: null, cpu: null }),
  }),
);
export type CraftSidecar = t.TypeOf<typeof CraftSidecarCodec>;
const SIDECAR_FIELDS = Object.keys(CraftSidecarCodec.type.props);

// LeRobot's `device` is a torch device string; ours names a tfjs backend. "cpu" means the CPU to
// both (wasm is our CPU backend), "cuda" a GPU, null "pick one".
const TORCH_DEVICE: Readonly<Record<PI0FastConfig["device"], string | null>> = { auto: null, cpu: "cpu", wasm: "cpu", gpu: "cuda", webgpu: "cuda" };
function deviceFromTorch(device: unknown): PI0FastConfig["device"] | undefined {
  if (device === null || device === undefined) return "auto";
  if (device === "cpu") return "wasm";
  if (typeof device === "string" && device.startsWith("cuda")) return "gpu";
  if (device === "mps") return "auto";
  return undefined;
}

const EMPTY_CAMERA = /^observation\.images\.empty_camera_\d+$/;

/** The camera keys of LeRobot's input_features, in order (its padded empty cameras excluded). */
export function imageKeysOf(inputFeatures: PI0FastConfig["input_features"]): string[] {
  return Object.entries(inputFeatures)
    .filter(([key, f]) => f.type === "VISUAL" && !EMPTY_CAMERA.test(key))
    .map(([key]) => key);
}

/** config.json exactly as LeRobot writes it: its field set and order, draccus' encoding. */
export function lerobotConfigJson(config: PI0FastConfig): string {
  const out: Record<string, unknown> = {};
  for (const field of LEROBOT_CONFIG_FIELDS) {
    out[field] = field === "device" ? TORCH_DEVICE[config.device] : config[field];
  }
  return pythonJsonDumps(out, { indent: 4, floatKeys: FLOAT_FIELDS });
}

export function craftSidecar(config: PI0FastConfig): CraftSidecar {
  return {
    preset: config.preset,
    vision: config.vision,
    decoder: config.decoder,
    freeze_vision_encoder: config.freeze_vision_encoder,
    freeze_lm_head: config.freeze_lm_head,
    scale_decoder_inputs: config.scale_decoder_inputs,
    constrained_decoding: config.constrained_decoding,
    image_keys: config.image_keys,
    device: config.device,
  };
}

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u);

export interface LeRobotConfigRead {
  readonly config: PI0FastConfig;
  /** One line naming the LeRobot fields that were read but have no effect here (empty when none). */
  readonly warnings: string[];
}

/**
 * Decode LeRobot's config.json (file `configFile`) with the optional craft sidecar (`sidecarFile`).
 * Every LeRobot field is accepted; a field outside LeRobot's schema, a value of the wrong type,
 * or a setting that would change outputs and is not implemented here is one error naming the
 * file and the field.
 */
export function configFromLeRobot(json: unknown, sidecar: unknown, files: { readonly config: string; readonly sidecar?: string }): LeRobotConfigRead {
  if (!isRecord(json)) throw new PolicyError("InvalidConfig", { file: files.config, field: "(root)", expected: "a JSON object", message: `${files.config}: expected a JSON object, got ${JSON.stringify(json)?.slice(0, 40)}` });
  if (json.type !== "pi0_fast") throw new PolicyError("InvalidConfig", { file: files.config, field: "type", expected: '"pi0_fast"', message: `${files.config}: type: expected "pi0_fast", got ${JSON.stringify(json.type)}` });
  const known: readonly string[] = LEROBOT_CONFIG_FIELDS;
  const foreign = Object.keys(json).filter((k) => !known.includes(k));
  if (foreign.length > 0) {
    throw new PolicyError("InvalidConfig", { file: files.config, field: foreign[0], expected: "a field of LeRobot's PI0FastConfig", message: `${files.config}: ${foreign[0]}: not a field of LeRobot's PI0FastConfig${foreign.length > 1 ? ` (also ${foreign.slice(1).join(", ")})` : ""}` });
  }
  let extra: CraftSidecar = {};
  if (sidecar !== undefined) {
    const where = files.sidecar ?? CRAFT_SIDECAR_FILE;
    if (!isRecord(sidecar)) throw new PolicyError("InvalidConfig", { file: where, field: "(root)", expected: "a JSON object", message: `${where}: expected a JSON object` });
    const unknownKey = Object.keys(sidecar).find((k) => !SIDECAR_FIELDS.includes(k));
    if (unknownKey !== undefined) throw new PolicyError("InvalidConfig", { file: where, field: unknownKey, expected: `one of ${SIDECAR_FIELDS.join(", ")}`, message: `${where}: ${unknownKey}: unknown field (allowed: ${SIDECAR_FIELDS.join(", ")})` });
    const decoded = CraftSidecarCodec.decode(sidecar);
    if (decoded._tag === "Left") {
      const path = decoded.left[0]?.context.map((c) => c.key).filter((k) => k !== "").join(".") ?? "";
      throw new PolicyError("InvalidConfig", { file: where, field: path, expected: String(decoded.left[0]?.context.at(-1)?.type.name), message: `${where}: ${path}: expected ${decoded.left[0]?.context.at(-1)?.type.name}, got ${JSON.stringify(decoded.left[0]?.value)}` });
    }
    extra = decoded.right;
  }
  const { device: torchDevice, ...rest } = json;
  const device = extra.device ?? deviceFromTorch(torchDevice);
  if (device === undefined) throw new PolicyError("InvalidConfig", { file: files.config, field: "device", expected: 'null, "cpu", "cuda" or "mps"', message: `${files.config}: device: expected null, "cpu", "cuda" or "mps", got ${JSON.stringify(torchDevice)}` });
  const inputFeatures = isRecord(rest.input_features) ? rest.input_features : {};
  const merged: Record<string, unknown> = {
    ...rest,
    ...extra,
    device,
    image_keys: extra.image_keys ?? imageKeysOf(inputFeatures as PI0FastConfig["input_features"]),
  };
  const decoded = decodePI0FastConfig(merged, "");
  if (decoded._tag === "Left") throw new PolicyError("InvalidConfig", { file: files.config, field: problemField(decoded.left[0]), expected: problemExpected(decoded.left[0]), message: `${files.config}: ${decoded.left[0]}${decoded.left.length > 1 ? ` (and ${decoded.left.length - 1} more: ${decoded.left.slice(1).join("; ")})` : ""}` });
  const config = decoded.right;
  const unused = Object.entries(UNUSED_FIELDS)
    .filter(([field, fallback]) => JSON.stringify(json[field] ?? fallback) !== JSON.stringify(fallback))
    .map(([field]) => `${field}=${JSON.stringify(json[field])}`);
  const warnings = unused.length > 0 ? [`${files.config}: read but not used here (PyTorch execution settings): ${unused.join(", ")}`] : [];
  return { config, warnings };
}
