import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { isLeft } from "fp-ts/lib/Either.js";
import * as t from "io-ts";
import type { CraftConfig } from "@craft/craft-core";
import { buildAnchorCache, deltaTimestampsForChunk, makeEnv, readAnchorManifest, readInfo, type LeRobotDataset } from "@craft/datasets";
import { loadPi0FastPolicy, type Pi0FastPolicy } from "@craft/policy-pi0fast";
import { trainWithConfig } from "./commands/train.js";
import { evaluateOn, type EvaluationReport } from "./evaluation.js";
import { completedSteps } from "./outputDir.js";
import { runConfigFrom, type RunConfig } from "./runConfig.js";
import { openAnchors } from "./datasetSetup.js";
import { resolvePretrainedDir } from "./policySetup.js";
import { UsageError } from "./flags.js";
import { checkPolicyMatchesEnv, evaluateInEnv, pi0FastClosedLoop, writeEvalInfo, type EvalInfo } from "./rollout.js";

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

/**
 * CRaFT's bound for the `distill` retention loss, KL(base ‖ policy) per action token on the anchor
 * cache (nats): 0 for the base itself, so the bound is absolute rather than a multiple of the base's
 * loss. Measured on the quickstart's pair (cli README, "What it takes for a policy to act"): the
 * token loss fell below the base's own while the red instruction went to blue, and this bound held the
 * instruction where the token loss did not. η_λ is large because the KL's excess over ε is ≈ 0.01.
 */
export const DISTILL_EPSILON = { start: 0.03, end: 0.01, lambdaLr: 50 } as const;

/**
 * The policy the instruction-conditioned pair is trained with (quickstart and experiment): the tiny
 * preset narrowed to what this task needs and a 2-core CPU can train — 1.07M parameters, a
 * 32-pixel camera cut into 4-pixel patches, chunks of 5 with all 5 executed (LeRobot decodes over
 * n_action_steps, so the two are equal), the whole prompt kept (instruction + state ≈ 60 bytes),
 * and decoder inputs scaled by √width. Measured in the cli README ("What it takes for a policy to
 * act"): with it the loss starts to depend on the camera after ≈ 400 steps of 16; the 4.8M tiny
 * preset on 64-pixel frames still ignored the camera after 200.
 */
export const PAIR_POLICY = {
  image_resolution: [32, 32],
  vision: { image_size: 32, patch_size: 4, width: 64, depth: 1, mlp_dim: 256, heads: 2 },
  decoder: { width: 128, depth: 3, mlp_dim: 512, heads: 2, kv_heads: 1, head_dim: 64, vocab_size: 2048 },
  chunk_size: 5,
  n_action_steps: 5,
  tokenizer_max_length: 72,
  scale_decoder_inputs: true,
} as const;

/**
 * Anchor frames always drawn from each episode's start (`--start_frames`): the first chunk is where
 * the policy commits to a target, decided by the instruction alone (later frames show the arm on
 * its way). Measured on the quick preset's red_to_blue pair (cli README): with 256 anchors drawn
 * uniformly, 5 of them episode starts, CRaFT kept 50% of A; with every episode's first frame among
 * them, 100%.
 */
export const PAIR_ANCHOR_START_FRAMES = 1;

/** Learning rates of one training: AdamW's peak, the cosine schedule's floor, its warmup. */
export interface LearningRates {
  readonly peak: number;
  readonly decayTo: number;
  readonly warmupSteps?: number;
}

/** The schedules PAIR_POLICY is trained with (quickstart and experiment): cosine from 1e-3 to 1e-4 after a short warmup. */
export const PAIR_BASE_LR = { peak: 1e-3, decayTo: 1e-4, warmupSteps: 30 } as const satisfies LearningRates;
export const PAIR_FINETUNE_LR = { peak: 1e-3, decayTo: 1e-4, warmupSteps: 10 } as const satisfies LearningRates;
/**
 * The same schedule at half the rate, for fine-tunings twice as long (the experiment's `full`
 * preset): the same Σ lr over the run in smaller steps. Measured (cli README, point 6 of "What it
 * takes for a policy to act"): from seed 1000's base, 400 CRaFT steps at the full rate decoded
 * chunks to no station and stalled (12/20 red, 7/20 blue), at half the rate 20/20 and 20/20; over
 * the full preset's three seeds it kept A no better (72% against 74%) and raised CRaFT's B (88%
 * against 67%).
 */
