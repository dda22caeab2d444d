import { readFileSync } from "node:fs";
import * as E from "fp-ts/lib/Either.js";
import { craftConfigFields } from "@craft/craft-core";
import { decodePI0FastConfig, type PI0FastConfig } from "@craft/policy-pi0fast";
import { decodeTrainConfig, defaultTrainConfig, type TrainConfig } from "@craft/trainer";
import { ConfigError } from "./errors.js";
import { deepMerge, rejectUnknownFlags, toNested, UsageError, type ParsedArgs } from "./flags.js";
import { LEROBOT_TRAIN_FLAGS, takeLeRobotFlags, type LeRobotRunFlags } from "./lerobotFlags.js";
import { episodesFlag } from "./datasetSetup.js";
import { ENV_EVAL_DEFAULTS, ENV_EVAL_FLAGS, takeEnvEvalFlags, type EnvEvalSpec } from "./envFlags.js";

/** Where the frames come from: a local root, or a repo id resolved in the LeRobot cache. */
export interface DatasetSpec {
  readonly root: string | null;
  readonly repo_id: string | null;
  readonly episodes: readonly number[] | null;
  /** Feature keys to leave out (e.g. cameras whose videos you do not have). */
  readonly exclude: readonly string[];
  /** More datasets whose stats the new policy's normaliser (and FAST tokenizer) must cover, as a base policy trained on a mix would. */
  readonly stats_roots: readonly string[];
  /** LeRobot's `--rename_map`: observation key in the dataset → key the policy expects. */
  readonly rename_map: Readonly<Record<string, string>>;
}

export interface TokenizerSpec {
  /** A fitted FAST tokenizer JSON; absent → fit one on the training dataset at start. */
  readonly path: string | null;
  readonly vocab_size: number;
  readonly scale: number;
}

export type DistributedMode = "off" | "mpi" | "auto";

export interface RunConfig {
  readonly command: string;
  /** A pretrained_model directory (or a run's checkpoint) to start from, as LeRobot's --policy.path. */
  readonly policyPath: string | null;
  /** Resolved policy config (from flags, or the checkpoint's config.json with allowed overrides). */
  readonly policy: PI0FastConfig | null;
  readonly policyOverrides: Record<string, unknown>;
  readonly dataset: DatasetSpec;
  readonly tokenizer: TokenizerSpec;
  readonly distributed: DistributedMode;
  /** Replace the run already in output_dir (its checkpoints and logs), instead of refusing. */
  readonly overwrite: boolean;
  readonly train: TrainConfig;
  /** LeRobot's run-level flags (job_name, rename_map, num_workers, eval_freq, image_transforms, push to Hub). */
  readonly lerobot: LeRobotRunFlags;
  /** LeRobot's `env`/`eval` sections: the simulated environment evaluated every `lerobot.eval_freq` steps; null without --env.type. */
  readonly env: EnvEvalSpec | null;
}

/** Policy fields that may be changed when starting from a checkpoint (training hyper-parameters, device). */
const POLICY_OVERRIDABLE_FROM_PATH = new Set(["device", "type", "dtype", "push_to_hub", "repo_id", "private", "tags", "license", "pretrained_revision"]);
const isTrainingHyperParameter = (k: string) => k.startsWith("optimizer_") || k.startsWith("scheduler_");

const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x);

const DEFAULT_POLICY = (() => {
  const decoded = decodePI0FastConfig({ preset: "tiny" });
  if (E.isLeft(decoded)) throw new Error(decoded.left.join("; "));
  return decoded.right;
})();

const TOKENIZER_DEFAULTS = { vocab_size: 1024, scale: 10 } as const;

const flattenDefaults = (obj: Record<string, unknown>, prefix: string, out: [string, unknown][]): [string, unknown][] => {
  for (const [k, v] of Object.entries(obj)) {
    if (v !== null && typeof v === "object" && !Array.isArray(v)) flattenDefaults(v as Record<string, unknown>, `${prefix}${k}.`, out);
    else out.push([`${prefix}${k}`, v]);
  }
  return out;
};

/** The default of each train flag that has one, read from the section codecs' defaults (for --help). */
export const TRAIN_FLAG_DEFAULTS: ReadonlyMap<string, unknown> = new Map([
  ...flattenDefaults(DEFAULT_POLICY as unknown as Record<string, unknown>, "policy.", []),
  ...flattenDefaults({ ...defaultTrainConfig, craft: {}, optimizer: {} } as unknown as Record<string, unknown>, "", []),
  ...flattenDefaults(TOKENIZER_DEFAULTS, "tokenizer.", []),
  ...flattenDefaults(ENV_EVAL_DEFAULTS, "eval.", []),
  ["distributed", "auto"],
  ["overwrite", false],
]);

