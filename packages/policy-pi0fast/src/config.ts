import * as t from "io-ts";
import { type Either, left, right } from "fp-ts/lib/Either.js";
import { PolicyError, problemExpected, problemField } from "./errors";

/**
 * pi0-FAST configuration, mirroring LeRobot's `PI0FastConfig` (configuration_pi0_fast.py) plus the
 * model widths that LeRobot derives from `paligemma_variant` and that we make explicit so the same
 * code runs from a CPU-test size up to PaliGemma-3B.
 */

const PositiveInt = t.refinement(t.number, (n) => Number.isInteger(n) && n > 0, "positive integer");
const NonNegativeInt = t.refinement(t.number, (n) => Number.isInteger(n) && n >= 0, "non-negative integer");
const PositiveNumber = t.refinement(t.number, (n) => Number.isFinite(n) && n > 0, "positive number");
const NonNegativeNumber = t.refinement(t.number, (n) => Number.isFinite(n) && n >= 0, "non-negative number");

export const VisionConfigCodec = t.exact(
  t.type({
    image_size: PositiveInt,
    patch_size: PositiveInt,
    width: PositiveInt,
    depth: NonNegativeInt,
    mlp_dim: PositiveInt,
    heads: PositiveInt,
  }),
);
export type VisionConfig = t.TypeOf<typeof VisionConfigCodec>;

export const DecoderConfigCodec = t.exact(
  t.type({
    width: PositiveInt,
    depth: NonNegativeInt,
    mlp_dim: PositiveInt,
    heads: PositiveInt,
    kv_heads: PositiveInt,
    head_dim: PositiveInt,
    vocab_size: PositiveInt,
  }),
);
export type DecoderConfig = t.TypeOf<typeof DecoderConfigCodec>;

export const PresetCodec = t.keyof({ tiny: null, small: null, paligemma_3b: null, gemma_300m: null });
export type Preset = t.TypeOf<typeof PresetCodec>;

/** LeRobot's `paligemma_variant` values (configuration_pi0_fast.py `__post_init__`). */
export const PaligemmaVariantCodec = t.keyof({ gemma_2b: null, gemma_300m: null });
export type PaligemmaVariant = t.TypeOf<typeof PaligemmaVariantCodec>;

/** Preset whose widths are LeRobot's variant (the other presets are craft's CPU sizes). */
export const VARIANT_PRESET: Readonly<Record<PaligemmaVariant, Preset>> = { gemma_2b: "paligemma_3b", gemma_300m: "gemma_300m" };

/** LeRobot's `NormalizationMode` (configs/types.py). */
export const NormModeCodec = t.keyof({ IDENTITY: null, MEAN_STD: null, MIN_MAX: null, QUANTILES: null, QUANTILE10: null });
export type NormMode = t.TypeOf<typeof NormModeCodec>;

/** LeRobot's `FeatureType` (configs/types.py). */
export const FeatureTypeCodec = t.keyof({ STATE: null, VISUAL: null, ENV: null, ACTION: null, REWARD: null, LANGUAGE: null });
export type FeatureType = t.TypeOf<typeof FeatureTypeCodec>;

/** LeRobot's `PolicyFeature` as draccus writes it: `{type, shape}`. */
export const PolicyFeatureCodec = t.exact(t.type({ type: FeatureTypeCodec, shape: t.array(NonNegativeInt) }));
export type PolicyFeature = t.TypeOf<typeof PolicyFeatureCodec>;
const FeaturesCodec = t.record(t.string, PolicyFeatureCodec);

const NullableString = t.union([t.string, t.null]);

