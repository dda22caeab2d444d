import * as t from "io-ts";
import { type Either, left, right } from "fp-ts/lib/Either.js";

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

export const PresetCodec = t.keyof({ tiny: null, small: null, paligemma_3b: null });
export type Preset = t.TypeOf<typeof PresetCodec>;

const NormModeCodec = t.keyof({ IDENTITY: null, MEAN_STD: null, MIN_MAX: null, QUANTILES: null });

export const PI0FastConfigCodec = t.exact(
  t.type({
    type: t.literal("pi0_fast"),
    preset: PresetCodec,
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
    /** Observation image keys in camera order (`observation.images.*`); empty → one blank camera. */
    image_keys: t.array(t.string),
    vision: VisionConfigCodec,
    decoder: DecoderConfigCodec,
  }),
);
export type PI0FastConfig = t.TypeOf<typeof PI0FastConfigCodec>;

/** LeRobot's defaults (pi0_fast, 2025) with the real PaliGemma-3B widths. */
const LEROBOT_DEFAULTS: Omit<PI0FastConfig, "vision" | "decoder" | "preset"> = {
  type: "pi0_fast",
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
  normalization_mapping: { VISUAL: "IDENTITY", STATE: "QUANTILES", ACTION: "QUANTILES" },
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
  scale_decoder_inputs: true,
  image_keys: [],
};

type PresetDefaults = Partial<Omit<PI0FastConfig, "vision" | "decoder">> &
  Pick<PI0FastConfig, "vision" | "decoder">;

/** Model sizes. `paligemma_3b` is SigLIP So400m/14 at 224 + Gemma-2B (openpi `gemma_2b`). */
export const PRESETS: Readonly<Record<Preset, PresetDefaults>> = {
  tiny: {
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
    vision: { image_size: 112, patch_size: 14, width: 256, depth: 4, mlp_dim: 1024, heads: 4 },
    decoder: { width: 512, depth: 6, mlp_dim: 2048, heads: 8, kv_heads: 1, head_dim: 64, vocab_size: 4096 },
    image_resolution: [112, 112],
    tokenizer_max_length: 96,
    max_action_tokens: 128,
    max_decoding_steps: 128,
  },
  paligemma_3b: {
    vision: { image_size: 224, patch_size: 14, width: 1152, depth: 27, mlp_dim: 4304, heads: 16 },
    decoder: { width: 2048, depth: 18, mlp_dim: 16384, heads: 8, kv_heads: 1, head_dim: 256, vocab_size: 257152 },
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
  const presetRaw = raw.preset ?? "paligemma_3b";
  if (!PresetCodec.is(presetRaw)) {
    errors.push(`${path}preset: expected one of tiny, small, paligemma_3b, got ${describe(presetRaw)}`);
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
  if (decoded._tag === "Left") throw new Error(`invalid pi0_fast config:\n  ${decoded.left.join("\n  ")}`);
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
