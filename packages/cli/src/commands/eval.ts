import { mkdir, writeFile } from "node:fs/promises";
import * as E from "fp-ts/lib/Either.js";
import { dirname, join } from "node:path";
import { makeEnv } from "@craft/datasets";
import { rejectUnknownFlags, toNested, UsageError, type ParsedArgs } from "../flags.js";
import { defaultCraftConfig } from "@craft/craft-core";
import { policyConfigDocs } from "@craft/policy-pi0fast";
import { trainConfigDocs } from "@craft/trainer";
import { decodeEnvEvalSections, ENV_EVAL_FLAGS as ENV_SECTION_FLAGS } from "../envFlags.js";
import { DATASET_FIELDS, EVAL_COMMAND_FIELDS, LEROBOT_FIELDS, POLICY_FIELDS } from "../runSections.js";
import { ConfigError } from "../errors.js";
import { evaluateOn, type EvaluationReport } from "../evaluation.js";
import { checkPolicyMatchesEnv, episodeProgressLine, evaluateInEnv, pi0FastClosedLoop, writeEvalInfo } from "../rollout.js";
import { startBackend } from "../backendSetup.js";
import { datasetRoot, episodesFlag, openAnchors, openTaskDataset } from "../datasetSetup.js";
import { loadPretrainedPolicy } from "../policySetup.js";
import { renameMapOf } from "../lerobotFlags.js";
import { SMOKE_EVAL_EPISODES, SMOKE_EVAL_FRAMES, smokeCap } from "../smoke.js";

/** Flag names of the declared fields `keys` of a section (type-checked against the declaration). */
const flagsOf = <F extends object>(_fields: F, prefix: string, keys: readonly (keyof F & string)[]): string[] => keys.map((k) => `${prefix}${k}`);

/** The checkpoint to evaluate and its backend (POLICY_FIELDS.path, PI0FastConfig's device). */
const POLICY_FLAGS = [...flagsOf(POLICY_FIELDS, "policy.", ["path"]), ...flagsOf(policyConfigDocs, "policy.", ["device"])];

/** On datasets: loss and decoded-action error, with the train run's dataset, anchor and batch flags. */
export const EVAL_FLAGS: readonly string[] = [
  ...POLICY_FLAGS,
  ...flagsOf(DATASET_FIELDS, "dataset.", ["root", "repo_id", "exclude", "episodes"]),
  ...flagsOf(defaultCraftConfig, "craft.", ["anchor_dataset_path"]),
  ...flagsOf(trainConfigDocs, "", ["batch_size"]),
  ...flagsOf(EVAL_COMMAND_FIELDS, "", ["max_frames", "output"]),
  ...flagsOf(LEROBOT_FIELDS, "", ["rename_map"]),
];

/** Closed loop in a simulated environment, as LeRobot's lerobot-eval: the env/eval sections (envFlags.ts) and the run's seed and output_dir. */
export const ENV_EVAL_FLAGS: readonly string[] = [
  ...POLICY_FLAGS,
  ...ENV_SECTION_FLAGS,
  ...flagsOf(EVAL_COMMAND_FIELDS, "eval.", ["max_episodes_rendered"]),
  ...flagsOf(trainConfigDocs, "", ["output_dir", "seed"]),
  ...flagsOf(LEROBOT_FIELDS, "", ["rename_map"]),
];

const strFlag = (args: ParsedArgs, key: string): string | null => {
  const v = args.flags.get(key);
  if (v === undefined) return null;
  if (typeof v !== "string" || v === "") throw new UsageError(`--${key}: expected a path, got ${JSON.stringify(v)}`);
  return v;
};
const intFlag = (args: ParsedArgs, key: string, fallback: number, min = 1): number => {
  const v = args.flags.get(key) ?? fallback;
  if (typeof v !== "number" || !Number.isInteger(v) || v < min) {
    throw new UsageError(`--${key}: expected ${min === 1 ? "a positive" : "a non-negative"} integer, got ${JSON.stringify(v)}`);
  }
  return v;
};

/** LeRobot's `--rename_map` (dataset or environment key → policy key), applied by the policy's processor as in train. */
function renameMapFlag(args: ParsedArgs): Record<string, string> {
  const problems: string[] = [];
  const map = renameMapOf(args.flags.get("rename_map"), problems);
  if (problems.length > 0) throw new UsageError(`--${problems[0]}`);
  return map;
}