export const PI0FastConfigCodec = t.exact(
  t.type({
    type: t.literal("pi0_fast"),
    preset: PresetCodec,
    // LeRobot's PreTrainedConfig fields (configs/policies.py).
    n_obs_steps: PositiveInt,
    input_features: FeaturesCodec,
    output_features: FeaturesCodec,
    use_amp: t.boolean,
    use_peft: t.boolean,
    push_to_hub: t.boolean,
    repo_id: NullableString,
    private: t.union([t.boolean, t.null]),
    tags: t.union([t.array(t.string), t.null]),
    license: NullableString,
    pretrained_path: NullableString,
    pretrained_revision: NullableString,
    // LeRobot's PI0FastConfig fields (policies/pi0_fast/configuration_pi0_fast.py).
    paligemma_variant: PaligemmaVariantCodec,
    action_expert_variant: t.string,
    /** Parameter dtype of model.safetensors: F32 or BF16. Compute stays float32 here. */
    dtype: t.keyof({ float32: null, bfloat16: null }),
    use_relative_actions: t.boolean,
    relative_exclude_joints: t.array(t.string),
    action_feature_names: t.union([t.array(t.string), t.null]),
    /** Real-Time Chunking settings; only `null` (off) is supported here. */
    rtc_config: t.union([t.UnknownRecord, t.null]),
    text_tokenizer_name: t.string,
    action_tokenizer_name: t.string,
    validate_action_token_prefix: t.boolean,
    gradient_checkpointing: t.boolean,
    compile_model: t.boolean,
    compile_mode: t.string,
    chunk_size: PositiveInt,
    n_action_steps: PositiveInt,
    max_state_dim: PositiveInt,
    max_action_dim: PositiveInt,
    max_action_tokens: PositiveInt,
    image_resolution: t.tuple([PositiveInt, PositiveInt]),
    empty_cameras: NonNegativeInt,
    tokenizer_max_length: PositiveInt,
    temperature: NonNegativeNumber,
    max_decoding_steps: PositiveInt,
    fast_skip_tokens: NonNegativeInt,
    use_kv_cache: t.boolean,
    normalization_mapping: t.exact(t.type({ VISUAL: NormModeCodec, STATE: NormModeCodec, ACTION: NormModeCodec })),
    optimizer_lr: PositiveNumber,
    optimizer_betas: t.tuple([NonNegativeNumber, NonNegativeNumber]),
    optimizer_eps: PositiveNumber,
    optimizer_weight_decay: NonNegativeNumber,
    optimizer_grad_clip_norm: NonNegativeNumber,
    scheduler_warmup_steps: NonNegativeInt,
    scheduler_decay_steps: PositiveInt,
    scheduler_decay_lr: NonNegativeNumber,
    freeze_vision_encoder: t.boolean,
    freeze_lm_head: t.boolean,
    device: t.keyof({ auto: null, gpu: null, webgpu: null, wasm: null, cpu: null }),
    /**
     * LeRobot's pi0_fast runs its sequence through HF Gemma's `forward(inputs_embeds=…)`, which
     * multiplies the inputs by √width once more (PiGemmaModel): token embeddings end up × width,
     * image features × √width. `false` gives openpi's JAX scaling (tokens × √width only).
     */
    scale_decoder_inputs: t.boolean,
    /**
     * craft-only (craft_config.json): decode under the FAST grammar (fast/grammar.ts), so every
     * generation is chunk_size × action dim complete coefficients followed by "|" and EOS. Default
     * true: for greedy decoding, whenever the unconstrained output is already valid every argmax
     * was allowed, so the constrained output is identical; the grammar changes only outputs that
     * LeRobot would decode as invalid (padded, cut, or zeros). `false` decodes as LeRobot does.
     */
    constrained_decoding: t.boolean,
    /** Observation image keys in camera order (`observation.images.*`); empty → one blank camera. */
    image_keys: t.array(t.string),
    vision: VisionConfigCodec,
    decoder: DecoderConfigCodec,
  }),
);
export type PI0FastConfig = t.TypeOf<typeof PI0FastConfigCodec>;

