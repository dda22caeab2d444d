import { join } from "node:path";
import { fetchDatasetRoot, isHubRepoId, pushToHub, resolveHubSnapshot } from "@craft/datasets";
import { UsageError, type ParsedArgs } from "./flags.js";
import type { LeRobotRunFlags } from "./lerobotFlags.js";

/**
 * LeRobot reads `--policy.path=ORG/NAME` (and its alias `--policy.pretrained_path`) as a Hub model
 * id and `--dataset.repo_id` as a Hub dataset: before a command runs, both are resolved in the
 * Hugging Face cache (downloaded into it when online), so the commands only ever see local folders.
 */
export async function resolveHubFlags(args: ParsedArgs, env: NodeJS.ProcessEnv = process.env): Promise<ParsedArgs> {
  const flags = new Map(args.flags);
  if (flags.has("policy.pretrained_path")) {
    if (flags.has("policy.path")) throw new UsageError("--policy.pretrained_path is LeRobot's alias of --policy.path: give one of them, not both");
    flags.set("policy.path", flags.get("policy.pretrained_path"));
    flags.delete("policy.pretrained_path");
  }
  const policyPath = flags.get("policy.path");
  if (typeof policyPath === "string" && isHubRepoId(policyPath)) {
    const revision = flags.get("policy.pretrained_revision");
    flags.set(
      "policy.path",
      await resolveHubSnapshot({ type: "model", repoId: policyPath, revision: typeof revision === "string" ? revision : undefined, field: "policy.path", env }),
    );
  }
  const repoId = flags.get("dataset.repo_id");
  const revision = flags.get("dataset.revision");
  if (typeof repoId === "string" && !flags.has("dataset.root") && isHubRepoId(repoId)) {
    await fetchDatasetRoot({ repoId, revision: typeof revision === "string" ? revision : undefined }, env);
  }
  return { ...args, flags };
}

/**
 * `--policy.push_to_hub=true --policy.repo_id=ORG/NAME`: after training, rank 0 uploads the last
 * checkpoint's pretrained_model/ (LeRobot pushes the same folder) with HF_TOKEN.
 */
export async function pushTrainedPolicy(
  run: { readonly config: { readonly lerobot: LeRobotRunFlags }; readonly outputDir: string },
  env: NodeJS.ProcessEnv = process.env,
): Promise<void> {
  const push = run.config.lerobot.push;
  const rank = env.PMI_RANK ?? env.OMPI_COMM_WORLD_RANK ?? env.SLURM_PROCID ?? "0";
  if (push === null || rank !== "0") return;
  const folder = join(run.outputDir, "checkpoints", "last", "pretrained_model");
  const { url, files } = await pushToHub({ folder, repoId: push.repo_id, private: push.private, env, commitTitle: `Upload pi0_fast policy (craft-ts, ${run.config.lerobot.job_name ?? "train"})` });
  console.error(`[craft] pushed ${files} files of ${folder} to ${url}`);
}
