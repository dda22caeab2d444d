import * as E from "fp-ts/lib/Either.js";
import * as t from "io-ts";
import type { EpsilonScheduleKind } from "./epsilon.js";
import type { MergeKind } from "./merge.js";
import type { SurgeryKind } from "./surgery.js";

export type LambdaUpdateKind = "dual_ascent" | "pid";
export type RetentionLossKind = "replay" | "distill";

/** CRaFT settings, named as LeRobot-style `--craft.<field>` flags. */
export interface CraftConfig {
  /** Train with the retention constraint (`craft train --craft.enable=true`). */
  readonly enable: boolean;
  readonly initial_lambda: number;
  /** η_λ of dual ascent. */
  readonly lambda_lr: number;
  readonly lambda_max: number;
  readonly lambda_update: LambdaUpdateKind;
  readonly pid_kp: number;
  readonly pid_ki: number;
  readonly pid_kd: number;
  /** EMA factor for the retention loss fed to the λ update; 0 = no smoothing. */
  readonly lambda_ema: number;
  readonly epsilon_schedule: EpsilonScheduleKind;
  readonly epsilon_start: number;
  readonly epsilon_end: number;
  /** Steps of decay after warmup; null = the run's total steps. */
  readonly epsilon_decay_steps: number | null;
  readonly epsilon_warmup_steps: number;
  readonly surgery: SurgeryKind;
  readonly merge: MergeKind;
  /** Recompute the retention gradient every k steps and reuse it in between. */
  readonly retention_freq: number;
  readonly anchor_dataset_path: string | null;
  /** null = the task batch size. */
  readonly anchor_batch_size: number | null;
  readonly retention_loss: RetentionLossKind;
}

export const defaultCraftConfig: CraftConfig = {
  enable: false,
  initial_lambda: 1.0,
  lambda_lr: 0.01,
  lambda_max: 100,
  lambda_update: "dual_ascent",
  // With K_p = K_d = 0 and K_i = lambda_lr's default, PID starts out as plain dual ascent.
  pid_kp: 0,
  pid_ki: 0.01,
  pid_kd: 0,
  lambda_ema: 0,
  epsilon_schedule: "linear",
  epsilon_start: 1.0,
  epsilon_end: 0.1,
  epsilon_decay_steps: null,
  epsilon_warmup_steps: 0,
  surgery: "project_task",
  merge: "sum",
  retention_freq: 1,
  anchor_dataset_path: null,
  anchor_batch_size: null,
  retention_loss: "replay",
};

/** How a value looks in an error message: strings quoted, everything else as JSON would write it. */
export const showValue = (value: unknown): string => {
  if (value === undefined) return "undefined";
  if (typeof value === "number") return String(value);
  if (typeof value === "function") return "a function";
  try {
    const json = JSON.stringify(value);
    return json.length > 80 ? `${json.slice(0, 77)}...` : json;
  } catch {
    return String(value);
  }
};

/** A field: the io-ts codec of its type (whose name is what the error says is expected) and a range check. */
interface FieldSpec {
  readonly codec: t.Mixed;
  /** Returns what was expected when the well-typed value is out of range. */
  readonly check?: (value: never) => string | undefined;
}

const finite = (value: number): string | undefined => (Number.isFinite(value) ? undefined : "finite number");
const atLeast =
  (lo: number, what = "number") =>
  (value: number): string | undefined =>
    finite(value) ?? (value >= lo ? undefined : `${what} ≥ ${lo}`);
const positive = (value: number): string | undefined => finite(value) ?? (value > 0 ? undefined : "number > 0");
const integerAtLeast =
  (lo: number) =>
  (value: number | null): string | undefined =>
    value === null || (Number.isInteger(value) && value >= lo) ? undefined : `integer ≥ ${lo}`;

const literals = <K extends string>(...keys: readonly K[]): t.KeyofC<{ [k in K]: null }> =>
  t.keyof(Object.fromEntries(keys.map((k) => [k, null])) as { [k in K]: null });

const nullableNumber = t.union([t.number, t.null], "number | null");

const fields: { readonly [K in keyof CraftConfig]: FieldSpec } = {
  enable: { codec: t.boolean },
  initial_lambda: { codec: t.number, check: atLeast(0) },
  lambda_lr: { codec: t.number, check: atLeast(0) },
  lambda_max: { codec: t.number, check: positive },
  lambda_update: { codec: literals<LambdaUpdateKind>("dual_ascent", "pid") },
  pid_kp: { codec: t.number, check: atLeast(0) },
  pid_ki: { codec: t.number, check: atLeast(0) },
  pid_kd: { codec: t.number, check: atLeast(0) },
  lambda_ema: {
    codec: t.number,
    check: (v: number) => finite(v) ?? (v >= 0 && v < 1 ? undefined : "number in [0, 1)"),
  },
  epsilon_schedule: { codec: literals<EpsilonScheduleKind>("constant", "linear", "cosine", "exponential") },
  epsilon_start: { codec: t.number, check: atLeast(0) },
  epsilon_end: { codec: t.number, check: atLeast(0) },
  epsilon_decay_steps: { codec: nullableNumber, check: integerAtLeast(0) },
  epsilon_warmup_steps: { codec: t.number, check: integerAtLeast(0) },
  surgery: { codec: literals<SurgeryKind>("none", "project_task", "pcgrad") },
  merge: { codec: literals<MergeKind>("sum", "normalized") },
  retention_freq: { codec: t.number, check: integerAtLeast(1) },
  anchor_dataset_path: {
    codec: t.union([t.string, t.null], "string | null"),
    check: (v: string | null) => (v === "" ? "non-empty path or null" : undefined),
  },
  anchor_batch_size: { codec: nullableNumber, check: integerAtLeast(1) },
  retention_loss: { codec: literals<RetentionLossKind>("replay", "distill") },
};