/** What each policy field means (LeRobot's PI0FastConfig names, plus craft's widths): the `--policy.*` help line beside its default. */
export const policyConfigDocs: { readonly [K in keyof PI0FastConfig]: string } = {
  type: "policy type; pi0_fast is the only one craft-ts ships",
  preset: "model size: tiny or small (CPU sizes), gemma_300m or paligemma_3b (LeRobot's widths)",
  n_obs_steps: "observation frames per sample (LeRobot: 1 for pi0_fast)",
  input_features: "observation features the policy reads ({key: {type, shape}}); filled from the dataset",
  output_features: "action features the policy writes; filled from the dataset",
  use_amp: "LeRobot's mixed precision switch (compute here is float32)",
  use_peft: "LeRobot's PEFT switch (full fine-tuning here)",
  push_to_hub: "upload the last pretrained_model/ to the Hub after training (needs repo_id, HF_TOKEN)",
  repo_id: "Hub repository ORG/NAME for push_to_hub",
  private: "create the Hub repository private",
  tags: "Hub model card tags",
  license: "Hub model card license",
  pretrained_path: "a pretrained_model folder or Hub id to start from (as --policy.path)",
  pretrained_revision: "Hub revision of pretrained_path",
  paligemma_variant: "LeRobot's backbone variant: gemma_2b or gemma_300m",
  action_expert_variant: "LeRobot's action expert variant (recorded; pi0_fast decodes with the backbone)",
  dtype: "parameter dtype of model.safetensors: float32 or bfloat16 (compute is float32)",
  use_relative_actions: "predict actions relative to the state (LeRobot); only false is supported",
  relative_exclude_joints: "joints kept absolute when use_relative_actions",
  action_feature_names: "names of the action dimensions, when the dataset gives them",
  rtc_config: "Real-Time Chunking settings; only null (off) is supported",
  text_tokenizer_name: "the prompt tokenizer (Hugging Face name or byte_level)",
  action_tokenizer_name: "the FAST action tokenizer (Hugging Face name, or fitted with craft tokenizer fit)",
  validate_action_token_prefix: "LeRobot's check of the decoded 'Action: ' prefix (recorded)",
  gradient_checkpointing: "LeRobot's activation checkpointing switch (recorded)",
  compile_model: "LeRobot's torch.compile switch (recorded)",
  compile_mode: "LeRobot's torch.compile mode (recorded)",
  chunk_size: "actions predicted per observation (the FAST chunk length)",
  n_action_steps: "actions executed from each predicted chunk before predicting again",
  max_state_dim: "state vectors are zero-padded to this width",
  max_action_dim: "action vectors are zero-padded to this width",
  max_action_tokens: "FAST tokens per action chunk in training targets (longer ones are cut)",
  image_resolution: "camera images are resized with padding to [height, width]",
  empty_cameras: "blank camera slots added beside the dataset's cameras",
  tokenizer_max_length: "prompt tokens (instruction and state) per sample",
  temperature: "sampling temperature of action decoding; 0 decodes greedily",
  max_decoding_steps: "most tokens generated per action chunk",
  fast_skip_tokens: "tokens at the end of the vocabulary that FAST tokens skip (PaliGemma's special tokens)",
  use_kv_cache: "decode with a key/value cache (same tokens, faster)",
  normalization_mapping: "normalisation per feature type (VISUAL, STATE, ACTION): IDENTITY, MEAN_STD, MIN_MAX, QUANTILES or QUANTILE10",
  optimizer_lr: "AdamW learning rate (peak, after warm-up)",
  optimizer_betas: "AdamW [β1, β2]",
  optimizer_eps: "AdamW ε",
  optimizer_weight_decay: "AdamW decoupled weight decay",
  optimizer_grad_clip_norm: "clip the global gradient norm to this value; 0 disables clipping",
  scheduler_warmup_steps: "linear warm-up steps of the cosine-decay schedule",
  scheduler_decay_steps: "steps of the cosine decay after warm-up",
  scheduler_decay_lr: "learning rate at the end of the decay",
  freeze_vision_encoder: "keep the vision encoder's weights fixed",
  freeze_lm_head: "keep the language-model head fixed",
  device: "tfjs backend: auto, gpu, webgpu, wasm or cpu",
  scale_decoder_inputs: "scale decoder inputs as LeRobot's PaliGemma does (false: openpi's JAX scaling)",
  constrained_decoding: "decode under the FAST grammar so every output is a complete chunk (craft-only; false decodes as LeRobot)",
  image_keys: "observation image keys in camera order (observation.images.*); empty gives one blank camera",
  vision: "vision encoder widths (image_size, patch_size, width, depth, mlp_dim, heads); from the preset",
  decoder: "decoder widths (width, depth, mlp_dim, heads, kv_heads, head_dim, vocab_size); from the preset",
};

