import * as E from "fp-ts/lib/Either.js";
import * as t from "io-ts";
import type { EpsilonScheduleKind } from "./epsilon.js";
import { CraftError } from "./errors.js";
import type { MergeKind } from "./merge.js";
import type { SurgeryKind } from "./surgery.js";

export type LambdaUpdateKind = "dual_ascent" | "pid";
export type RetentionLossKind = "replay" | "distill";

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

/**
 * One field of the craft section: its io-ts codec (whose name is what an error says is expected),
 * its default, what it means (the `--help` and README line) and a range check.
 */
interface Field<C extends t.Mixed> {
  readonly codec: C;
  readonly default: t.TypeOf<C>;
  readonly doc: string;
  /** Returns what was expected when the well-typed value is out of range. */
  readonly check?: (value: never) => string | undefined;
}
const field = <C extends t.Mixed>(spec: Field<C>): Field<C> => spec;

/** The craft section, declared once: `--craft.<field>` flags, `train_config.json`'s `craft`, the defaults. */
const FIELDS = {
  enable: field({ codec: t.boolean, default: false, doc: "train with the retention constraint (`craft train --craft.enable=true` is `craft train-craft`)" }),
  initial_lambda: field({ codec: t.number, default: 1.0, doc: "λ at step 0", check: atLeast(0) }),
  lambda_lr: field({ codec: t.number, default: 0.01, doc: "η_λ of dual ascent: λ ← clip(λ + η_λ (L_retain − ε), 0, lambda_max)", check: atLeast(0) }),
  lambda_max: field({ codec: t.number, default: 100, doc: "upper bound of λ", check: positive }),
  lambda_update: field({ codec: literals<LambdaUpdateKind>("dual_ascent", "pid"), default: "dual_ascent", doc: "λ update rule: dual_ascent or pid" }),
  pid_kp: field({ codec: t.number, default: 0, doc: "PID λ update: proportional gain", check: atLeast(0) }),
  // With K_p = K_d = 0 and K_i = lambda_lr's default, PID starts out as plain dual ascent.
  pid_ki: field({ codec: t.number, default: 0.01, doc: "PID λ update: integral gain", check: atLeast(0) }),
  pid_kd: field({ codec: t.number, default: 0, doc: "PID λ update: derivative gain", check: atLeast(0) }),
  lambda_ema: field({
    codec: t.number,
    default: 0,
    doc: "EMA factor of the retention loss fed to the λ update; 0 = no smoothing",
    check: (v: number) => finite(v) ?? (v >= 0 && v < 1 ? undefined : "number in [0, 1)"),
  }),
  epsilon_schedule: field({
    codec: literals<EpsilonScheduleKind>("constant", "linear", "cosine", "exponential"),
    default: "linear",
    doc: "how ε moves from epsilon_start to epsilon_end: constant, linear, cosine or exponential",
  }),
  epsilon_start: field({ codec: t.number, default: 1.0, doc: "ε, the bound on the anchor loss, at the start of the decay", check: atLeast(0) }),
  epsilon_end: field({ codec: t.number, default: 0.1, doc: "ε at the end of the decay", check: atLeast(0) }),
  epsilon_decay_steps: field({ codec: nullableNumber, default: null, doc: "steps of decay after warmup; null = the run's total steps", check: integerAtLeast(0) }),
  epsilon_warmup_steps: field({ codec: t.number, default: 0, doc: "steps ε stays at epsilon_start", check: integerAtLeast(0) }),
  surgery: field({ codec: literals<SurgeryKind>("none", "project_task", "pcgrad"), default: "project_task", doc: "gradient surgery on conflict: none, project_task or pcgrad" }),
  merge: field({ codec: literals<MergeKind>("sum", "normalized"), default: "sum", doc: "how the task and λ-weighted retention gradients combine: sum or normalized" }),
  retention_freq: field({ codec: t.number, default: 1, doc: "recompute the retention gradient every k steps and reuse it in between", check: integerAtLeast(1) }),
  anchor_dataset_path: field({
    codec: t.union([t.string, t.null], "string | null"),
    default: null,
    doc: "the anchor set: a LeRobot dataset or an anchor cache holding the skill to retain",
    check: (v: string | null) => (v === "" ? "non-empty path or null" : undefined),
  }),
  anchor_batch_size: field({ codec: nullableNumber, default: null, doc: "anchor frames per retention batch; null = the task batch size", check: integerAtLeast(1) }),
  retention_loss: field({ codec: literals<RetentionLossKind>("replay", "distill"), default: "replay", doc: "retention loss: replay (anchor token loss) or distill (KL to the anchor cache's teacher outputs)" }),
};

