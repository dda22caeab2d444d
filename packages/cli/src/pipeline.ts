import { existsSync } from "node:fs";
import { join } from "node:path";
import type { CraftConfig } from "@craft/craft-core";
import { buildAnchorCache, deltaTimestampsForChunk, readInfo, type LeRobotDataset } from "@craft/datasets";
import { loadPi0FastPolicy, type Pi0FastPolicy } from "@craft/policy-pi0fast";
import { trainWithConfig } from "./commands/train.js";
import { evaluateOn, type EvaluationReport } from "./evaluation.js";
import { completedSteps } from "./outputDir.js";
import { runConfigFrom, type RunConfig } from "./runConfig.js";
import { openAnchors } from "./datasetSetup.js";
import { resolvePretrainedDir } from "./policySetup.js";

/**
 * The retention pipeline the quickstart and `craft experiment retention` share, as typed steps:
 * base training, anchor cache, ε from the base's anchor loss, fine-tuning, evaluation.
 */

/**
 * ε_end = 1.2 × the base policy's own anchor loss: CRaFT may let the retained skill's loss rise by
 * 20% — room for the new task — but no more; a bound below the base's loss would be infeasible.
 */
export const EPSILON_END_FACTOR = 1.2;
/** ε_start = 1.5 × the base's anchor loss: a looser bound while the task gradient is largest, tightening to ε_end. */
export const EPSILON_START_FACTOR = 1.5;

/** Learning rates of one training: AdamW's peak, the cosine schedule's floor, its warmup. */
export interface LearningRates {
  readonly peak: number;
  readonly decayTo: number;
  readonly warmupSteps?: number;
}

/** One training, in typed values: from scratch (`policy`) or from a checkpoint (`policyPath`). */
export interface TrainingPlan {
  readonly outputDir: string;
  readonly datasetRoot: string;
  readonly episodes?: readonly number[];
  /** Datasets whose stats the new policy's normaliser and FAST vocabulary must cover too. */
  readonly statsRoots?: readonly string[];
  /** A new pi0-FAST's config fields (nested as in config.json), on top of the tiny preset. */
  readonly policy?: Readonly<Record<string, unknown>>;
  readonly policyPath?: string;
  readonly tokenizer?: { readonly vocab_size?: number };
  readonly steps: number;
  readonly saveFreq: number;
  readonly batchSize: number;
  readonly seed: number;
  readonly logFreq: number;
  readonly device: string;
  readonly lr: LearningRates;
  /** CRaFT settings; absent = plain fine-tuning. */
  readonly craft?: Partial<CraftConfig>;
}

/** A plan → the run configuration `craft train` would decode (the one decode, no flags in between). */
export function runConfigOf(plan: TrainingPlan): RunConfig {
  const policy = {
    ...(plan.policyPath === undefined ? { type: "pi0_fast", preset: "tiny", ...plan.policy } : { path: plan.policyPath }),
    device: plan.device,
    optimizer_lr: plan.lr.peak,
    ...(plan.lr.warmupSteps === undefined ? {} : { scheduler_warmup_steps: plan.lr.warmupSteps }),
    scheduler_decay_lr: plan.lr.decayTo,
  };
  const craft = plan.craft !== undefined;
  return runConfigFrom(
    {
      policy,
      dataset: { root: plan.datasetRoot, ...(plan.episodes ? { episodes: plan.episodes } : {}), ...(plan.statsRoots ? { stats_roots: plan.statsRoots } : {}) },
      ...(plan.tokenizer ? { tokenizer: plan.tokenizer } : {}),
      batch_size: plan.batchSize,
      seed: plan.seed,
      log_freq: plan.logFreq,
      steps: plan.steps,
      save_freq: plan.saveFreq,
      output_dir: plan.outputDir,
      resume: existsSync(join(plan.outputDir, "checkpoints", "last")),
      ...(craft ? { craft: plan.craft } : {}),
    },
    craft ? "train-craft" : "train",
    { craft },
  );
}

/** Trains the plan unless its directory already holds that many steps (a re-run skips finished trainings). */
export async function trainStep(plan: TrainingPlan, options: { quiet?: boolean } = {}): Promise<RunConfig> {
  const run = runConfigOf(plan);
  // Resuming a run to its own step count is refused, so a finished one is left as it is.
  if ((await completedSteps(plan.outputDir)) < run.train.steps) await trainWithConfig(run, options);
  return run;
}

/** An anchor cache of `datasetRoot`'s frames at the policy's chunk size, its action window timed by the dataset's fps. */
export async function anchorCacheStep(
  datasetRoot: string,
  cacheDir: string,
  options: { numSamples: number; seed: number; chunkSize: number; episodes?: readonly number[] },
): Promise<void> {
  if (existsSync(join(cacheDir, "anchor_manifest.json"))) return;
  const { fps } = readInfo(datasetRoot).info;
  await buildAnchorCache(datasetRoot, cacheDir, {
    numSamples: options.numSamples,
    seed: options.seed,
    ...(options.episodes ? { episodes: [...options.episodes] } : {}),
    deltaTimestamps: { action: deltaTimestampsForChunk(fps, options.chunkSize) },
  });
}

/** The anchor set of a cache at the policy's chunk size. */
export const openAnchorStep = (cacheDir: string, chunkSize: number): Promise<LeRobotDataset> => openAnchors(cacheDir, chunkSize, []);

export interface EpsilonBounds {
  readonly baseAnchorLoss: number;
  readonly epsilonStart: number;
  readonly epsilonEnd: number;
}

/** ε from the base policy's own loss on the anchor set (token loss only, no decoding). */
export async function epsilonStep(base: Pi0FastPolicy, anchors: LeRobotDataset, options: { batchSize: number; maxFrames: number }): Promise<EpsilonBounds> {
  const { loss } = await evaluateOn(base, anchors, { ...options, decode: false });
  return { baseAnchorLoss: loss, epsilonStart: EPSILON_START_FACTOR * loss, epsilonEnd: EPSILON_END_FACTOR * loss };
}

/** The trained policy of a run directory, measured on each named dataset. */
export async function evaluateStep<K extends string>(
  runDir: string,
  sets: Readonly<Record<K, { dataset: LeRobotDataset; decode?: boolean }>>,
  options: { batchSize: number; maxFrames: number },
): Promise<Record<K, EvaluationReport>> {
  const policy = await loadPi0FastPolicy(resolvePretrainedDir(runDir));
  try {
    const reports = {} as Record<K, EvaluationReport>;
    for (const name of Object.keys(sets) as K[]) {
      const { dataset, decode } = sets[name];
      reports[name] = await evaluateOn(policy, dataset, { ...options, ...(decode === false ? { decode: false } : {}) });
    }
    return reports;
  } finally {
    policy.dispose();
  }
}
