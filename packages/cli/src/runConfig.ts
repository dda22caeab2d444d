import { readFileSync } from "node:fs";
import * as E from "fp-ts/lib/Either.js";
import { craftConfigFields } from "@craft/craft-core";
import { decodePI0FastConfig, type PI0FastConfig } from "@craft/policy-pi0fast";
import { decodeTrainConfig, defaultTrainConfig, type TrainConfig } from "@craft/trainer";
import { ConfigError } from "./errors.js";
import { deepMerge, rejectUnknownFlags, toNested, UsageError, type ParsedArgs } from "./flags.js";
import { LEROBOT_TRAIN_FLAGS, takeLeRobotFlags, type LeRobotRunFlags } from "./lerobotFlags.js";
import { ENV_EVAL_DEFAULTS, ENV_EVAL_FLAGS, takeEnvEvalFlags, type EnvEvalSpec } from "./envFlags.js";
import { DATASET_FIELDS, RUN_FIELDS, TOKENIZER_FIELDS, decodeSection, sectionDocs, type DatasetSection, type TokenizerSection } from "./runSections.js";

/** Where the frames come from (the `dataset` section, runSections.ts), with LeRobot's `--rename_map`. */
export interface DatasetSpec extends DatasetSection {
  /** LeRobot's `--rename_map`: observation key in the dataset → key the policy expects. */
  readonly rename_map: Readonly<Record<string, string>>;
}

/** The FAST tokenizer of a new policy (the `tokenizer` section, runSections.ts). */
export type TokenizerSpec = TokenizerSection;

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

/** The policy a run without --policy.path builds: the tiny preset with every PI0FastConfig default. */
export const DEFAULT_POLICY: PI0FastConfig = (() => {
  const decoded = decodePI0FastConfig({ preset: "tiny" });
  if (E.isLeft(decoded)) throw new Error(decoded.left.join("; "));
  return decoded.right;
})();


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
  ...[...sectionDocs(DATASET_FIELDS, "dataset."), ...sectionDocs(TOKENIZER_FIELDS, "tokenizer."), ...sectionDocs(RUN_FIELDS, "")]
    .filter((d) => d.default !== null)
    .map((d): [string, unknown] => [d.flag, d.default]),
  ...flattenDefaults(ENV_EVAL_DEFAULTS, "eval.", []),
]);

/** Every flag `craft train` and `craft train-craft` accept (used for unknown-flag errors and --help). */
export const TRAIN_FLAGS: readonly string[] = [
  "config_path",
  "policy.path",
  ...flattenDefaults(DEFAULT_POLICY as unknown as Record<string, unknown>, "policy.", []).map(([k]) => k),
  ...sectionDocs(DATASET_FIELDS, "dataset.").map((d) => d.flag),
  ...sectionDocs(TOKENIZER_FIELDS, "tokenizer.").map((d) => d.flag),
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

const optionalString = (value: unknown, field: string): string | null => {
  if (value === undefined || value === null) return null;
  if (typeof value === "string" && value.length > 0) return value;
  throw new ConfigError([`${field}: expected a path (string), got ${JSON.stringify(value)}`]);
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
  const datasetSection = decodeSection(DATASET_FIELDS, nested.dataset, "dataset.");
  const tokenizerSection = decodeSection(TOKENIZER_FIELDS, nested.tokenizer, "tokenizer.");
  const runSection = decodeSection(RUN_FIELDS, nested, "");
  for (const section of [datasetSection, tokenizerSection, runSection]) if (E.isLeft(section)) problems.push(...section.left);
  const dataset: DatasetSpec | null = E.isRight(datasetSection) ? { ...datasetSection.right, rename_map: lerobot.rename_map } : null;
  if (dataset !== null && dataset.root === null && dataset.repo_id === null) {
    problems.push("dataset.root: expected a LeRobot dataset directory (or --dataset.repo_id=<owner/name> in the LeRobot cache), got nothing");
  }

  const craftInput = isRecord(nested.craft) ? { ...nested.craft } : nested.craft;
  if (options.craft && isRecord(craftInput)) craftInput.enable = true;

  const hyper = policy ?? (policyFlags as Partial<PI0FastConfig>);
  const pick = <K extends keyof PI0FastConfig>(k: K, d: PI0FastConfig[K]): PI0FastConfig[K] =>
    ((policyFlags as Partial<PI0FastConfig>)[k] ?? (hyper as Partial<PI0FastConfig>)[k] ?? d) as PI0FastConfig[K];
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
  if (problems.length > 0 || train === null || dataset === null || E.isLeft(tokenizerSection) || E.isLeft(runSection)) throw new ConfigError(problems);
  return {
    command: effectiveCommand,
    policyPath,
    policy,
    policyOverrides: policyFlags,
    dataset,
    tokenizer: tokenizerSection.right,
    distributed: runSection.right.distributed,
    overwrite: runSection.right.overwrite,
    train,
    lerobot,
    env,
  };
}