export const PAIR_LONG_FINETUNE_LR = { peak: PAIR_FINETUNE_LR.peak / 2, decayTo: PAIR_FINETUNE_LR.decayTo / 2, warmupSteps: PAIR_FINETUNE_LR.warmupSteps } as const satisfies LearningRates;

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
  options: { numSamples: number; seed: number; chunkSize: number; episodes?: readonly number[]; startFrames?: number },
): Promise<void> {
  const startFrames = options.startFrames ?? 0;
  const manifestFile = join(cacheDir, "anchor_manifest.json");
  if (existsSync(manifestFile)) {
    // A re-run reuses the cache, and the trainings that read it, only if it is the same selection.
    const { numSamples, selection } = readAnchorManifest(cacheDir);
    if (numSamples === options.numSamples && (selection.startFrames ?? 0) === startFrames) return;
    throw new UsageError(
      `${manifestFile}: field "selection": expected ${options.numSamples} anchors with start_frames=${startFrames} (this version's), got ${numSamples} with ${selection.startFrames ?? 0}; use a new --output_dir`,
    );
  }
  const { fps } = readInfo(datasetRoot).info;
  await buildAnchorCache(datasetRoot, cacheDir, {
    numSamples: options.numSamples,
    startFrames,
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

/** ε from the base policy's own loss on every frame of the anchor set (token loss only, no decoding). */
export async function epsilonStep(base: Pi0FastPolicy, anchors: LeRobotDataset, options: { batchSize: number }): Promise<EpsilonBounds> {
  const { loss } = await evaluateOn(base, anchors, { ...options, maxFrames: anchors.numFrames, decode: false });
  return { baseAnchorLoss: loss, epsilonStart: EPSILON_START_FACTOR * loss, epsilonEnd: EPSILON_END_FACTOR * loss };
}

/**
 * The trained policy of a run directory, measured on each named dataset: `options.maxFrames` of its
 * frames, or all of them with `allFrames` (an anchor cache: the set ε bounds).
 */
export async function evaluateStep<K extends string>(
  runDir: string,
  sets: Readonly<Record<K, { dataset: LeRobotDataset; decode?: boolean; loss?: "replay" | "distill"; allFrames?: boolean }>>,
  options: { batchSize: number; maxFrames: number },
): Promise<Record<K, EvaluationReport>> {
  const policy = await loadPi0FastPolicy(resolvePretrainedDir(runDir));
  try {
    const reports = {} as Record<K, EvaluationReport>;
    for (const name of Object.keys(sets) as K[]) {
      const { dataset, decode, loss, allFrames } = sets[name];
      const maxFrames = allFrames === true ? dataset.numFrames : options.maxFrames;
      reports[name] = await evaluateOn(policy, dataset, { ...options, maxFrames, ...(decode === false ? { decode: false } : {}), ...(loss ? { loss } : {}) });
    }
    return reports;
  } finally {
    policy.dispose();
  }
}

/** An environment a policy is run in closed loop: LeRobot's `env.type` and `env.task`. */
export interface EnvRef {
  readonly type: string;
  readonly task: string | null;
}

/** Closed-loop episodes per environment: seeds `seed`, `seed + 1`, … (the same scenes for every policy). */
export interface SuccessPlan {
  readonly nEpisodes: number;
  readonly seed: number;
  readonly batchSize: number;
  readonly imageSize: number;
}

const StoredEvalInfo = t.type({
  policy: t.string,
  per_episode: t.array(t.type({ seed: t.number })),
  aggregated: t.type({ n_episodes: t.number }),
});

/** An earlier evaluation of the same checkpoint on the same episodes, if `file` holds one. */
function storedEvaluation(file: string, policyDir: string, plan: SuccessPlan): EvalInfo | undefined {
  if (!existsSync(file)) return undefined;
  const raw: unknown = JSON.parse(readFileSync(file, "utf8"));
  const stored = StoredEvalInfo.decode(raw);
  if (isLeft(stored)) return undefined;
  const { policy, per_episode, aggregated } = stored.right;
  const same = policy === policyDir && aggregated.n_episodes === plan.nEpisodes && per_episode[0]?.seed === plan.seed;
  return same ? (raw as EvalInfo) : undefined;
}

/**
 * The policy of a run directory in closed loop in each named environment: `evalDir/<name>/eval_info.json`
 * and the first episode as `videos/eval_episode_0.gif`. A re-run reuses an evaluation of the same
 * checkpoint on the same episodes.
 */
export async function successStep<K extends string>(runDir: string, envs: Readonly<Record<K, EnvRef>>, plan: SuccessPlan, evalDir: string): Promise<Record<K, EvalInfo>> {
  const policyDir = resolvePretrainedDir(runDir);
  const names = Object.keys(envs) as K[];
  const infos = {} as Record<K, EvalInfo>;
  const pending = names.filter((name) => {
    const stored = storedEvaluation(join(evalDir, name, "eval_info.json"), policyDir, plan);
    if (stored) infos[name] = stored;
    return stored === undefined;
  });
  if (pending.length === 0) return infos;
  const policy = await loadPi0FastPolicy(policyDir);
  try {
    for (const name of pending) {
      const { type, task } = envs[name];
      checkPolicyMatchesEnv(policy, makeEnv({ type, task, imageSize: plan.imageSize }), policyDir);
      const info = await evaluateInEnv(pi0FastClosedLoop(policy), {
        envType: type,
        envTask: task,
        nEpisodes: plan.nEpisodes,
        batchSize: plan.batchSize,
        seed: plan.seed,
        maxEpisodesRendered: 1,
        videosDir: join(evalDir, name, "videos"),
        videoFormat: "gif",
        imageSize: plan.imageSize,
      });
      await writeEvalInfo(join(evalDir, name), { policy: policyDir, ...info });
      infos[name] = info;
    }
    return infos;
  } finally {
    policy.dispose();
  }
}
