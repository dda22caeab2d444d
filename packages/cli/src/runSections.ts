/**
 * The run sections the cli owns, declared once (STYLE: "Configuration declared once"): the policy's
 * run fields and what `--policy.path` lets change, `dataset`, `tokenizer`, LeRobot's run and dataset
 * flags, `env`/`eval`, `craft eval`'s own fields and the run-level `distributed`/`overwrite`. Each field
 * is its io-ts codec, its default, what an error says it expected, and its one-line meaning; the one
 * run decode (runConfig.ts decodeRun), `--help` and the README flag tables (help.ts,
 * scripts/docs-flags.ts) all read these declarations. The other sections are declared beside their
 * code: the policy model (the policy package's PI0FastConfig codec, policyConfigDocs and
 * policyNestedConfigDocs), trainer (trainConfigDocs, wandbConfigDocs), craft (craftConfigDocs).
 */
import * as E from "fp-ts/lib/Either.js";
import * as t from "io-ts";
import { parseEpisodeList } from "@craft/datasets";
import { decodePI0FastConfig, policyConfigDocs, type PI0FastConfig } from "@craft/policy-pi0fast";

/** One flag of a section: what it accepts, its default, what an error says was expected, what it means. */
export interface SectionField<A> {
  readonly codec: t.Decoder<unknown, A>;
  readonly default: A;
  /** The expected value an error names, when the codec does not phrase its own (`t.failure` message). */
  readonly expected: string;
  readonly doc: string;
  /** How the type reads in the README table. */
  readonly type: string;
}
const field = <A>(spec: SectionField<A>): SectionField<A> => spec;

type Fields = Readonly<Record<string, SectionField<unknown>>>;
export type SectionOf<F extends Fields> = { readonly [K in keyof F]: F[K] extends SectionField<infer A> ? A : never };

/** A path (non-empty string); null or absent is "not given". */
const optionalPath = new t.Type<string | null, string | null, unknown>(
  "path | null",
  (u): u is string | null => u === null || (typeof u === "string" && u.length > 0),
  (u, c) => (u === null || (typeof u === "string" && u.length > 0) ? t.success(u) : t.failure(u, c)),
  t.identity,
);

/** Strings as a JSON list, or comma-separated on the command line; null is the empty list. */
const stringList = new t.Type<readonly string[], readonly string[], unknown>(
  "string[]",
  (u): u is readonly string[] => Array.isArray(u) && u.every((v) => typeof v === "string"),
  (u, c) => {
    if (u === null) return t.success([]);
    if (typeof u === "string") return t.success(u.split(",").map((s) => s.trim()).filter(Boolean));
    return Array.isArray(u) && u.every((v) => typeof v === "string") ? t.success(u as string[]) : t.failure(u, c);
  },
  t.identity,
);

/** LeRobot's `--dataset.episodes`: a list of episode indices (datasets' parseEpisodeList says what it expected). */
const episodeList = new t.Type<readonly number[] | null, readonly number[] | null, unknown>(
  "int[] | null",
  (u): u is readonly number[] | null => u === null || (Array.isArray(u) && u.every(Number.isInteger)),
  (u, c) => {
    const parsed = parseEpisodeList(u);
    return E.isLeft(parsed) ? t.failure(u, c, `expected ${parsed.left.expected}, got ${parsed.left.actual}`) : t.success(parsed.right);
  },
  t.identity,
);

const positive = (integer: boolean) =>
  new t.Type<number, number, unknown>(
    integer ? "positive integer" : "positive number",
    (u): u is number => typeof u === "number" && u > 0 && (!integer || Number.isInteger(u)),
    (u, c) => (typeof u === "number" && u > 0 && (!integer || Number.isInteger(u)) ? t.success(u) : t.failure(u, c)),
    t.identity,
  );

