import * as E from "fp-ts/lib/Either.js";
import * as t from "io-ts";
import { CraftConfigCodec, defaultCraftConfig } from "@craft/craft-core";

/** A number codec with a predicate; its name is the "expected …" phrase in error messages. */
const numberWhere = (name: string, ok: (n: number) => boolean): t.Type<number, number, unknown> =>
  new t.Type<number, number, unknown>(
    name,
    (u): u is number => typeof u === "number" && ok(u),
    (u, c) => (typeof u === "number" && ok(u) ? t.success(u) : t.failure(u, c)),
    t.identity,
  );

const PositiveInt = numberWhere("a positive integer", (n) => Number.isInteger(n) && n > 0);
const NonNegativeInt = numberWhere("an integer ≥ 0", (n) => Number.isInteger(n) && n >= 0);
const PositiveNumber = numberWhere("a finite number > 0", (n) => Number.isFinite(n) && n > 0);
const NonNegativeNumber = numberWhere("a finite number ≥ 0", (n) => Number.isFinite(n) && n >= 0);
const UnitInterval = numberWhere("a number in [0, 1)", (n) => n >= 0 && n < 1);
const NonEmptyString = new t.Type<string, string, unknown>(
  "a non-empty string",
  (u): u is string => typeof u === "string" && u.length > 0,
  (u, c) => (typeof u === "string" && u.length > 0 ? t.success(u) : t.failure(u, c)),
  t.identity,
);

export const OptimizerConfigCodec = t.type({
  lr: PositiveNumber,
  betas: t.tuple([UnitInterval, UnitInterval]),
  eps: PositiveNumber,
  weight_decay: NonNegativeNumber,
});
/** AdamW hyper-parameters (torch.optim.AdamW semantics: decoupled weight decay). */
export type OptimizerConfig = t.TypeOf<typeof OptimizerConfigCodec>;

export const WandbConfigCodec = t.type({
  enable: t.boolean,
  project: NonEmptyString,
  mode: t.keyof({ online: null, offline: null }),
});
export type WandbConfig = t.TypeOf<typeof WandbConfigCodec>;

/** The trainer's own options; the CLI composes it with the policy and dataset configs. */
export const TrainConfigCodec = t.type({
  steps: PositiveInt,
  batch_size: PositiveInt,
  gradient_accumulation_steps: PositiveInt,
  log_freq: PositiveInt,
  save_freq: PositiveInt,
  seed: NonNegativeInt,
  output_dir: NonEmptyString,
  resume: t.boolean,
  /** Clip the global gradient norm to this value; 0 disables clipping. */
  grad_clip_norm: NonNegativeNumber,
  optimizer: OptimizerConfigCodec,
  /** Stop with an error after this many non-finite steps in a row. */
  max_consecutive_nonfinite: PositiveInt,
  craft: CraftConfigCodec,
  wandb: WandbConfigCodec,
});
export type TrainConfig = t.TypeOf<typeof TrainConfigCodec>;

/** LeRobot's defaults (and pi0-FAST's optimizer preset); `output_dir` has none. */
export const defaultTrainConfig: Omit<TrainConfig, "output_dir"> = {
  steps: 100_000,
  batch_size: 8,
  gradient_accumulation_steps: 1,
  log_freq: 200,
  save_freq: 20_000,
  seed: 1000,
  resume: false,
  grad_clip_norm: 1.0,
  optimizer: { lr: 2.5e-5, betas: [0.9, 0.95], eps: 1e-8, weight_decay: 0.01 },
  max_consecutive_nonfinite: 5,
  craft: defaultCraftConfig,
  wandb: { enable: false, project: "craft-ts", mode: "online" },
};