/** Every flag `craft train` and `craft train-craft` accept (used for unknown-flag errors and --help). */
export const TRAIN_FLAGS: readonly string[] = [
  "config_path",
  "policy.path",
  ...flattenDefaults(DEFAULT_POLICY as unknown as Record<string, unknown>, "policy.", []).map(([k]) => k),
  "dataset.root",
  "dataset.repo_id",
  "dataset.episodes",
  "dataset.exclude",
  "dataset.stats_roots",
  "tokenizer.path",
  "tokenizer.vocab_size",
  "tokenizer.scale",
  "distributed",
  ...flattenDefaults({ ...defaultTrainConfig, craft: {}, optimizer: {} } as unknown as Record<string, unknown>, "", []).map(([k]) => k).filter(
    (k) => !k.startsWith("craft") && !k.startsWith("optimizer") && k !== "grad_clip_norm",
  ),
  ...craftConfigFields.map((f: string) => `craft.${f}`),
  "output_dir",
  ...LEROBOT_TRAIN_FLAGS,
  ...ENV_EVAL_FLAGS,
  "overwrite",
];

const asStringList = (value: unknown, field: string): string[] => {
  if (value === undefined || value === null) return [];
  if (typeof value === "string") return value.split(",").map((s) => s.trim()).filter(Boolean);
  if (Array.isArray(value) && value.every((v) => typeof v === "string")) return value as string[];
  throw new ConfigError([`${field}: expected a list of strings such as ["observation.images.top"], got ${JSON.stringify(value)}`]);
};

const optionalString = (value: unknown, field: string): string | null => {
  if (value === undefined || value === null) return null;
  if (typeof value === "string" && value.length > 0) return value;
  throw new ConfigError([`${field}: expected a path (string), got ${JSON.stringify(value)}`]);
};

const positiveNumber = (value: unknown, fallback: number, field: string, integer: boolean): number => {
  if (value === undefined) return fallback;
  if (typeof value === "number" && value > 0 && (!integer || Number.isInteger(value))) return value;
  throw new ConfigError([`${field}: expected a positive ${integer ? "integer" : "number"}, got ${JSON.stringify(value)}`]);
};

/** Flags (and an optional --config_path JSON under them) → a validated run configuration. */
export function resolveRunConfig(args: ParsedArgs, command: string, options: { craft: boolean }): RunConfig {
  rejectUnknownFlags(args.flags, TRAIN_FLAGS, command);
  let nested = toNested(args.flags);
  const configPath = nested.config_path;
  if (configPath !== undefined) {
    if (typeof configPath !== "string") throw new UsageError(`--config_path: expected a file path, got ${JSON.stringify(configPath)}`);
    let saved: unknown;
    try {
      saved = JSON.parse(readFileSync(configPath, "utf8"));
    } catch (err) {
      throw new ConfigError([`${configPath}: cannot read a JSON train config (${(err as Error).message})`]);
    }
    if (typeof saved !== "object" || saved === null) throw new ConfigError([`${configPath}: expected a JSON object`]);
    const { config_path: _ignored, ...rest } = nested;
    nested = deepMerge(savedToFlags(saved as Record<string, unknown>), rest);
  }
  return runConfigFrom(nested, command, options);
}

/**
 * The one decode: a nested configuration (flags and `--config_path` merged, or the typed values a
 * pipeline step builds) → a validated run. `craft train --craft.enable=true` becomes a CRaFT run here,
 * after decoding, like `craft train-craft`.
 */
export function runConfigFrom(nested: Readonly<Record<string, unknown>>, command: string, options: { craft: boolean }): RunConfig {
  const run = fromNested(nested, command, options);
  for (const notice of run.lerobot.notices) console.error(`[craft] notice: ${notice}`);
  return run;
}

/** A saved train_config.json has the same shape as the nested flags, plus fields recorded for people. */
function savedToFlags(saved: Record<string, unknown>): Record<string, unknown> {
  const { backend: _b, command: _c, resolved_policy: _rp, world_size: _w, ...rest } = saved;
  const policy = rest.policy as Record<string, unknown> | undefined;
  if (policy && typeof policy === "object") {
    // A resolved policy config is complete; keep it whole so the run rebuilds the same model.
    rest.policy = { ...policy };
  }
  return rest;
}