/**
 * What each field of the nested policy groups means: the `--policy.vision.*`, `--policy.decoder.*`
 * and `--policy.normalization_mapping.*` help lines (typed against the codecs, so none is missing).
 */
export const policyNestedConfigDocs: {
  readonly vision: { readonly [K in keyof VisionConfig]: string };
  readonly decoder: { readonly [K in keyof DecoderConfig]: string };
  readonly normalization_mapping: { readonly [K in keyof PI0FastConfig["normalization_mapping"]]: string };
} = {
  vision: {
    image_size: "side of the square image the vision encoder sees (pixels)",
    patch_size: "side of each square patch; (image_size / patch_size)² image tokens per camera",
    width: "vision encoder hidden width",
    depth: "vision encoder layers",
    mlp_dim: "vision encoder MLP hidden width",
    heads: "vision encoder attention heads",
  },
  decoder: {
    width: "Gemma decoder hidden width (image tokens are projected to it)",
    depth: "Gemma decoder layers",
    mlp_dim: "Gemma decoder GeGLU hidden width",
    heads: "query heads per decoder layer",
    kv_heads: "key/value heads per decoder layer (1: multi-query attention)",
    head_dim: "width of each attention head",
    vocab_size: "token vocabulary (prompt and FAST action tokens; the head is tied to the embedding)",
  },
  normalization_mapping: {
    VISUAL: "normalisation of camera images: IDENTITY, MEAN_STD, MIN_MAX, QUANTILES or QUANTILE10",
    STATE: "normalisation of observation.state: IDENTITY, MEAN_STD, MIN_MAX, QUANTILES or QUANTILE10",
    ACTION: "normalisation of action: IDENTITY, MEAN_STD, MIN_MAX, QUANTILES or QUANTILE10",
  },
};

/** LeRobot's defaults (pi0_fast, 2025) with the real PaliGemma-3B widths. */
const LEROBOT_DEFAULTS: Omit<PI0FastConfig, "vision" | "decoder" | "preset"> = {
  type: "pi0_fast",
  n_obs_steps: 1,
  input_features: {},
  output_features: {},
  use_amp: false,
  use_peft: false,
  push_to_hub: true,
  repo_id: null,
  private: null,
  tags: null,
  license: null,
  pretrained_path: null,
  pretrained_revision: null,
  paligemma_variant: "gemma_2b",
  action_expert_variant: "gemma_300m",
  dtype: "float32",
  use_relative_actions: false,
  relative_exclude_joints: ["gripper"],
  action_feature_names: null,
  rtc_config: null,
  text_tokenizer_name: "google/paligemma-3b-pt-224",
  action_tokenizer_name: "lerobot/fast-action-tokenizer",
  validate_action_token_prefix: true,
  gradient_checkpointing: false,
  compile_model: false,
  compile_mode: "max-autotune",
  chunk_size: 50,
  n_action_steps: 50,
  max_state_dim: 32,
  max_action_dim: 32,
  max_action_tokens: 256,
  image_resolution: [224, 224],
  empty_cameras: 0,
  tokenizer_max_length: 200,
  temperature: 0,
  max_decoding_steps: 256,
  fast_skip_tokens: 128,
  use_kv_cache: true,
  normalization_mapping: { VISUAL: "IDENTITY", STATE: "MEAN_STD", ACTION: "MEAN_STD" },
  optimizer_lr: 2.5e-5,
  optimizer_betas: [0.9, 0.95],
  optimizer_eps: 1e-8,
  optimizer_weight_decay: 0.01,
  optimizer_grad_clip_norm: 1.0,
  scheduler_warmup_steps: 1000,
  scheduler_decay_steps: 30000,
  scheduler_decay_lr: 2.5e-6,
  freeze_vision_encoder: false,
  freeze_lm_head: false,
  device: "auto",
  scale_decoder_inputs: false,
  constrained_decoding: true,
  image_keys: [],
};

