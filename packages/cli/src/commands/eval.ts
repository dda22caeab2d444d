import { mkdir, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { loadPi0FastPolicy } from "@craft/policy-pi0fast";
import { rejectUnknownFlags, UsageError, type ParsedArgs } from "../flags.js";
import { evaluateOn, type EvaluationReport } from "../evaluation.js";
import { datasetRoot, openAnchors, openTaskDataset, resolvePretrainedDir, startBackend } from "../setup.js";
import { SMOKE_EVAL_FRAMES, smokeCap } from "../smoke.js";

export const EVAL_FLAGS = [
  "policy.path",
  "policy.device",
  "dataset.root",
  "dataset.repo_id",
  "dataset.exclude",
  "dataset.episodes",
  "craft.anchor_dataset_path",
  "batch_size",
  "max_frames",
  "output",
] as const;

const strFlag = (args: ParsedArgs, key: string): string | null => {
  const v = args.flags.get(key);
  if (v === undefined) return null;
  if (typeof v !== "string" || v === "") throw new UsageError(`--${key}: expected a path, got ${JSON.stringify(v)}`);
  return v;
};
const intFlag = (args: ParsedArgs, key: string, fallback: number): number => {
  const v = args.flags.get(key) ?? fallback;
  if (typeof v !== "number" || !Number.isInteger(v) || v <= 0) throw new UsageError(`--${key}: expected a positive integer, got ${JSON.stringify(v)}`);
  return v;
};

/** `craft eval`: loss and action error of a checkpoint on the task set and, if given, the anchor set. */
export async function runEval(args: ParsedArgs): Promise<number> {
  rejectUnknownFlags(args.flags, EVAL_FLAGS, "eval");
  const policyPath = strFlag(args, "policy.path");
  if (policyPath === null) throw new UsageError("--policy.path: expected a checkpoint (pretrained_model dir, checkpoint dir or run output_dir)");
  const device = (strFlag(args, "policy.device") ?? "auto") as "auto";
  await startBackend(device);
  const policy = await loadPi0FastPolicy(resolvePretrainedDir(policyPath));
  const exclude = (args.flags.get("dataset.exclude") as string[] | undefined) ?? [];
  const episodes = (args.flags.get("dataset.episodes") as number[] | undefined) ?? null;
  const batchSize = intFlag(args, "batch_size", 8);
  const maxFrames = smokeCap("--max_frames", intFlag(args, "max_frames", 64), SMOKE_EVAL_FRAMES);
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