/** What each trainer field means (LeRobot's TrainPipelineConfig names): the `--help` line beside its default. */
export const trainConfigDocs: { readonly [K in keyof TrainConfig]: string } = {
  steps: "optimizer steps of the run (a resumed run continues to this step)",
  batch_size: "frames per batch (per rank when data parallel)",
  gradient_accumulation_steps: "batches whose mean gradient makes one step",
  log_freq: "steps between metrics lines (metrics.jsonl, progress, wandb)",
  save_freq: "steps between checkpoints (and one at the end)",
  seed: "seed of the policy init, batch order and loss sampling",
  output_dir: "the run directory: train_config.json, metrics.jsonl, checkpoints/",
  resume: "continue the run in output_dir from checkpoints/last",
  grad_clip_norm: "clip the global gradient norm to this value; 0 disables clipping",
  optimizer: "AdamW (set through --policy.optimizer_*)",
  max_consecutive_nonfinite: "stop with an error after this many non-finite steps in a row",
  craft: "CRaFT settings (--craft.*)",
  wandb: "Weights & Biases logging (--wandb.enable, --wandb.project, --wandb.mode)",
};

/** What each `wandb` field means (LeRobot's WandBConfig names): the `--wandb.*` help line beside its default. */
export const wandbConfigDocs: { readonly [K in keyof WandbConfig]: string } = {
  enable: "log metrics to Weights & Biases (needs Python with the wandb package)",
  project: "the wandb project the run is logged to",
  mode: "wandb's mode: online, or offline (synced later with wandb sync)",
};

const isRecord = (u: unknown): u is Record<string, unknown> =>
  typeof u === "object" && u !== null && !Array.isArray(u);

const show = (u: unknown): string => {
  try {
    return u === undefined ? "nothing" : JSON.stringify(u);
  } catch {
    return String(u);
  }
};

/** Fills defaults one level deep for nested groups, so `{optimizer: {lr: 1e-4}}` keeps the other optimizer fields. */
const withDefaults = (input: Record<string, unknown>): Record<string, unknown> => {
  const merged: Record<string, unknown> = { ...defaultTrainConfig, ...input };
  for (const group of ["optimizer", "wandb"] as const) {
    if (isRecord(input[group])) merged[group] = { ...defaultTrainConfig[group], ...input[group] };
  }
  if (input.craft === undefined) merged.craft = {};
  return merged;
};

const unknownFields = (input: Record<string, unknown>, codec: t.InterfaceType<t.Props>, prefix: string): string[] => {
  const errors: string[] = [];
  for (const key of Object.keys(input)) {
    if (!(key in codec.props)) {
      errors.push(`field \`${prefix}${key}\`: unknown field (accepted: ${Object.keys(codec.props).join(", ")})`);
    }
  }
  return errors;
};

/**
 * Validates the trainer's options, filling defaults. Errors name each offending field, what was
 * expected and what was given; unknown fields are errors too.
 */
export const decodeTrainConfig = (input: unknown): E.Either<string[], TrainConfig> => {
  if (!isRecord(input)) return E.left([`train config: expected an object, got ${show(input)}`]);
  const errors = unknownFields(input, TrainConfigCodec, "");
  for (const group of ["optimizer", "wandb"] as const) {
    const value = input[group];
    if (isRecord(value)) errors.push(...unknownFields(value, TrainConfigCodec.props[group] as t.InterfaceType<t.Props>, `${group}.`));
  }
  const merged = withDefaults(input);
  const decoded = TrainConfigCodec.decode(merged);
  if (E.isLeft(decoded)) {
    for (const error of decoded.left) {
      const path = error.context
        .slice(1)
        .map((entry) => entry.key)
        .filter((key) => key !== "")
        .join(".");
      const expected = error.context[error.context.length - 1]?.type.name ?? "a valid value";
      if (error.message !== undefined) {
        errors.push(error.message);
      } else {
        errors.push(`field \`${path}\`: expected ${expected}, got ${show(error.value)}`);
      }
    }
  }
  if (errors.length > 0 || E.isLeft(decoded)) return E.left([...new Set(errors)]);
  return E.right(decoded.right);
};