type PresetDefaults = Partial<Omit<PI0FastConfig, "vision" | "decoder">> &
  Pick<PI0FastConfig, "vision" | "decoder">;

const SO400M: VisionConfig = { image_size: 224, patch_size: 14, width: 1152, depth: 27, mlp_dim: 4304, heads: 16 };

/**
 * Model sizes. `paligemma_3b` is SigLIP So400m/14 at 224 + Gemma-2B (LeRobot's `gemma_2b`
 * variant), `gemma_300m` the same vision tower with LeRobot's `gemma_300m` language model
 * (pi_gemma.py `get_gemma_config`). The CPU sizes keep QUANTILES normalisation, as they were trained.
 */
export const PRESETS: Readonly<Record<Preset, PresetDefaults>> = {
  tiny: {
    normalization_mapping: { VISUAL: "IDENTITY", STATE: "QUANTILES", ACTION: "QUANTILES" },
    vision: { image_size: 64, patch_size: 8, width: 128, depth: 2, mlp_dim: 512, heads: 4 },
    decoder: { width: 256, depth: 4, mlp_dim: 1024, heads: 4, kv_heads: 1, head_dim: 64, vocab_size: 2048 },
    image_resolution: [64, 64],
    tokenizer_max_length: 48,
    max_action_tokens: 64,
    max_decoding_steps: 64,
    chunk_size: 10,
    n_action_steps: 10,
  },
  small: {
    normalization_mapping: { VISUAL: "IDENTITY", STATE: "QUANTILES", ACTION: "QUANTILES" },
    vision: { image_size: 112, patch_size: 14, width: 256, depth: 4, mlp_dim: 1024, heads: 4 },
    decoder: { width: 512, depth: 6, mlp_dim: 2048, heads: 8, kv_heads: 1, head_dim: 64, vocab_size: 4096 },
    image_resolution: [112, 112],
    tokenizer_max_length: 96,
    max_action_tokens: 128,
    max_decoding_steps: 128,
  },
  paligemma_3b: {
    paligemma_variant: "gemma_2b",
    vision: SO400M,
    decoder: { width: 2048, depth: 18, mlp_dim: 16384, heads: 8, kv_heads: 1, head_dim: 256, vocab_size: 257152 },
  },
  gemma_300m: {
    paligemma_variant: "gemma_300m",
    vision: SO400M,
    decoder: { width: 1024, depth: 18, mlp_dim: 4096, heads: 8, kv_heads: 1, head_dim: 256, vocab_size: 257152 },
  },
};

function describe(value: unknown): string {
  if (value === undefined) return "undefined";
  try {
    return JSON.stringify(value);
  } catch {
    return String(value);
  }
}

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u);

function checkUnknownKeys(input: Record<string, unknown>, allowed: readonly string[], path: string, errors: string[]): void {
  for (const key of Object.keys(input)) {
    if (!allowed.includes(key)) errors.push(`${path}${key}: unknown field (allowed: ${allowed.join(", ")})`);
  }
}

/**
 * Decode a (partial) config: defaults come from LeRobot, then the preset (default `paligemma_3b`),
 * then the input. Errors name the field: `policy.chunk_size: expected positive integer, got "x"`.
 */
