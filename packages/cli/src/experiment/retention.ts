import { existsSync } from "node:fs";
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import type { CraftConfig } from "@craft/craft-core";
import { makeSyntheticDataset, type LeRobotDataset } from "@craft/datasets";
import { loadPi0FastPolicy } from "@craft/policy-pi0fast";
import { evaluateOn } from "../evaluation.js";
import { addTeacherOutputs } from "../commands/dataset.js";
import { anchorCacheStep, EPSILON_END_FACTOR, EPSILON_START_FACTOR, epsilonStep, evaluateStep, openAnchorStep, trainStep, type EpsilonBounds } from "../pipeline.js";
import { openTaskDataset } from "../datasetSetup.js";
import { resolvePretrainedDir } from "../policySetup.js";

export type RetentionMethod = "naive" | "replay" | "craft" | "craft_no_surgery" | "craft_distill";
export const RETENTION_METHODS: readonly RetentionMethod[] = ["naive", "replay", "craft", "craft_no_surgery", "craft_distill"];

/**
 * Sizes of the experiment: `smoke` is the smallest run that still shows the effect (the CI test;
 * a micro model on 32-pixel frames), `quick` one seed of the tiny model in a few minutes, `full` the
 * three-seed study.
 */
export interface RetentionPreset {
  /** Camera frames of the synthetic datasets are imageSize × imageSize. */
  readonly imageSize: number;
  /** Config fields of the base policy beyond the tiny preset (model widths), nested as in config.json. */
  readonly policy: Readonly<Record<string, unknown>>;
  /** The FAST tokenizer fitted for the base; absent = its default size. */
  readonly tokenizer?: { readonly vocab_size: number };
  /** Constant learning rate of pre-training and fine-tuning. */
  readonly lr: number;
  readonly episodes: number;
  readonly heldOutEpisodes: number;
  readonly batchSize: number;
  readonly pretrainChunk: number;
  readonly pretrainMaxSteps: number;
  /** Stop pre-training when a chunk improves the held-out loss by less than this fraction. */
  readonly plateau: number;
  readonly finetuneSteps: number;
  readonly evalFrames: number;
  readonly anchorSamples: number;
  readonly seeds: readonly number[];
}

export type RetentionPresetName = "smoke" | "quick" | "full";
export const RETENTION_PRESET_NAMES: readonly RetentionPresetName[] = ["smoke", "quick", "full"];

export const RETENTION_PRESETS: Readonly<Record<RetentionPresetName, RetentionPreset>> = {
  smoke: {
    imageSize: 32,
    policy: {
      vision: { width: 32, depth: 1, mlp_dim: 64, heads: 2, image_size: 32, patch_size: 8 },
      image_resolution: [32, 32],
      decoder: { width: 64, depth: 1, mlp_dim: 128, heads: 2, head_dim: 32, vocab_size: 1024 },
      chunk_size: 5,
      n_action_steps: 5,
      max_action_tokens: 32,
      max_decoding_steps: 32,
    },
    tokenizer: { vocab_size: 256 },
    lr: 3e-3,
    episodes: 6,
    heldOutEpisodes: 1,
    batchSize: 4,
    pretrainChunk: 20,
    pretrainMaxSteps: 60,
    plateau: 0.05,
    finetuneSteps: 20,
    evalFrames: 8,
    anchorSamples: 32,
    seeds: [0],
  },
  quick: {
    imageSize: 64,
    policy: {},
    lr: 1e-3,
    episodes: 16,
    heldOutEpisodes: 2,
    batchSize: 8,
    pretrainChunk: 40,
    pretrainMaxSteps: 120,
    plateau: 0.05,
    finetuneSteps: 40,
    evalFrames: 32,
    anchorSamples: 128,
    seeds: [0],
  },
  full: {
    imageSize: 64,
    policy: {},
    lr: 1e-3,
    episodes: 24,
    heldOutEpisodes: 4,
    batchSize: 8,
    pretrainChunk: 50,
    pretrainMaxSteps: 200,
    plateau: 0.02,
    finetuneSteps: 80,
    evalFrames: 96,
    anchorSamples: 256,
    seeds: [0, 1, 2],
  },
};