/** `--dataset.*`: where the frames come from (LeRobot's DatasetConfig names). */
export const DATASET_FIELDS = {
  root: field({ codec: optionalPath, default: null, expected: "a path (string)", type: "path", doc: "a local LeRobot dataset directory (v2.1 or v3.0)" }),
  repo_id: field({ codec: optionalPath, default: null, expected: "a path (string)", type: "ORG/NAME", doc: "a Hub dataset, read from the LeRobot/Hugging Face cache (downloaded when missing)" }),
  episodes: field({ codec: episodeList, default: null, expected: "a list of episode indices", type: "int[]", doc: "train on these episodes only (default: all)" }),
  exclude: field({
    codec: stringList,
    default: [],
    expected: 'a list of strings such as ["observation.images.top"]',
    type: "string[]",
    doc: "feature keys to leave out, e.g. cameras whose videos you do not have",
  }),
  stats_roots: field({
    codec: stringList,
    default: [],
    expected: 'a list of paths such as ["data/reach_blue"]',
    type: "path[]",
    doc: "more datasets whose statistics the normaliser (and a fitted FAST tokenizer) must cover",
  }),
} as const;

/** `--tokenizer.*`: the FAST action tokenizer of a new policy. */
export const TOKENIZER_FIELDS = {
  path: field({ codec: optionalPath, default: null, expected: "a path (string)", type: "path", doc: "a fitted FAST tokenizer (craft tokenizer fit); absent: fit one on the training dataset at start" }),
  vocab_size: field({ codec: positive(true), default: 1024, expected: "a positive integer", type: "int", doc: "BPE vocabulary size of a tokenizer fitted at start" }),
  scale: field({ codec: positive(false), default: 10, expected: "a positive number", type: "number", doc: "DCT coefficient scale before rounding (FAST's scale) of a tokenizer fitted at start" }),
} as const;

const nonNegativeInt = new t.Type<number, number, unknown>(
  "non-negative integer",
  (u): u is number => typeof u === "number" && Number.isInteger(u) && u >= 0,
  (u, c) => (typeof u === "number" && Number.isInteger(u) && u >= 0 ? t.success(u) : t.failure(u, c)),
  t.identity,
);

/** A JSON object of strings (LeRobot's `rename_map`). */
const renameMap = t.record(t.string, t.string, "{[key]: key}");

/** LeRobot's run-level flags (TrainPipelineConfig, configs/train.py) that craft accepts so its command lines run unchanged. */
export const LEROBOT_FIELDS = {
  job_name: field({ codec: t.union([t.null, t.refinement(t.string, (s) => s !== "")]), default: null as string | null, expected: "a name", type: "string", doc: "the run's name (LeRobot's job_name); accepted, craft names runs by output_dir" }),
  rename_map: field({
    codec: renameMap,
    default: {} as Readonly<Record<string, string>>,
    expected: 'a JSON object of key renames such as {"observation.images.top":"observation.images.front"}',
    type: "object",
    doc: "observation key in the dataset → key the policy expects",
  }),
  num_workers: field({ codec: t.union([t.null, nonNegativeInt]), default: null as number | null, expected: "a non-negative integer", type: "int", doc: "LeRobot's loader workers; accepted with a notice (frames are read in-process with prefetch)" }),
  eval_freq: field({
    codec: t.union([t.null, nonNegativeInt]),
    default: null as number | null,
    expected: "a non-negative integer",
    type: "int",
    doc: "steps between closed-loop evaluations in --env.type's environment (20000 when an env is given; 0: never)",
  }),
} as const;

/** LeRobot's `--dataset.*` fields (DatasetConfig) that craft accepts beside its own so LeRobot command lines run unchanged. */
export const LEROBOT_DATASET_FIELDS = {
  image_transforms: field({
    codec: t.UnknownRecord as t.Decoder<unknown, Readonly<Record<string, unknown>>>,
    default: {} as Readonly<Record<string, unknown>>,
    expected: "LeRobot's ImageTransformsConfig fields",
    type: "object",
    doc: "LeRobot's image augmentations (--dataset.image_transforms.enable, .max_num_transforms, …); accepted, frames are used as recorded",
  }),
  revision: field({ codec: t.unknown, default: null as unknown, expected: "a Hub revision", type: "string", doc: "LeRobot's dataset revision; accepted, the cached snapshot is read as is" }),
} as const;

