import {
  addTeacherDistributions,
  buildAnchorCache,
  datasetInfoReport,
  deltaTimestampsForChunk,
  makeSyntheticDataset,
  openAnchorSet,
  readInfo,
  resolveDatasetRoot,
  makeEnv,
  SYNTHETIC_ENVS,
  SYNTHETIC_TASKS,
  type SyntheticTask,
} from "@craft/datasets";
import { checkPolicyMatchesEnv, episodeProgressLine, pi0FastClosedLoop, recordPolicyDataset } from "../rollout.js";
import { rejectUnknownFlags, UsageError, type ParsedArgs } from "../flags.js";
import { episodesFlag, withEpisodesFlag } from "../datasetSetup.js";
import { DEFAULT_TEACHER_TOP_K, type PI0FastConfig } from "@craft/policy-pi0fast";
import { startBackend } from "../backendSetup.js";
import { loadPretrainedPolicy, pretrainedChunkSize } from "../policySetup.js";

const str = (args: ParsedArgs, key: string): string | undefined => {
  const v = args.flags.get(key);
  if (v === undefined) return undefined;
  if (typeof v !== "string" || v === "") throw new UsageError(`--${key}: expected a non-empty string, got ${JSON.stringify(v)}`);
  return v;
};
const int = (args: ParsedArgs, key: string, fallback?: number): number => {
  const v = args.flags.get(key) ?? fallback;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0) throw new UsageError(`--${key}: expected a non-negative integer, got ${JSON.stringify(v)}`);
  return v;
};
const share = (args: ParsedArgs, key: string): number => {
  const v = args.flags.get(key) ?? 0;
  if (typeof v !== "number" || !(v >= 0 && v <= 1)) throw new UsageError(`--${key}: expected a share of episodes in [0, 1], got ${JSON.stringify(v)}`);
  return v;
};
const list = (args: ParsedArgs, key: string): string[] => {
  const v = args.flags.get(key);
  if (v === undefined) return [];
  if (typeof v === "string") return v.split(",").map((s) => s.trim()).filter(Boolean);
  if (Array.isArray(v) && v.every((x) => typeof x === "string")) return v;
  throw new UsageError(`--${key}: expected a list such as ["observation.images.top"], got ${JSON.stringify(v)}`);
};
const rootOf = (args: ParsedArgs): string => {
  const root = str(args, "dataset.root");
  const repoId = str(args, "dataset.repo_id");
  if (!root && !repoId) throw new UsageError("--dataset.root: expected a LeRobot dataset directory (or --dataset.repo_id), got nothing");
  return resolveDatasetRoot({ root, repoId });
};

export const DATASET_FLAGS = {
  info: ["dataset.root", "dataset.repo_id", "dataset.exclude", "dataset.episodes"],
  "make-synthetic": ["task", "episodes", "output", "seed", "fps", "image_size", "video", "overwrite", "perturbation", "policy.path", "policy.device"],
  "build-anchor-cache": ["dataset.root", "dataset.repo_id", "dataset.exclude", "dataset.episodes", "num_samples", "start_frames", "seed", "output", "chunk_size", "policy.path", "policy.device", "teacher_top_k"],
} as const;

export async function runDataset(sub: string | undefined, args: ParsedArgs): Promise<number> {
  switch (sub) {
    case "info": {
      rejectUnknownFlags(args.flags, DATASET_FLAGS.info, "dataset info");
      const root = rootOf(args);
      const exclude = list(args, "dataset.exclude");
      const episodes = episodesFlag(args.flags.get("dataset.episodes")) ?? undefined;
      console.log(await withEpisodesFlag(() => datasetInfoReport(root, { exclude, episodes })));
      return 0;
    }
    case "make-synthetic": {
      rejectUnknownFlags(args.flags, DATASET_FLAGS["make-synthetic"], "dataset make-synthetic");
      const task = str(args, "task");
      if (!task || !SYNTHETIC_TASKS.includes(task as SyntheticTask)) {
        throw new UsageError(`--task: expected one of ${SYNTHETIC_TASKS.join(", ")}, got ${JSON.stringify(task ?? null)}`);
      }
      const output = str(args, "output");
      if (!output) throw new UsageError("--output: expected the directory to write the dataset to");
      const policyPath = str(args, "policy.path");
      if (policyPath !== undefined) return recordSynthetic(args, task as SyntheticTask, output, policyPath);
      await makeSyntheticDataset(output, {
        task: task as SyntheticTask,
        episodes: int(args, "episodes", 20),
        seed: int(args, "seed", 0),
        fps: int(args, "fps", 10),
        imageSize: int(args, "image_size", 64),
        video: args.flags.get("video") === true,
        overwrite: args.flags.get("overwrite") === true,
        perturbation: share(args, "perturbation"),
      });
      console.log(`wrote synthetic "${task}" dataset to ${output}`);
      return 0;
    }
    case "build-anchor-cache": {
      rejectUnknownFlags(args.flags, DATASET_FLAGS["build-anchor-cache"], "dataset build-anchor-cache");
      const root = rootOf(args);
      const output = str(args, "output");
      if (!output) throw new UsageError("--output: expected the directory to write the anchor cache to");
      const exclude = list(args, "dataset.exclude");
      const episodes = episodesFlag(args.flags.get("dataset.episodes")) ?? undefined;
      // Only the selected episodes' videos are checked (by buildAnchorCache's open); fps is in info.json.
      const fps = readInfo(root).info.fps;
      const policyPath = str(args, "policy.path");
      const chunkSize = policyPath === undefined ? int(args, "chunk_size", 10) : teacherChunkSize(args, policyPath);
      const manifest = await withEpisodesFlag(() =>
        buildAnchorCache(root, output, {
          numSamples: int(args, "num_samples", 256),
          startFrames: int(args, "start_frames", 0),
          seed: int(args, "seed", 0),
          exclude,
          episodes,
          deltaTimestamps: { action: deltaTimestampsForChunk(fps, chunkSize) },
        }),
      );
      if (policyPath !== undefined) {
        const k = int(args, "teacher_top_k", DEFAULT_TEACHER_TOP_K);
        if (k < 1) throw new UsageError(`--teacher_top_k: expected a positive integer, got ${k}`);
        await startBackend((str(args, "policy.device") ?? "auto") as PI0FastConfig["device"], true);
        const shape = await addTeacherOutputs(output, policyPath, k);
        console.log(`stored the teacher's top-${shape[1]} log-probs at ${shape[0]} action positions per frame from ${policyPath}`);
      }
      console.log(`wrote anchor cache of ${manifest.numSamples} frames from ${root} (seed ${manifest.seed}) to ${output}`);
      return 0;
    }
    default:
      throw new UsageError(`craft dataset: expected a subcommand info | make-synthetic | build-anchor-cache, got ${JSON.stringify(sub ?? null)}`);
  }
}