export interface RetentionOptions {
  readonly outputDir: string;
  readonly preset: RetentionPresetName;
  readonly seeds?: readonly number[];
  readonly device?: string;
  readonly log?: (line: string) => void;
}

type Measurements = {
  anchor_loss_base: number;
  anchor_loss_final: number;
  task_loss_final: number;
  anchor_action_mse: number;
  task_action_mse: number;
  epsilon_end: number;
};
const KEYS: readonly (keyof Measurements)[] = [
  "anchor_loss_base",
  "anchor_loss_final",
  "task_loss_final",
  "anchor_action_mse",
  "task_action_mse",
  "epsilon_end",
];

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

async function writeJson(path: string, value: unknown): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, `${JSON.stringify(value, null, 2)}\n`);
  await rename(tmp, path);
}

/** CRaFT settings of each fine-tuning method (none: plain fine-tuning); all start from the same base, seed and task data. */
function methodCraft(method: RetentionMethod, anchorDir: string, epsilon: EpsilonBounds): Partial<CraftConfig> | undefined {
  switch (method) {
    case "naive":
      return undefined;
    case "replay":
      // Task and anchor batches 1:1 and the plain sum of their losses: g = g_task + 1·g_anchor, λ fixed.
      return { anchor_dataset_path: anchorDir, surgery: "none", initial_lambda: 1, lambda_lr: 0 };
    case "craft":
    case "craft_no_surgery":
      return {
        anchor_dataset_path: anchorDir,
        surgery: method === "craft" ? "project_task" : "none",
        initial_lambda: 1,
        lambda_lr: 5,
        lambda_max: 100,
        epsilon_schedule: "linear",
        epsilon_start: epsilon.epsilonStart,
        epsilon_end: epsilon.epsilonEnd,
      };
    case "craft_distill":
      // Retention as KL(base ‖ student) on the anchors (the cache holds the base's top-k log-probs).
      // KL ≈ the rise of the anchor cross-entropy over the base's, so ε allows the same rise as craft's.
      return {
        anchor_dataset_path: anchorDir,
        retention_loss: "distill",
        surgery: "project_task",
        initial_lambda: 1,
        lambda_lr: 5,
        lambda_max: 100,
        epsilon_schedule: "linear",
        epsilon_start: (EPSILON_START_FACTOR - 1) * epsilon.baseAnchorLoss,
        epsilon_end: (EPSILON_END_FACTOR - 1) * epsilon.baseAnchorLoss,
      };
  }
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const std = (xs: number[]) => (xs.length < 2 ? 0 : Math.sqrt(xs.reduce((a, x) => a + (x - mean(xs)) ** 2, 0) / (xs.length - 1)));

/**
 * Does the policy keep skill A while it learns B? Pre-trains a tiny pi0-FAST on A until its held-out
 * loss plateaus, fine-tunes it on B four ways from the same base and seed, and measures both skills
 * on held-out episodes. Writes summary.json (per seed and mean/std per method) and every run's logs.
 */
export async function runRetentionExperiment(options: RetentionOptions): Promise<Record<string, unknown>> {
  const preset = RETENTION_PRESETS[options.preset];
  const seeds = options.seeds ?? preset.seeds;
  const out = options.outputDir;
  const log = options.log ?? ((line: string) => console.error(`[experiment] ${line}`));
  const device = options.device ?? "auto";
  await mkdir(out, { recursive: true });
  const dataDir = join(out, "data");
  const taskA = join(dataDir, "reach");
  const taskB = join(dataDir, "push");
  const trainEpisodes = range(0, preset.episodes - preset.heldOutEpisodes);
  const heldOut = range(preset.episodes - preset.heldOutEpisodes, preset.episodes);
  const imageSize = preset.imageSize;
  if (!existsSync(join(taskA, "meta", "info.json"))) await makeSyntheticDataset(taskA, { task: "reach", episodes: preset.episodes, seed: 100, imageSize, overwrite: true });
  if (!existsSync(join(taskB, "meta", "info.json"))) await makeSyntheticDataset(taskB, { task: "push", episodes: preset.episodes, seed: 200, imageSize, overwrite: true });

  const configs: Record<string, unknown> = { preset: options.preset, ...preset, seeds, train_episodes: trainEpisodes, held_out_episodes: heldOut };
  const methods: Record<string, { seeds: Record<string, unknown>[]; mean?: Record<string, number>; std?: Record<string, number> }> = {};
  for (const m of RETENTION_METHODS) methods[m] = { seeds: [] };
  const common = (seed: number) => ({ batchSize: preset.batchSize, seed, logFreq: 5, device, episodes: trainEpisodes, lr: { peak: preset.lr, decayTo: preset.lr, warmupSteps: 0 } });
  const evalSizes = { batchSize: preset.batchSize, maxFrames: preset.evalFrames };

  for (const seed of seeds) {
    // 1. Base policy on A, pre-trained in chunks until the held-out A loss plateaus (constant LR, so
    //    extending the run by resuming does not change the schedule of the steps already taken).
    const baseDir = join(out, "base", `seed-${seed}`);
    const heldA: { dataset: LeRobotDataset | null } = { dataset: null };
    let previous = Infinity;
    let steps = 0;
    const plateauLog: { step: number; heldout_loss: number }[] = [];
    while (steps < preset.pretrainMaxSteps) {
      steps += preset.pretrainChunk;
      // A re-run finds the base already trained this far (resuming to a step already done is refused).
      configs[`base_seed_${seed}`] = await trainStep(
        {
          ...common(seed),
          policy: preset.policy,
          ...(preset.tokenizer ? { tokenizer: preset.tokenizer } : {}),
          datasetRoot: taskA,
          // The base's normaliser and FAST vocabulary cover B's action range, as a base trained on a mix would.
          statsRoots: [taskB],
          steps,
          saveFreq: preset.pretrainChunk,
          outputDir: baseDir,
        },
        { quiet: true },
      );
      const policy = await loadPi0FastPolicy(resolvePretrainedDir(baseDir));
      heldA.dataset ??= await openTaskDataset({ root: taskA, repo_id: null, episodes: heldOut, exclude: [] }, policy.config.chunk_size);
      const { loss } = await evaluateOn(policy, heldA.dataset, { batchSize: preset.batchSize, maxFrames: preset.evalFrames, decode: false });
      policy.dispose();
      plateauLog.push({ step: steps, heldout_loss: loss });
      log(`seed ${seed}: base after ${steps} steps, held-out A loss ${loss.toFixed(4)}`);
      if (previous - loss < preset.plateau * previous) break;
      previous = loss;
    }
    configs[`base_seed_${seed}_plateau`] = plateauLog;
    const basePolicyDir = resolvePretrainedDir(baseDir);
    const base = await loadPi0FastPolicy(basePolicyDir);
    const chunk = base.config.chunk_size;

    // 2. Anchor cache of A's training episodes; ε from the base's own anchor loss.
    const anchorDir = join(dataDir, `reach-anchors-seed-${seed}`);
    await anchorCacheStep(taskA, anchorDir, { numSamples: preset.anchorSamples, seed, chunkSize: chunk, episodes: trainEpisodes });
    await addTeacherOutputs(anchorDir, basePolicyDir);
    const anchors = await openAnchorStep(anchorDir, chunk);
    const heldB = await openTaskDataset({ root: taskB, repo_id: null, episodes: heldOut, exclude: [] }, chunk);
    const epsilon = await epsilonStep(base, anchors, evalSizes);
    const baseAnchorLoss = epsilon.baseAnchorLoss;
    const baseHeldA = await evaluateOn(base, heldA.dataset!, { ...evalSizes, decode: false });
    base.dispose();
    const { epsilonStart, epsilonEnd } = epsilon;
    log(`seed ${seed}: base anchor loss ${baseAnchorLoss.toFixed(4)} (held-out A ${baseHeldA.loss.toFixed(4)}); ε ${epsilonStart.toFixed(4)} → ${epsilonEnd.toFixed(4)}`);

    // 3. The fine-tunings (one per method) from the same base and seed, then held-out A and B measured.
    for (const method of RETENTION_METHODS) {
      const runDir = join(out, "runs", method, `seed-${seed}`);
      if (!existsSync(join(runDir, "checkpoints", "last"))) await rm(runDir, { recursive: true, force: true });
      const started = Date.now();
      configs[`${method}_seed_${seed}`] = await trainStep(
        {
          ...common(seed),
          policyPath: basePolicyDir,
          datasetRoot: taskB,
          steps: preset.finetuneSteps,
          saveFreq: preset.finetuneSteps,
          outputDir: runDir,
          craft: methodCraft(method, anchorDir, epsilon),
        },
        { quiet: true },
      );
      const measured = await evaluateStep(
        runDir,
        { anchorFinal: { dataset: anchors, decode: false }, a: { dataset: heldA.dataset! }, b: { dataset: heldB } },
        evalSizes,
      );
      const { anchorFinal, a, b } = measured;
      const row = {
        seed,
        anchor_loss_base: baseAnchorLoss,
        anchor_loss_final: anchorFinal.loss,
        task_loss_final: b.loss,
        anchor_action_mse: a.action_mse_normalized,
        task_action_mse: b.action_mse_normalized,
        epsilon_end: epsilonEnd,
        heldout_anchor_loss_base: baseHeldA.loss,
        heldout_anchor_loss_final: a.loss,
        anchor_loss_rise: anchorFinal.loss / baseAnchorLoss - 1,
        run_dir: relative(out, runDir),
        seconds: (Date.now() - started) / 1000,
      };
      methods[method].seeds.push(row);
      log(
        `seed ${seed} ${method.padEnd(16)} anchor ${baseAnchorLoss.toFixed(3)} → ${anchorFinal.loss.toFixed(3)} (held-out A ${a.loss.toFixed(3)}), task B ${b.loss.toFixed(3)}, action MSE A ${a.action_mse_normalized.toFixed(4)} B ${b.action_mse_normalized.toFixed(4)}`,
      );
    }
    await anchors.close();
    await heldB.close();
    await heldA.dataset?.close();
  }

  for (const m of RETENTION_METHODS) {
    const rows = methods[m].seeds as unknown as Measurements[];
    methods[m].mean = Object.fromEntries(KEYS.map((k) => [k, mean(rows.map((r) => r[k]))]));
    methods[m].std = Object.fromEntries(KEYS.map((k) => [k, std(rows.map((r) => r[k]))]));
  }
  const mm = (m: RetentionMethod) => methods[m].mean as Measurements;
  const expectations = [
    {
      name: "naive fine-tuning at least doubles the anchor loss",
      passed: mm("naive").anchor_loss_final >= 2 * mm("naive").anchor_loss_base,
      detail: { ratio: mm("naive").anchor_loss_final / mm("naive").anchor_loss_base },
    },
    {
      name: "CRaFT keeps the final anchor loss within 10% of ε_end (or below it)",
      passed: mm("craft").anchor_loss_final <= 1.1 * mm("craft").epsilon_end,
      detail: { anchor_loss_final: mm("craft").anchor_loss_final, epsilon_end: mm("craft").epsilon_end },
    },
    {
      name: "CRaFT's task-B loss is within 25% of naive's",
      passed: mm("craft").task_loss_final <= 1.25 * mm("naive").task_loss_final,
      detail: { craft: mm("craft").task_loss_final, naive: mm("naive").task_loss_final },
    },
    {
      name: "naive's anchor loss rises more than CRaFT's",
      passed: mm("naive").anchor_loss_final - mm("naive").anchor_loss_base > mm("craft").anchor_loss_final - mm("craft").anchor_loss_base,
    },
  ];
  const summary = { methods, expectations, configs };
  await writeJson(join(out, "summary.json"), summary);
  return summary;
}