/** LeRobot's `--env.*` section: the simulated environment (checked against datasets' makeEnv in envFlags.ts). */
export const ENV_FIELDS = {
  type: field({ codec: t.union([t.null, t.string]), default: null as string | null, expected: "reach | push | two_target", type: "reach \| push \| two_target", doc: "the simulated environment to evaluate in closed loop" }),
  task: field({ codec: t.union([t.null, t.string]), default: null as string | null, expected: "an instruction (a string)", type: "string", doc: "the instruction where the scene has several (two_target: red or blue)" }),
} as const;

/** LeRobot's `--eval.*` section (EvalConfig). */
export const EVAL_FIELDS = {
  n_episodes: field({ codec: positive(true), default: 50, expected: "a positive integer", type: "int", doc: "episodes per evaluation" }),
  batch_size: field({ codec: positive(true), default: 10, expected: "a positive integer", type: "int", doc: "environments run side by side" }),
} as const;

/** `craft eval`'s own flags (LeRobot's lerobot-eval), beside the env/eval sections and the policy, dataset and trainer fields it shares. */
export const EVAL_COMMAND_FIELDS = {
  max_episodes_rendered: field({ codec: nonNegativeInt, default: 10, expected: "a non-negative integer", type: "int", doc: "episodes of a closed-loop evaluation recorded as rollout videos" }),
  max_frames: field({ codec: positive(true), default: 64, expected: "a positive integer", type: "int", doc: "frames evaluated per dataset (loss and decoded-action error)" }),
  output: field({ codec: optionalPath, default: null as string | null, expected: "a path (string)", type: "path", doc: "a JSON file for the dataset evaluation's results" }),
} as const;

/** Run-level flags outside any section. */
export const RUN_FIELDS = {
  distributed: field({
    codec: t.keyof({ off: null, mpi: null, auto: null }),
    default: "auto" as const,
    expected: "one of off, mpi, auto",
    type: "off | mpi | auto",
    doc: "data parallel over MPI ranks: auto when launched by mpiexec, mpi to require it, off for one process",
  }),
  overwrite: field({ codec: t.boolean, default: false, expected: "true or false", type: "bool", doc: "replace the run already in output_dir (otherwise such a directory is refused)" }),
} as const;

/**
 * `--policy.*` as the run reads it, beside PI0FastConfig's own codec (the policy package): where the
 * policy comes from and which policy it is. The model fields themselves are PI0FastConfig's.
 */
export const POLICY_FIELDS = {
  path: field({
    codec: optionalPath,
    default: null as string | null,
    expected: "a path (string)",
    type: "path",
    doc: "a pretrained_model folder, a run's checkpoint or a Hub id ORG/NAME to start from",
  }),
  type: field({
    codec: t.literal("pi0_fast"),
    default: "pi0_fast" as const,
    expected: '"pi0_fast" (the only policy craft-ts ships)',
    type: "pi0_fast",
    doc: policyConfigDocs.type,
  }),
} as const;

/**
 * With `--policy.path` the checkpoint's config.json defines the model; these PI0FastConfig fields
 * may still be given (as LeRobot lets a fine-tune change its training hyper-parameters and device).
 */
export const POLICY_FROM_PATH = {
  fields: ["device", "type", "dtype", "push_to_hub", "repo_id", "private", "tags", "license", "pretrained_revision"],
  prefixes: ["optimizer_", "scheduler_"],
  expected: "only policy.device, policy.optimizer_* and policy.scheduler_* may be overridden",
} as const;

const overridableFromPath = (key: string): boolean =>
  (POLICY_FROM_PATH.fields as readonly string[]).includes(key) || POLICY_FROM_PATH.prefixes.some((p) => key.startsWith(p));

