import { existsSync } from "node:fs";
import { join } from "node:path";
import { makeSyntheticDataset } from "@craft/datasets";
import { loadPi0FastPolicy } from "@craft/policy-pi0fast";
import { rejectUnknownFlags, UsageError, type ParsedArgs } from "../flags.js";
import { anchorCacheStep, epsilonStep, evaluateStep, openAnchorStep, trainStep } from "../pipeline.js";
import { openTaskDataset } from "../datasetSetup.js";
import { resolvePretrainedDir } from "../policySetup.js";
import { SMOKE_EVAL_FRAMES, SMOKE_STEPS, smokeRun } from "../smoke.js";

export const QUICKSTART_FLAGS = ["output_dir", "pretrain_steps", "steps", "batch_size", "seed", "policy.device", "episodes"] as const;

export const QUICKSTART_HELP = `craft quickstart — the main job end to end on the embedded default (wasm, no GPU, no ffmpeg)

  1. synthetic datasets: task A "reach" (the skill to keep) and task B "push" (the new task)
  2. a tiny pi0-FAST trained on A (the base policy)
  3. an anchor cache of A frames
  4. CRaFT fine-tuning of the base on B, the anchor loss held under ε; then both tasks are evaluated

Usage: craft quickstart [--output_dir=outputs/quickstart] [--pretrain_steps=150] [--steps=80] [--batch_size=8]
With CRAFT_SMOKE=1 in the environment the defaults shrink to seconds (2 + 2 steps, 2 episodes).
Accepted flags:
${QUICKSTART_FLAGS.map((f) => `  --${f}`).join("\n")}
`;

/** Defaults: the README's main job, and its CRAFT_SMOKE=1 cut (seconds of compute, same phases). */
const QUICKSTART_SIZES = {
  full: { pretrain_steps: 150, steps: 80, episodes: 12, anchorSamples: 128, evalFrames: 64 },
  smoke: { pretrain_steps: SMOKE_STEPS, steps: SMOKE_STEPS, episodes: 2, anchorSamples: 16, evalFrames: SMOKE_EVAL_FRAMES },
} as const;

export async function runQuickstart(args: ParsedArgs): Promise<number> {
  rejectUnknownFlags(args.flags, QUICKSTART_FLAGS, "quickstart");
  const get = (k: string, d: number) => {
    const v = args.flags.get(k) ?? d;
    if (typeof v !== "number" || !Number.isInteger(v) || v <= 0) throw new UsageError(`--${k}: expected a positive integer, got ${JSON.stringify(v)}`);
    return v;
  };
  const sizes = smokeRun() ? QUICKSTART_SIZES.smoke : QUICKSTART_SIZES.full;
  const out = String(args.flags.get("output_dir") ?? "outputs/quickstart");
  const pretrainSteps = get("pretrain_steps", sizes.pretrain_steps);
  const steps = get("steps", sizes.steps);
  const batchSize = get("batch_size", 8);
  const seed = get("seed", 1);
  const episodes = get("episodes", sizes.episodes);
  const maxFrames = sizes.evalFrames;
  const device = String(args.flags.get("policy.device") ?? "auto");
  const reach = join(out, "data", "reach");
  const push = join(out, "data", "push");
  const anchorCache = join(out, "data", "reach-anchors");
  const log = (s: string) => console.error(`[quickstart] ${s}`);

  if (sizes === QUICKSTART_SIZES.smoke) log(`CRAFT_SMOKE=1: smoke sizes (${JSON.stringify(sizes)}); unset it for the real job`);
  log(`1/4 synthetic datasets in ${join(out, "data")}`);
  if (!existsSync(join(reach, "meta", "info.json"))) await makeSyntheticDataset(reach, { task: "reach", episodes, seed, overwrite: true });
  if (!existsSync(join(push, "meta", "info.json"))) await makeSyntheticDataset(push, { task: "push", episodes, seed: seed + 1, overwrite: true });

  const common = { batchSize, seed, logFreq: 10, device };
  const baseDir = join(out, "base");
  log(`2/4 base policy: ${pretrainSteps} steps on "reach" → ${baseDir}`);
  await trainStep({
    ...common,
    datasetRoot: reach,
    // The base's normaliser and FAST vocabulary cover the later task's action range too.
    statsRoots: [push],
    lr: { peak: 1e-3, decayTo: 1e-4 },
    steps: pretrainSteps,
    saveFreq: pretrainSteps,
    outputDir: baseDir,
  });

  const basePolicyDir = resolvePretrainedDir(baseDir);
  const base = await loadPi0FastPolicy(basePolicyDir);
  const chunk = base.config.chunk_size;
  log(`3/4 anchor cache of "reach" frames → ${anchorCache}`);
  await anchorCacheStep(reach, anchorCache, { numSamples: sizes.anchorSamples, seed, chunkSize: chunk });
  const anchors = await openAnchorStep(anchorCache, chunk);
  const { baseAnchorLoss, epsilonStart, epsilonEnd } = await epsilonStep(base, anchors, { batchSize, maxFrames });
  base.dispose();
  const craftDir = join(out, "craft");
  log(`4/4 CRaFT on "push": ${steps} steps, base anchor loss ${baseAnchorLoss.toFixed(4)}, ε ${epsilonStart.toFixed(4)} → ${epsilonEnd.toFixed(4)} → ${craftDir}`);
  await trainStep({
    ...common,
    policyPath: basePolicyDir,
    datasetRoot: push,
    lr: { peak: 5e-4, decayTo: 5e-5 },
    steps,
    saveFreq: steps,
    outputDir: craftDir,
    craft: { anchor_dataset_path: anchorCache, initial_lambda: 1.0, lambda_lr: 5.0, epsilon_start: epsilonStart, epsilon_end: epsilonEnd },
  });

  const task = await openTaskDataset({ root: push, repo_id: null, episodes: null, exclude: [] }, chunk);
  const after = await evaluateStep(craftDir, { anchor: { dataset: anchors }, task: { dataset: task } }, { batchSize, maxFrames });
  console.log(
    [
      "",
      `anchor ("reach") loss: base ${baseAnchorLoss.toFixed(4)} → after CRaFT ${after.anchor.loss.toFixed(4)} (ε_end ${epsilonEnd.toFixed(4)})`,
      `task ("push") loss after CRaFT: ${after.task.loss.toFixed(4)}; action MSE (normalised) anchor ${after.anchor.action_mse_normalized.toFixed(4)}, task ${after.task.action_mse_normalized.toFixed(4)}`,
      `checkpoints: ${baseDir}, ${craftDir}; plots: craft report --output_dir=${craftDir}`,
    ].join("\n"),
  );
  return 0;
}
