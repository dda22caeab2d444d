import { readFileSync } from "node:fs";
import * as E from "fp-ts/lib/Either.js";
import { craftConfigFields } from "@craft/craft-core";
import { decodePI0FastConfig, type PI0FastConfig } from "@craft/policy-pi0fast";
import { decodeTrainConfig, defaultTrainConfig, type TrainConfig } from "@craft/trainer";
import { ConfigError } from "./errors.js";
import { deepMerge, rejectUnknownFlags, toNested, UsageError, type ParsedArgs } from "./flags.js";
import { LEROBOT_TRAIN_FLAGS, decodeLeRobotFlags, type LeRobotRunFlags } from "./lerobotFlags.js";
import { ENV_EVAL_DEFAULTS, ENV_EVAL_FLAGS, decodeEnvEvalSections, type EnvEvalSpec } from "./envFlags.js";
import {
  DATASET_FIELDS,
  LEROBOT_FIELDS,
  RUN_FIELDS,
  TOKENIZER_FIELDS,
  decodePolicySection,
  decodeSection,
  sectionDocs,
  type DatasetSection,
  type PolicySection,
  type TokenizerSection,
} from "./runSections.js";

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
 * A nested configuration (flags and `--config_path` merged, or the typed values a pipeline step
 * builds) → a validated run, by the one decode (decodeRun); every problem together in one
 * ConfigError, the notices on stderr.
 */
export function runConfigFrom(nested: Readonly<Record<string, unknown>>, command: string, options: { craft: boolean }): RunConfig {
  const decoded = decodeRun(nested, command, options);
  if (E.isLeft(decoded)) throw new ConfigError(decoded.left);
  const run = decoded.right;
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

/** Top-level keys the sections other than the trainer's own claim (the trainer decodes the rest). */
const NON_TRAINER_KEYS = new Set(["policy", "dataset", "tokenizer", "craft", "config_path", "env", "eval", ...Object.keys(RUN_FIELDS), ...Object.keys(LEROBOT_FIELDS)]);

/** Problems of every section in section order, or the values of all of them (applicative: nothing short-circuits). */
function allSections<T extends Record<string, E.Either<string[], unknown>>>(
  sections: T,
): E.Either<string[], { [K in keyof T]: T[K] extends E.Either<string[], infer A> ? A : never }> {
  const problems = Object.values(sections).flatMap((s) => (E.isLeft(s) ? s.left : []));
  if (problems.length > 0) return E.left(problems);
  return E.right(Object.fromEntries(Object.entries(sections).map(([k, s]) => [k, (s as E.Right<unknown>).right])) as never);
}

/** The trainer section (trainer fields, craft, wandb; AdamW from the policy's optimizer_* fields), one decode by the trainer's codec. */
function decodeTrainerSection(nested: Readonly<Record<string, unknown>>, policy: E.Either<string[], PolicySection>, command: string, options: { craft: boolean }) {
  const trainerFlags = Object.fromEntries(Object.entries(nested).filter(([k]) => !NON_TRAINER_KEYS.has(k)));
  const given = E.isRight(policy) ? policy.right.overrides : isRecord(nested.policy) ? nested.policy : {};
  const config = E.isRight(policy) ? policy.right.config : null;
  const pick = <K extends keyof PI0FastConfig>(k: K): PI0FastConfig[K] => ((given as Partial<PI0FastConfig>)[k] ?? config?.[k] ?? DEFAULT_POLICY[k]) as PI0FastConfig[K];
  const craftInput = isRecord(nested.craft) ? { ...nested.craft } : nested.craft;
  if (options.craft && isRecord(craftInput)) craftInput.enable = true;
  return decodeTrainConfig({
    ...trainerFlags,
    output_dir: trainerFlags.output_dir ?? defaultOutputDir(command),
    grad_clip_norm: pick("optimizer_grad_clip_norm"),
    optimizer: { lr: pick("optimizer_lr"), betas: pick("optimizer_betas"), eps: pick("optimizer_eps"), weight_decay: pick("optimizer_weight_decay") },
    craft: craftInput ?? (options.craft ? { enable: true } : undefined),
  });
}

const defaultOutputDir = (name: string) => `outputs/train/${new Date().toISOString().replace(/[:.]/g, "-")}_${name}`;

/** Rules across sections, checked on those that decoded (a missing dataset is reported beside a bad flag). */
function crossSectionProblems(dataset: E.Either<string[], DatasetSection>, train: E.Either<string[], TrainConfig>): string[] {
  const problems: string[] = [];
  if (E.isRight(dataset) && dataset.right.root === null && dataset.right.repo_id === null) {
    problems.push("dataset.root: expected a LeRobot dataset directory (or --dataset.repo_id=<owner/name> in the LeRobot cache), got nothing");
  }
  if (E.isRight(train) && train.right.craft.enable && train.right.craft.anchor_dataset_path === null && train.right.steps > 1) {
    problems.push("craft.anchor_dataset_path: expected the anchor dataset (or anchor cache) holding the skill to retain, got nothing");
  }
  return problems;
}

/**
 * The one decode of a nested configuration: each section by its declaration, in section order
 * (policy, dataset, tokenizer, run-level and LeRobot's run flags, trainer with craft and wandb, env/eval),
 * then the rules across sections; every problem of every section reported together. The craft
 * section is decoded once, by the trainer's codec (TrainConfigCodec.craft). `craft train
 * --craft.enable=true` becomes a CRaFT run here, after decoding, like `craft train-craft`.
 */
export function decodeRun(nested: Readonly<Record<string, unknown>>, command: string, options: { craft: boolean }): E.Either<string[], RunConfig> {
  const policy = decodePolicySection(nested.policy);
  const sections = {
    policy,
    dataset: decodeSection(DATASET_FIELDS, nested.dataset, "dataset."),
    tokenizer: decodeSection(TOKENIZER_FIELDS, nested.tokenizer, "tokenizer."),
    run: decodeSection(RUN_FIELDS, nested, ""),
    lerobot: decodeLeRobotFlags(nested, policy),
    train: decodeTrainerSection(nested, policy, command, options),
    env: decodeEnvEvalSections(nested),
  };
  const cross = crossSectionProblems(sections.dataset, sections.train);
  const decoded = allSections(sections);
  if (E.isLeft(decoded) || cross.length > 0) return E.left([...(E.isLeft(decoded) ? decoded.left : []), ...cross]);
  const { policy: p, dataset, tokenizer, run, lerobot, env } = decoded.right;
  let train = decoded.right.train;
  // `craft train --craft.enable=true` is a CRaFT run: named so in its record and default directory.
  const effectiveCommand = train.craft.enable && command === "train" ? "train-craft" : command;
  if (nested.output_dir === undefined && effectiveCommand !== command) train = { ...train, output_dir: defaultOutputDir(effectiveCommand) };
  return E.right({
    command: effectiveCommand,
    policyPath: p.path,
    policy: p.config,
    policyOverrides: p.overrides,
    dataset: { ...dataset, rename_map: lerobot.rename_map },
    tokenizer,
    distributed: run.distributed,
    overwrite: run.overwrite,
    train,
    lerobot,
    env,
  });
}