/** `craft eval --env.type=…`: success rate of a checkpoint in closed loop; eval_info.json and rollout videos in output_dir. */
async function runEnvEval(args: ParsedArgs, policyPath: string): Promise<number> {
  rejectUnknownFlags(args.flags, ENV_EVAL_FLAGS, "eval --env.type");
  const decoded = decodeEnvEvalSections(toNested(args.flags));
  if (E.isLeft(decoded) || decoded.right === null) throw new ConfigError(E.isLeft(decoded) ? decoded.left : []);
  const spec = decoded.right;
  const { type: envType, task: envTask, batch_size: batchSize } = spec;
  const env = makeEnv({ type: envType, task: envTask });
  const nEpisodes = smokeCap("--eval.n_episodes", spec.n_episodes, SMOKE_EVAL_EPISODES);
  const maxRendered = intFlag(args, "eval.max_episodes_rendered", EVAL_COMMAND_FIELDS.max_episodes_rendered.default, 0);
  const seed = intFlag(args, "seed", 1000, 0);
  const outputDir = strFlag(args, "output_dir") ?? join("outputs", "eval", `${envType}${envTask ? `_${envTask}` : ""}`);
  const device = (strFlag(args, "policy.device") ?? "auto") as "auto";
  await startBackend(device);
  const renameMap = renameMapFlag(args);
  const policy = await loadPretrainedPolicy(policyPath, { renameMap });
  try {
    checkPolicyMatchesEnv(policy, env, policyPath, undefined, renameMap);
    const info = await evaluateInEnv(pi0FastClosedLoop(policy), {
      envType,
      envTask,
      nEpisodes,
      batchSize,
      seed,
      maxEpisodesRendered: maxRendered,
      videosDir: maxRendered > 0 ? join(outputDir, "videos") : null,
      onProgress: episodeProgressLine,
    });
    const file = await writeEvalInfo(outputDir, { policy: policyPath, ...info });
    const a = info.aggregated;
    const [lo, hi] = a.success_rate_ci95;
    const outcomes = Object.entries(a.outcomes).filter(([, n]) => n > 0).map(([o, n]) => `${o} ${n}`).join(", ");
    console.log(
      `${envType} "${info.env.task}": success ${(100 * a.success_rate).toFixed(1)}% (95% CI ${(100 * lo).toFixed(1)}–${(100 * hi).toFixed(1)}%) over ${a.n_episodes} episodes; ${outcomes}; ${a.invalid_decodes} invalid decodes (${a.inferences} batched inferences) → ${file}`,
    );
    return 0;
  } finally {
    policy.dispose();
  }
}

/** `craft eval`: with --env.type, closed-loop success in simulation; otherwise loss and action error of a checkpoint on the task set and, if given, the anchor set. */
export async function runEval(args: ParsedArgs): Promise<number> {
  const policyPath = strFlag(args, "policy.path");
  if (args.flags.has("env.type")) {
    if (policyPath === null) throw new UsageError("--policy.path: expected a checkpoint (pretrained_model dir, checkpoint dir or run output_dir)");
    return runEnvEval(args, policyPath);
  }
  rejectUnknownFlags(args.flags, EVAL_FLAGS, "eval");
  if (policyPath === null) throw new UsageError("--policy.path: expected a checkpoint (pretrained_model dir, checkpoint dir or run output_dir)");
  const device = (strFlag(args, "policy.device") ?? "auto") as "auto";
  await startBackend(device);
  const policy = await loadPretrainedPolicy(policyPath, { renameMap: renameMapFlag(args) });
  const exclude = (args.flags.get("dataset.exclude") as string[] | undefined) ?? [];
  const episodes = episodesFlag(args.flags.get("dataset.episodes"));
  const batchSize = intFlag(args, "batch_size", 8);
  const maxFrames = smokeCap("--max_frames", intFlag(args, "max_frames", EVAL_COMMAND_FIELDS.max_frames.default), SMOKE_EVAL_FRAMES);
  const results: Record<string, EvaluationReport & { dataset: string }> = {};
  const spec = { root: strFlag(args, "dataset.root"), repo_id: strFlag(args, "dataset.repo_id"), episodes, exclude };
  if (spec.root !== null || spec.repo_id !== null) {
    const task = await openTaskDataset(spec, policy.config.chunk_size);
    results.task = { dataset: datasetRoot(spec), ...(await evaluateOn(policy, task, { batchSize, maxFrames })) };
  }
  const anchorPath = strFlag(args, "craft.anchor_dataset_path");
  if (anchorPath !== null) {
    const anchors = await openAnchors(anchorPath, policy.config.chunk_size, exclude);
    results.anchor = { dataset: anchorPath, ...(await evaluateOn(policy, anchors, { batchSize, maxFrames })) };
  }
  if (Object.keys(results).length === 0) throw new UsageError("craft eval: expected --dataset.root and/or --craft.anchor_dataset_path to evaluate on");
  for (const [name, r] of Object.entries(results)) {
    console.log(
      `${name.padEnd(6)} ${r.dataset}: loss ${r.loss.toFixed(4)}, action MSE ${r.action_mse.toExponential(3)} (normalised ${r.action_mse_normalized.toFixed(4)}; per dim ${r.action_mse_per_dim.map((x) => x.toExponential(2)).join(" ")}), ${r.frames} frames, ${r.invalid_decodes} invalid decodes`,
    );
  }
  const output = strFlag(args, "output");
  if (output !== null) {
    await mkdir(dirname(output), { recursive: true });
    await writeFile(output, `${JSON.stringify({ policy: policyPath, ...results }, null, 2)}\n`);
  }
  policy.dispose();
  return 0;
}