/** The decoded policy section: a checkpoint to start from with its overrides, or a new policy's whole config. */
export interface PolicySection {
  readonly path: string | null;
  /** The new policy's config (preset tiny, then the flags); null with `path` (the checkpoint's config.json, read later). */
  readonly config: PI0FastConfig | null;
  /** The PI0FastConfig flags as given (with `path`: only overridable fields). */
  readonly overrides: Readonly<Record<string, unknown>>;
}

/**
 * Decodes `--policy.*`: the run fields (POLICY_FIELDS), then either every PI0FastConfig field of a
 * new policy (its codec, preset tiny by default) or, with `--policy.path`, only the fields
 * POLICY_FROM_PATH allows. One line per problem, all of them together.
 */
export function decodePolicySection(raw: unknown, prefix = "policy."): E.Either<string[], PolicySection> {
  const input = typeof raw === "object" && raw !== null && !Array.isArray(raw) ? (raw as Record<string, unknown>) : {};
  const { path: _path, ...overrides } = input;
  const source = decodeSection({ path: POLICY_FIELDS.path }, input, prefix);
  const kind = decodeSection({ type: POLICY_FIELDS.type }, input, prefix);
  const problems = [source, kind].flatMap((d) => (E.isLeft(d) ? d.left : []));
  if (E.isLeft(source)) return E.left(problems);
  const path = source.right.path;
  let config: PI0FastConfig | null = null;
  if (path === null) {
    // A bad type is reported once, by its declaration above.
    const { type: _type, ...fields } = overrides;
    const decoded = decodePI0FastConfig({ preset: "tiny", ...(E.isRight(kind) ? overrides : fields) }, prefix);
    if (E.isLeft(decoded)) problems.push(...decoded.left);
    else config = decoded.right;
  } else {
    for (const key of Object.keys(overrides)) {
      if (!overridableFromPath(key)) {
        problems.push(`${prefix}${key}: cannot be changed with --policy.path (the checkpoint's config.json defines the model); ${POLICY_FROM_PATH.expected}`);
      }
    }
  }
  return problems.length > 0 ? E.left(problems) : E.right({ path, config, overrides });
}

export type DatasetSection = SectionOf<typeof DATASET_FIELDS>;
export type TokenizerSection = SectionOf<typeof TOKENIZER_FIELDS>;
export type RunSection = SectionOf<typeof RUN_FIELDS>;

/**
 * Decodes one section from its nested flags, filling defaults; each problem is one line naming
 * `<prefix><field>`, what was expected and what was given. Keys outside the section are left to
 * the unknown-flag check.
 */
export function decodeSection<F extends Fields>(fields: F, raw: unknown, prefix: string): E.Either<string[], SectionOf<F>> {
  const input = typeof raw === "object" && raw !== null && !Array.isArray(raw) ? (raw as Record<string, unknown>) : {};
  const problems: string[] = [];
  const out: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(fields)) {
    const value = input[key];
    if (value === undefined) {
      out[key] = spec.default;
      continue;
    }
    const decoded = spec.codec.decode(value);
    if (E.isRight(decoded)) out[key] = decoded.right;
    else problems.push(`${prefix}${key}: ${decoded.left[0]?.message ?? `expected ${spec.expected}, got ${JSON.stringify(value)}`}`);
  }
  return problems.length > 0 ? E.left(problems) : E.right(out as SectionOf<F>);
}

/** One row per flag of a section: name, type, default and meaning (for --help and the README tables). */
export interface FlagDoc {
  readonly flag: string;
  readonly type: string;
  readonly default: unknown;
  readonly doc: string;
}

export const sectionDocs = (fields: Fields, prefix: string): FlagDoc[] =>
  Object.entries(fields).map(([key, spec]) => ({ flag: `${prefix}${key}`, type: spec.type, default: spec.default, doc: spec.doc }));