/** With --policy.path the cache's action chunks are the policy's; a different --chunk_size is a mistake. */
function teacherChunkSize(args: ParsedArgs, policyPath: string): number {
  const chunk = pretrainedChunkSize(policyPath);
  const flag = args.flags.get("chunk_size");
  if (flag !== undefined && flag !== chunk) throw new UsageError(`--chunk_size: expected ${chunk} (the chunk_size of --policy.path=${policyPath}) or nothing, got ${JSON.stringify(flag)}`);
  return chunk;
}

/**
 * retention_loss=distill: run the base policy (the teacher) over every cached row, in the cache's
 * row order, and store its top-k action-token log-probs with its signature (vocab, action tokens,
 * tokenizer hash) so that a student built on other tokens is refused at train time.
 */
export async function addTeacherOutputs(cacheDir: string, policyPath: string, topK: number = DEFAULT_TEACHER_TOP_K): Promise<number[]> {
  const anchors = await openAnchorSet(cacheDir);
  const teacher = await loadPretrainedPolicy(policyPath, { embodimentStats: [anchors.stats] });
  try {
    const parts: Float32Array[] = [];
    let shape: number[] = [];
    const rowsPerPass = 8;
    for (let from = 0; from < anchors.numFrames; from += rowsPerPass) {
      const rows = Array.from({ length: Math.min(rowsPerPass, anchors.numFrames - from) }, (_, i) => from + i);
      const out = await teacher.teacherTopLogProbs(await anchors.getFrames(rows), topK);
      parts.push(out.data);
      shape = out.shape.slice(1);
    }
    const data = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
    parts.reduce((off, p) => (data.set(p, off), off + p.length), 0);
    await addTeacherDistributions(cacheDir, { shape, data, signature: { ...teacher.teacherSignature() } });
    return shape;
  } finally {
    teacher.dispose();
    await anchors.close();
  }
}

/**
 * `craft dataset make-synthetic --policy.path=…`: the task's episodes acted by a policy in closed
 * loop instead of the scripted expert, recorded as a dataset (see recordPolicyDataset).
 */
async function recordSynthetic(args: ParsedArgs, task: SyntheticTask, output: string, policyPath: string): Promise<number> {
  for (const flag of ["fps", "video"] as const) {
    if (args.flags.has(flag)) throw new UsageError(`--${flag}: not with --policy.path (the environment's fps and embedded images are recorded)`);
  }
  if (args.flags.has("perturbation")) throw new UsageError("--perturbation: not with --policy.path (it detours the scripted expert's episodes; the policy starts where the scene puts the arm)");
  const imageSize = int(args, "image_size", 64);
  await startBackend((str(args, "policy.device") ?? "auto") as PI0FastConfig["device"], true);
  const policy = await loadPretrainedPolicy(policyPath);
  try {
    const env = SYNTHETIC_ENVS[task][0]!;
    checkPolicyMatchesEnv(policy, makeEnv({ type: env.type, task: env.task, imageSize }), policyPath);
    const results = await recordPolicyDataset(pi0FastClosedLoop(policy), output, {
      task,
      episodes: int(args, "episodes", 20),
      seed: int(args, "seed", 0),
      imageSize,
      batchSize: 10,
      overwrite: args.flags.get("overwrite") === true,
      onProgress: episodeProgressLine,
    });
    const successes = results.filter((r) => r.success).length;
    console.log(`wrote "${task}" acted by ${policyPath} to ${output}: ${results.length} episodes, ${successes} successful`);
    return 0;
  } finally {
    policy.dispose();
  }
}
