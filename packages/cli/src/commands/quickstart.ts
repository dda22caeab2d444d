import { existsSync } from "node:fs";
import { join } from "node:path";
import { makeSyntheticDataset, type SyntheticTask } from "@craft/datasets";
import { loadPi0FastPolicy, type PI0FastConfig } from "@craft/policy-pi0fast";
import { startBackend } from "../backendSetup.js";
import { rejectUnknownFlags, UsageError, type ParsedArgs } from "../flags.js";
import { addTeacherOutputs } from "./dataset.js";
import { anchorCacheStep, DISTILL_EPSILON, epsilonStep, evaluateStep, openAnchorStep, PAIR_ANCHOR_START_FRAMES, PAIR_BASE_LR, PAIR_FINETUNE_LR, PAIR_POLICY, successStep, trainStep, type EnvRef } from "../pipeline.js";
import { openTaskDataset } from "../datasetSetup.js";
import { resolvePretrainedDir } from "../policySetup.js";
import type { EvalInfo } from "../rollout.js";
import { SMOKE_EVAL_EPISODES, SMOKE_EVAL_FRAMES, SMOKE_STEPS, smokeRun } from "../smoke.js";

export const QUICKSTART_FLAGS = ["output_dir", "pretrain_steps", "steps", "batch_size", "seed", "data_seed", "policy.device", "episodes", "eval.n_episodes"] as const;

/**
 * The quickstart's sizes: the README's main job, and its CRAFT_SMOKE=1 cut (seconds of compute,
 * same phases). The policy is PAIR_POLICY (pipeline.ts).
 */
const QUICKSTART_SIZES = {
  full: { pretrain_steps: 400, steps: 200, batch_size: 16, episodes: 80, anchorSamples: 256, evalFrames: 64, evalEpisodes: 20 },
  smoke: { pretrain_steps: SMOKE_STEPS, steps: SMOKE_STEPS, batch_size: 4, episodes: 2, anchorSamples: 16, evalFrames: SMOKE_EVAL_FRAMES, evalEpisodes: SMOKE_EVAL_EPISODES },
} as const;


const { full } = QUICKSTART_SIZES;
/** The scenes' camera: 64 pixels, as the synthetic datasets' default (the policy resizes to 32). */
const IMAGE_SIZE = 64;
export const QUICKSTART_HELP = `craft quickstart — the main job end to end on the embedded default (wasm, no GPU, no ffmpeg)

  One table with red, blue and yellow targets: the same images, state and actions; only the instruction differs.
  1. synthetic datasets of scripted expert rollouts: the base's instructions, task A "reach the red
     target" (the skill to keep) and "reach the yellow target", and task B "reach the blue target"
  2. a small pi0-FAST (1.07M parameters, PAIR_POLICY) trained on A and yellow: the base policy, which
     reads the colour word, as a pre-trained model does
  3. an anchor cache of the base's frames (every episode's first frame among them) with the base's own
     action-token distributions on them
  4. CRaFT fine-tuning of the base on B, the retention loss KL(base ‖ policy) on the anchors held under ε
  5. closed loop in the simulated scene: the base and the CRaFT policy, on A, on B and on yellow
  The last lines give the success rate before and after for each instruction, and how often A's
  instruction sent the arm to another target (the forgetting CRaFT is there to prevent).

Usage: craft quickstart [--output_dir=outputs/quickstart] [--pretrain_steps=${full.pretrain_steps}] [--steps=${full.steps}] [--batch_size=${full.batch_size}]
                        [--episodes=${full.episodes}] [--eval.n_episodes=${full.evalEpisodes}] [--seed=1000] [--data_seed=1]
With CRAFT_SMOKE=1 in the environment the defaults shrink to seconds (2 + 2 steps, 2 episodes).
Accepted flags:
${QUICKSTART_FLAGS.map((f) => `  --${f}`).join("\n")}
`;