export function decodePI0FastConfig(input: unknown, path = "policy."): Either<string[], PI0FastConfig> {
  const errors: string[] = [];
  const raw = input === undefined ? {} : input;
  if (!isRecord(raw)) return left([`${path.replace(/\.$/, "")}: expected an object, got ${describe(raw)}`]);
  const topKeys = Object.keys(PI0FastConfigCodec.type.props);
  checkUnknownKeys(raw, topKeys, path, errors);
  // Without a preset, LeRobot's paligemma_variant picks the widths (gemma_2b → paligemma_3b).
  const variantRaw = raw.paligemma_variant;
  if (variantRaw !== undefined && !PaligemmaVariantCodec.is(variantRaw)) {
    errors.push(`${path}paligemma_variant: expected one of gemma_2b, gemma_300m, got ${describe(variantRaw)}`);
    return left(errors);
  }
  const presetRaw = raw.preset ?? (variantRaw !== undefined ? VARIANT_PRESET[variantRaw] : "paligemma_3b");
  if (!PresetCodec.is(presetRaw)) {
    errors.push(`${path}preset: expected one of ${Object.keys(PresetCodec.keys).join(", ")}, got ${describe(presetRaw)}`);
    return left(errors);
  }
  const presetDefaults = PRESETS[presetRaw];
  const merged: Record<string, unknown> = { ...LEROBOT_DEFAULTS, ...presetDefaults, preset: presetRaw };
  for (const [key, value] of Object.entries(raw)) {
    if (!topKeys.includes(key)) continue;
    if ((key === "vision" || key === "decoder") && isRecord(value)) {
      const sub = key === "vision" ? VisionConfigCodec : DecoderConfigCodec;
      checkUnknownKeys(value, Object.keys(sub.type.props), `${path}${key}.`, errors);
      merged[key] = { ...(merged[key] as object), ...value };
    } else if (key === "normalization_mapping" && isRecord(value)) {
      merged[key] = { ...(merged[key] as object), ...value };
    } else {
      merged[key] = value;
    }
  }
  const props = PI0FastConfigCodec.type.props as Record<string, t.Mixed>;
  for (const key of topKeys) {
    const codec = props[key];
    const value = merged[key];
    if (key === "vision" || key === "decoder" || key === "normalization_mapping") {
      if (!isRecord(value)) {
        errors.push(`${path}${key}: expected an object, got ${describe(value)}`);
        continue;
      }
      const subProps = (codec as unknown as { type: { props: Record<string, t.Mixed> } }).type.props;
      for (const [subKey, subCodec] of Object.entries(subProps)) {
        if (!subCodec.is(value[subKey])) {
          errors.push(`${path}${key}.${subKey}: expected ${subCodec.name}, got ${describe(value[subKey])}`);
        }
      }
      continue;
    }
    if (!codec.is(value)) errors.push(`${path}${key}: expected ${codec.name}, got ${describe(value)}`);
  }
  if (errors.length > 0) return left(errors);
  const config = merged as unknown as PI0FastConfig;
  const { vision, decoder } = config;
  if (config.n_action_steps > config.chunk_size) {
    errors.push(`${path}n_action_steps: expected ≤ chunk_size (${config.chunk_size}), got ${config.n_action_steps}`);
  }
  const variantPreset = VARIANT_PRESET[config.paligemma_variant];
  if ((config.preset === "paligemma_3b" || config.preset === "gemma_300m") && config.preset !== variantPreset) {
    errors.push(`${path}paligemma_variant: expected ${PRESETS[config.preset].paligemma_variant} (preset ${config.preset}), got ${describe(config.paligemma_variant)}`);
  }
  // LeRobot features this implementation does not have: refusing beats silently different outputs.
  if (config.use_relative_actions) errors.push(`${path}use_relative_actions: expected false (relative actions are not implemented), got true`);
  if (config.rtc_config !== null) errors.push(`${path}rtc_config: expected null (Real-Time Chunking is not implemented), got ${describe(config.rtc_config)}`);
  if (config.use_peft) errors.push(`${path}use_peft: expected false (PEFT/LoRA adapters are not implemented), got true`);
  if (config.n_obs_steps !== 1) errors.push(`${path}n_obs_steps: expected 1 (pi0_fast reads one observation step), got ${config.n_obs_steps}`);
  if (vision.image_size % vision.patch_size !== 0) {
    errors.push(`${path}vision.patch_size: expected a divisor of vision.image_size (${vision.image_size}), got ${vision.patch_size}`);
  }
  if (vision.width % vision.heads !== 0) {
    errors.push(`${path}vision.heads: expected a divisor of vision.width (${vision.width}), got ${vision.heads}`);
  }
  if (decoder.heads % decoder.kv_heads !== 0) {
    errors.push(`${path}decoder.kv_heads: expected a divisor of decoder.heads (${decoder.heads}), got ${decoder.kv_heads}`);
  }
  if (decoder.head_dim % 2 !== 0) {
    errors.push(`${path}decoder.head_dim: expected an even number (RoPE), got ${decoder.head_dim}`);
  }
  if (config.image_resolution[0] !== vision.image_size || config.image_resolution[1] !== vision.image_size) {
    errors.push(
      `${path}image_resolution: expected [${vision.image_size}, ${vision.image_size}] (vision.image_size), got ${describe(config.image_resolution)}`,
    );
  }
  if (decoder.vocab_size <= config.fast_skip_tokens + 1) {
    errors.push(`${path}decoder.vocab_size: expected > fast_skip_tokens + 1 (${config.fast_skip_tokens + 1}), got ${decoder.vocab_size}`);
  }
  return errors.length > 0 ? left(errors) : right(config);
}