export const craftConfigFields: readonly (keyof CraftConfig)[] = Object.keys(fields) as (keyof CraftConfig)[];

const editDistance = (a: string, b: string): number => {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length];
};

const unknownFieldMessage = (path: string, key: string): string => {
  const closest = craftConfigFields
    .map((field) => ({ field, distance: editDistance(key, field) }))
    .sort((x, y) => x.distance - y.distance)[0];
  const hint =
    closest.distance <= Math.max(2, Math.floor(key.length / 3))
      ? `did you mean ${path}.${closest.field}?`
      : `known fields: ${craftConfigFields.join(", ")}`;
  return `${path}.${key}: unknown field (${hint})`;
};

/** Cross-field rules, checked once every field is well-typed and in range. */
const crossFieldErrors = (config: CraftConfig, path: string): string[] => {
  const errors: string[] = [];
  if (config.initial_lambda > config.lambda_max) {
    errors.push(
      `${path}.initial_lambda: expected number in [0, lambda_max=${config.lambda_max}], got ${config.initial_lambda}`,
    );
  }
  if (config.epsilon_schedule === "exponential") {
    for (const key of ["epsilon_start", "epsilon_end"] as const) {
      if (!(config[key] > 0)) {
        errors.push(`${path}.${key}: expected number > 0 for epsilon_schedule "exponential", got ${config[key]}`);
      }
    }
  }
  return errors;
};

/**
 * Decode an untrusted object (parsed JSON, CLI overrides) into a CraftConfig, filling defaults.
 * Every problem is reported, each naming its field path, e.g.
 * `craft.epsilon_end: expected number, got "x"`.
 */
export const decodeCraftConfig = (input: unknown, path = "craft"): E.Either<string[], CraftConfig> => {
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    return E.left([`${path}: expected object, got ${showValue(input)}`]);
  }
  const record = input as Record<string, unknown>;
  const errors: string[] = [];
  for (const key of Object.keys(record)) {
    if (!Object.prototype.hasOwnProperty.call(fields, key)) errors.push(unknownFieldMessage(path, key));
  }
  const decoded: Record<string, unknown> = {};
  for (const key of craftConfigFields) {
    const raw = Object.prototype.hasOwnProperty.call(record, key) ? record[key] : undefined;
    if (raw === undefined) {
      decoded[key] = defaultCraftConfig[key];
      continue;
    }
    const spec: FieldSpec = fields[key];
    const typed = spec.codec.decode(raw);
    if (E.isLeft(typed)) {
      errors.push(`${path}.${key}: expected ${spec.codec.name}, got ${showValue(raw)}`);
      continue;
    }
    const expected = spec.check?.(typed.right as never);
    if (expected !== undefined) {
      errors.push(`${path}.${key}: expected ${expected}, got ${showValue(raw)}`);
      continue;
    }
    decoded[key] = typed.right;
  }
  if (errors.length > 0) return E.left(errors);
  const config = decoded as unknown as CraftConfig;
  const crossErrors = crossFieldErrors(config, path);
  return crossErrors.length > 0 ? E.left(crossErrors) : E.right(config);
};

/** One readable block for a CLI or an exception. */
export const formatCraftConfigErrors = (errors: readonly string[], source?: string): string =>
  [`invalid CRaFT config${source === undefined ? "" : ` in ${source}`}:`, ...errors.map((e) => `  - ${e}`)].join("\n");

const pathOf = (context: t.Context): string => {
  const keys = context.map((entry) => entry.key).filter((key) => key !== "");
  return keys.length === 0 ? "craft" : keys.join(".");
};

/**
 * io-ts codec for CraftConfig (defaults filled, unknown fields rejected). Each validation error
 * carries its readable message in `message`.
 */
export const CraftConfigCodec: t.Type<CraftConfig, CraftConfig, unknown> = new t.Type<CraftConfig, CraftConfig, unknown>(
  "CraftConfig",
  (u): u is CraftConfig => E.isRight(decodeCraftConfig(u)) && craftConfigFields.every((k) => k in (u as object)),
  (u, context) => {
    const result = decodeCraftConfig(u, pathOf(context));
    return E.isRight(result)
      ? t.success(result.right)
      : t.failures(result.left.map((message) => ({ value: u, context, message })));
  },
  (config) => ({ ...config }),
);

/** Build a config from known-good partial settings; throws the formatted errors otherwise. */
export const makeCraftConfig = (settings: Partial<CraftConfig> = {}): CraftConfig => {
  const result = decodeCraftConfig(settings);
  if (E.isLeft(result)) throw new Error(formatCraftConfigErrors(result.left));
  return result.right;
};