const percent = (info: EvalInfo) => `${info.aggregated.pc_success.toFixed(0)}%`;
const wentTo = (info: EvalInfo, outcome: "other_target" | "invalid_decode") => info.per_episode.filter((e) => e.outcome === outcome).length;

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
  const batchSize = get("batch_size", sizes.batch_size);
  // --seed seeds the trainings (LeRobot's default, 1000); --data_seed the recorded episodes and the anchor draw.
  const seed = get("seed", 1000);
  const dataSeed = get("data_seed", 1);
  const episodes = get("episodes", sizes.episodes);
  const evalEpisodes = get("eval.n_episodes", sizes.evalEpisodes);
  const maxFrames = sizes.evalFrames;
  const device = String(args.flags.get("policy.device") ?? "auto");
  const data = (task: SyntheticTask) => join(out, "data", task);
  // The base's data holds A and a second instruction (episodes of each), so the base reads the colour word.
  const [taskA, taskB]: SyntheticTask[] = ["reach_red_yellow", "reach_blue"];
  const anchorCache = join(out, "data", `${taskA}-anchors`);
  const log = (s: string) => console.error(`[quickstart] ${s}`);

  if (sizes === QUICKSTART_SIZES.smoke) log(`CRAFT_SMOKE=1: smoke sizes (${JSON.stringify(sizes)}); unset it for the real job`);
  log(`1/5 synthetic datasets in ${join(out, "data")}: ${episodes} expert episodes of each instruction`);
  for (const [task, n] of [[taskA, 2 * episodes], [taskB, episodes]] as const) {
    if (!existsSync(join(data(task), "meta", "info.json"))) await makeSyntheticDataset(data(task), { task, episodes: n, seed: dataSeed, imageSize: IMAGE_SIZE, overwrite: true });
  }

  // A re-run whose base is trained loads it before any training would have started the backend.
  await startBackend(device as PI0FastConfig["device"], true);
  const common = { batchSize, seed, logFreq: 20, device };
  const baseDir = join(out, "base");
  log(`2/5 base policy: ${pretrainSteps} steps on A "reach the red target" and "reach the yellow target" → ${baseDir}`);
  await trainStep({
    ...common,
    datasetRoot: data(taskA),
    // The base's normaliser and FAST vocabulary cover the later task's action range too.
    statsRoots: [data(taskB)],
    policy: PAIR_POLICY,
    lr: { ...PAIR_BASE_LR, warmupSteps: Math.min(PAIR_BASE_LR.warmupSteps, pretrainSteps) },
    steps: pretrainSteps,
    saveFreq: pretrainSteps,
    outputDir: baseDir,
  });

  const basePolicyDir = resolvePretrainedDir(baseDir);
  const base = await loadPi0FastPolicy(basePolicyDir);
  const chunk = base.config.chunk_size;
  log(`3/5 anchor cache of the base's frames (red and yellow) → ${anchorCache}`);
  // Every episode's first frame is an anchor (PAIR_ANCHOR_START_FRAMES); more --episodes get more anchors.
  const anchorSamples = Math.max(sizes.anchorSamples, 2 * episodes * PAIR_ANCHOR_START_FRAMES + sizes.anchorSamples / 4);
  await anchorCacheStep(data(taskA), anchorCache, { numSamples: anchorSamples, startFrames: PAIR_ANCHOR_START_FRAMES, seed: dataSeed, chunkSize: chunk });
  await addTeacherOutputs(anchorCache, basePolicyDir);
  const anchors = await openAnchorStep(anchorCache, chunk);
  const { baseAnchorLoss } = await epsilonStep(base, anchors, { batchSize });
  base.dispose();
  const craftDir = join(out, "craft");
  // The token loss is blind to where the arm goes (it fell below the base's own while red went to
  // blue; cli README): CRaFT holds the policy's distributions on the anchors near the base's instead.
  const { start: epsilonStart, end: epsilonEnd, lambdaLr } = DISTILL_EPSILON;
  log(`4/5 CRaFT on B "reach the blue target": ${steps} steps, KL(base ‖ policy) on the anchors held under ε ${epsilonStart} → ${epsilonEnd} nats per token → ${craftDir}`);
  await trainStep({
    ...common,
    policyPath: basePolicyDir,
    datasetRoot: data(taskB),
    lr: { ...PAIR_FINETUNE_LR, warmupSteps: Math.min(PAIR_FINETUNE_LR.warmupSteps, steps) },
    steps,
    saveFreq: steps,
    outputDir: craftDir,
    craft: { anchor_dataset_path: anchorCache, retention_loss: "distill", initial_lambda: 1.0, lambda_lr: lambdaLr, epsilon_start: epsilonStart, epsilon_end: epsilonEnd },
  });

  const task = await openTaskDataset({ root: data(taskB), repo_id: null, episodes: null, exclude: [] }, chunk);
  const after = await evaluateStep(
    craftDir,
    { anchor: { dataset: anchors, decode: false, allFrames: true }, anchorKl: { dataset: anchors, decode: false, loss: "distill", allFrames: true }, task: { dataset: task, decode: false } },
    { batchSize, maxFrames },
  );
  const envs: Record<"A" | "B" | "C", EnvRef> = { A: { type: "two_target", task: "red" }, B: { type: "two_target", task: "blue" }, C: { type: "two_target", task: "yellow" } };
  const plan = { nEpisodes: evalEpisodes, seed: 1000, batchSize: Math.min(evalEpisodes, 10), imageSize: IMAGE_SIZE };
  log(`5/5 closed loop: ${evalEpisodes} episodes per instruction, base and CRaFT policies (seeds ${plan.seed}…; eval_info.json and a GIF each)`);
  const before = await successStep(baseDir, envs, plan, join(out, "eval", "base"));
  const now = await successStep(craftDir, envs, plan, join(out, "eval", "craft"));
  const kept = (k: "A" | "C") => (before[k].aggregated.success_rate > 0 ? ` (keeps ${((100 * now[k].aggregated.success_rate) / before[k].aggregated.success_rate).toFixed(0)}% of the base's)` : "");
  console.log(
    [
      "",
      `anchor token loss: base ${baseAnchorLoss.toFixed(4)} → after CRaFT ${after.anchor.loss.toFixed(4)}; KL(base ‖ CRaFT) on the anchors ${after.anchorKl.loss.toFixed(4)} (ε_end ${epsilonEnd}); task (B) token loss after CRaFT ${after.task.loss.toFixed(4)}`,
      `closed-loop success over ${evalEpisodes} episodes each (${join(out, "eval")}):`,
      `  A "reach the red target"    (kept): base ${percent(before.A)} → after CRaFT ${percent(now.A)}${kept("A")}; went to another target: ${wentTo(before.A, "other_target")} → ${wentTo(now.A, "other_target")}`,
      `  B "reach the blue target"   (new):  base ${percent(before.B)} → after CRaFT ${percent(now.B)}`,
      `  "reach the yellow target"   (kept): base ${percent(before.C)} → after CRaFT ${percent(now.C)}${kept("C")}`,
      `checkpoints: ${baseDir}, ${craftDir}; plots: craft report --output_dir=${craftDir}`,
    ].join("\n"),
  );
  return 0;
}