/** Decode or throw one readable error (for callers that are not fp-ts aware). */
export function pi0FastConfig(input: unknown = {}): PI0FastConfig {
  const decoded = decodePI0FastConfig(input);
  if (decoded._tag === "Left") throw new PolicyError("InvalidConfig", { field: problemField(decoded.left[0]), expected: problemExpected(decoded.left[0]), message: `invalid pi0_fast config:\n  ${decoded.left.join("\n  ")}` });
  return decoded.right;
}

/**
 * LeRobot's `CosineDecayWithWarmupSchedulerConfig` (lerobot/optim/schedulers.py): linear warmup from
 * peak/(warmup+1) to peak, then cosine decay to `decay_lr` at `decay_steps`. When training is shorter
 * than `decay_steps`, warmup and decay are scaled down by `totalSteps / decay_steps`.
 */
export function schedulerFor(
  config: Pick<PI0FastConfig, "optimizer_lr" | "scheduler_warmup_steps" | "scheduler_decay_steps" | "scheduler_decay_lr">,
  totalSteps: number,
): { warmupSteps: number; decaySteps: number; lrAt(step: number): number } {
  let warmupSteps = config.scheduler_warmup_steps;
  let decaySteps = config.scheduler_decay_steps;
  if (totalSteps < config.scheduler_decay_steps) {
    const scale = totalSteps / config.scheduler_decay_steps;
    warmupSteps = Math.trunc(config.scheduler_warmup_steps * scale);
    decaySteps = totalSteps;
  }
  const peak = config.optimizer_lr;
  const factor = (step: number): number => {
    if (step < warmupSteps) {
      if (step <= 0) return 1 / (warmupSteps + 1);
      const frac = 1 - step / warmupSteps;
      return (1 / (warmupSteps + 1) - 1) * frac + 1;
    }
    const s = Math.min(step, decaySteps);
    const cosine = 0.5 * (1 + Math.cos((Math.PI * s) / Math.max(decaySteps, 1)));
    const alpha = config.scheduler_decay_lr / peak;
    return (1 - alpha) * cosine + alpha;
  };
  return { warmupSteps, decaySteps, lrAt: (step) => peak * factor(step) };
}

/** Learning rate at `step` (0-based, as torch's LambdaLR counts) of a run of `totalSteps`. */
export function learningRateAt(
  config: Pick<PI0FastConfig, "optimizer_lr" | "scheduler_warmup_steps" | "scheduler_decay_steps" | "scheduler_decay_lr">,
  step: number,
  totalSteps: number,
): number {
  return schedulerFor(config, totalSteps).lrAt(step);
}