/** CRaFT settings, named as LeRobot-style `--craft.<field>` flags: derived from the field table. */
export type CraftConfig = { readonly [K in keyof typeof FIELDS]: t.TypeOf<(typeof FIELDS)[K]["codec"]> };

export const defaultCraftConfig: CraftConfig = Object.fromEntries(Object.entries(FIELDS).map(([k, f]) => [k, f.default])) as CraftConfig;

/** Each field's name, expected type, default and meaning, in declaration order: for `--help` and README tables. */
export const craftConfigDocs: readonly { readonly name: keyof CraftConfig; readonly type: string; readonly default: unknown; readonly doc: string }[] = (
  Object.keys(FIELDS) as (keyof CraftConfig)[]
).map((name) => ({ name, type: FIELDS[name].codec.name, default: FIELDS[name].default, doc: FIELDS[name].doc }));

export const craftConfigFields: readonly (keyof CraftConfig)[] = Object.keys(FIELDS) as (keyof CraftConfig)[];

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

/** One problem of a craft section: the field path, what was expected there, what was found, and its line. */
interface ConfigProblem {
  readonly field: string;
  readonly expected: string;
  readonly actual?: string;
  readonly text: string;
}
const problem = (field: string, expected: string, actual: string): ConfigProblem => ({
  field,
  expected,
  actual,
  text: `${field}: expected ${expected}, got ${actual}`,
});

const unknownField = (path: string, key: string): ConfigProblem => {
  const closest = craftConfigFields
    .map((field) => ({ field, distance: editDistance(key, field) }))
    .sort((x, y) => x.distance - y.distance)[0];
  const hint =
    closest.distance <= Math.max(2, Math.floor(key.length / 3))
      ? `did you mean ${path}.${closest.field}?`
      : `known fields: ${craftConfigFields.join(", ")}`;
  return { field: `${path}.${key}`, expected: `one of ${craftConfigFields.join(", ")}`, text: `${path}.${key}: unknown field (${hint})` };
};

/** Cross-field rules, checked once every field is well-typed and in range. */
const crossFieldErrors = (config: CraftConfig, path: string): ConfigProblem[] => {
  const errors: ConfigProblem[] = [];
  if (config.initial_lambda > config.lambda_max) {
    errors.push(problem(`${path}.initial_lambda`, `number in [0, lambda_max=${config.lambda_max}]`, String(config.initial_lambda)));
  }
  if (config.epsilon_schedule === "exponential") {
    for (const key of ["epsilon_start", "epsilon_end"] as const) {
      if (!(config[key] > 0)) {
        errors.push(problem(`${path}.${key}`, `number > 0 for epsilon_schedule "exponential"`, String(config[key])));
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
export const decodeCraftConfig = (input: unknown, path = "craft"): E.Either<string[], CraftConfig> =>
  E.mapLeft((problems: ConfigProblem[]) => problems.map((p) => p.text))(craftConfigProblems(input, path));

const craftConfigProblems = (input: unknown, path: string): E.Either<ConfigProblem[], CraftConfig> => {
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    return E.left([problem(path, "object", showValue(input))]);
  }
  const record = input as Record<string, unknown>;
  const errors: ConfigProblem[] = [];
  for (const key of Object.keys(record)) {
    if (!Object.prototype.hasOwnProperty.call(FIELDS, key)) errors.push(unknownField(path, key));
  }
  const decoded: Record<string, unknown> = {};
  for (const key of craftConfigFields) {
    const raw = Object.prototype.hasOwnProperty.call(record, key) ? record[key] : undefined;
    if (raw === undefined) {
      decoded[key] = defaultCraftConfig[key];
      continue;
    }
    const spec: Field<t.Mixed> = FIELDS[key];
    const typed = spec.codec.decode(raw);
    if (E.isLeft(typed)) {
      errors.push(problem(`${path}.${key}`, spec.codec.name, showValue(raw)));
      continue;
    }
    const expected = spec.check?.(typed.right as never);
    if (expected !== undefined) {
      errors.push(problem(`${path}.${key}`, expected, showValue(raw)));
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

/** Build a config from known-good partial settings; throws a CraftError (InvalidConfig) listing every problem otherwise. */
export const makeCraftConfig = (settings: Partial<CraftConfig> = {}): CraftConfig => {
  const result = craftConfigProblems(settings, "craft");
  if (E.isLeft(result)) {
    const [first] = result.left;
    throw new CraftError("InvalidConfig", {
      field: first.field,
      expected: first.expected,
      actual: first.actual,
      message: formatCraftConfigErrors(result.left.map((p) => p.text)),
    });
  }
  return result.right;
};