function fromNested(nested: Record<string, unknown>, command: string, options: { craft: boolean }): RunConfig {
  const problems: string[] = [];
  const policyFlags = { ...((nested.policy as Record<string, unknown>) ?? {}) };
  const policyPath = optionalString(policyFlags.path, "policy.path");
  delete policyFlags.path;
  if (policyFlags.type !== undefined && policyFlags.type !== "pi0_fast") {
    problems.push(`policy.type: expected "pi0_fast" (the only policy craft-ts ships), got ${JSON.stringify(policyFlags.type)}`);
  }
  let policy: PI0FastConfig | null = null;
  if (policyPath === null) {
    const decoded = decodePI0FastConfig({ preset: "tiny", ...policyFlags });
    if (E.isLeft(decoded)) problems.push(...decoded.left);
    else policy = decoded.right;
  } else {
    for (const key of Object.keys(policyFlags)) {
      if (!POLICY_OVERRIDABLE_FROM_PATH.has(key) && !isTrainingHyperParameter(key)) {
        problems.push(
          `policy.${key}: cannot be changed with --policy.path (the checkpoint's config.json defines the model); only policy.device, policy.optimizer_* and policy.scheduler_* may be overridden`,
        );
      }
    }
  }

  const lerobot = takeLeRobotFlags(
    nested,
    { push_to_hub: policyFlags.push_to_hub ?? policy?.push_to_hub, repo_id: policyFlags.repo_id ?? policy?.repo_id, private: policyFlags.private, explicitPush: policyFlags.push_to_hub === true },
    problems,
  );
  const env = takeEnvEvalFlags(nested, problems);
  const datasetFlags = (nested.dataset as Record<string, unknown>) ?? {};
  const dataset: DatasetSpec = {
    root: optionalString(datasetFlags.root, "dataset.root"),
    repo_id: optionalString(datasetFlags.repo_id, "dataset.repo_id"),
    episodes: episodesFlag(datasetFlags.episodes),
    exclude: asStringList(datasetFlags.exclude, "dataset.exclude"),
    stats_roots: asStringList(datasetFlags.stats_roots, "dataset.stats_roots"),
    rename_map: lerobot.rename_map,
  };
  if (dataset.root === null && dataset.repo_id === null) {
    problems.push("dataset.root: expected a LeRobot dataset directory (or --dataset.repo_id=<owner/name> in the LeRobot cache), got nothing");
  }

  const tokFlags = (nested.tokenizer as Record<string, unknown>) ?? {};
  const tokenizer: TokenizerSpec = {
    path: optionalString(tokFlags.path, "tokenizer.path"),
    vocab_size: positiveNumber(tokFlags.vocab_size, TOKENIZER_DEFAULTS.vocab_size, "tokenizer.vocab_size", true),
    scale: positiveNumber(tokFlags.scale, TOKENIZER_DEFAULTS.scale, "tokenizer.scale", false),
  };

  const distributed = (nested.distributed ?? "auto") as DistributedMode;
  if (!["off", "mpi", "auto"].includes(distributed)) {
    problems.push(`distributed: expected one of off, mpi, auto, got ${JSON.stringify(nested.distributed)}`);
  }

  const craftInput = isRecord(nested.craft) ? { ...nested.craft } : nested.craft;
  if (options.craft && isRecord(craftInput)) craftInput.enable = true;

  const hyper = policy ?? (policyFlags as Partial<PI0FastConfig>);
  const pick = <K extends keyof PI0FastConfig>(k: K, d: PI0FastConfig[K]): PI0FastConfig[K] =>
    ((policyFlags as Partial<PI0FastConfig>)[k] ?? (hyper as Partial<PI0FastConfig>)[k] ?? d) as PI0FastConfig[K];
  const overwrite = nested.overwrite ?? false;
  if (typeof overwrite !== "boolean") problems.push(`overwrite: expected true or false, got ${JSON.stringify(overwrite)}`);
  const { policy: _p, dataset: _d, tokenizer: _t, distributed: _x, craft: _c, config_path: _cp, overwrite: _o, ...trainerFlags } = nested;
  const defaultOutputDir = (name: string) => `outputs/train/${new Date().toISOString().replace(/[:.]/g, "-")}_${name}`;
  const decodedTrain = decodeTrainConfig({
    ...trainerFlags,
    output_dir: trainerFlags.output_dir ?? defaultOutputDir(command),
    grad_clip_norm: pick("optimizer_grad_clip_norm", DEFAULT_POLICY.optimizer_grad_clip_norm),
    optimizer: {
      lr: pick("optimizer_lr", DEFAULT_POLICY.optimizer_lr),
      betas: pick("optimizer_betas", DEFAULT_POLICY.optimizer_betas),
      eps: pick("optimizer_eps", DEFAULT_POLICY.optimizer_eps),
      weight_decay: pick("optimizer_weight_decay", DEFAULT_POLICY.optimizer_weight_decay),
    },
    craft: craftInput ?? (options.craft ? { enable: true } : undefined),
  });
  let train: TrainConfig | null = null;
  if (E.isLeft(decodedTrain)) problems.push(...decodedTrain.left);
  else train = decodedTrain.right;

  const craftEnabled = train?.craft.enable === true;
  // `craft train --craft.enable=true` is a CRaFT run: named so in its record and default directory.
  const effectiveCommand = craftEnabled && command === "train" ? "train-craft" : command;
  if (train !== null && trainerFlags.output_dir === undefined && effectiveCommand !== command) train = { ...train, output_dir: defaultOutputDir(effectiveCommand) };
  if (craftEnabled && train !== null && train.craft.anchor_dataset_path === null && train.steps > 1) {
    problems.push("craft.anchor_dataset_path: expected the anchor dataset (or anchor cache) holding the skill to retain, got nothing");
  }
  if (problems.length > 0 || train === null) throw new ConfigError(problems);
  return {
    command: effectiveCommand,
    policyPath,
    policy,
    policyOverrides: policyFlags,
    dataset,
    tokenizer,
    distributed,
    overwrite: overwrite === true,
    train,
    lerobot,
    env,
  };
}
