import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { DatasetError } from "./errors.js";
import { cachedSnapshot, hubRepoFolder, resolveHubSnapshot } from "./hub.js";

/** `$HF_LEROBOT_HOME`, default `~/.cache/huggingface/lerobot` (LeRobot's convention). */
export const lerobotHome = (env: NodeJS.ProcessEnv = process.env): string =>
  env.HF_LEROBOT_HOME ?? join(env.HF_HOME ?? join(homedir(), ".cache/huggingface"), "lerobot");

/**
 * The directory of a dataset given `--dataset.root` or `--dataset.repo_id`
 * (`repo_id` → `$HF_LEROBOT_HOME/<repo_id>`). Fails naming the directory it expected.
 */
export const resolveDatasetRoot = (o: { root?: string; repoId?: string; revision?: string }, env: NodeJS.ProcessEnv = process.env): string => {
  if (o.root !== undefined && o.root !== "") {
    const root = resolve(o.root);
    if (!existsSync(root)) throw new DatasetError("MissingFile", { file: root, field: "dataset.root", expected: "an existing dataset directory" });
    return root;
  }
  if (o.repoId !== undefined && o.repoId !== "") {
    const root = join(lerobotHome(env), o.repoId);
    if (existsSync(root)) return root;
    const snapshot = cachedSnapshot("dataset", o.repoId, o.revision, env);
    if (snapshot !== undefined) return snapshot;
    throw new DatasetError("MissingFile", {
      file: root,
      field: "dataset.repo_id",
      expected: `the dataset ${o.repoId} downloaded to ${root} or to the Hugging Face cache ${hubRepoFolder("dataset", o.repoId, env)}`,
      hint: "set HF_LEROBOT_HOME or HF_HUB_CACHE, or pass --dataset.root=DIR",
    });
  }
  throw new DatasetError("InvalidOption", { file: "(command line)", field: "dataset.root / dataset.repo_id", expected: "one of them", actual: "neither" });
};

/**
 * As resolveDatasetRoot, and when a `repo_id` is in neither cache, download it into the Hugging
 * Face cache (unless HF_HUB_OFFLINE is set; then the error names the folder to fill).
 */
export async function fetchDatasetRoot(o: { root?: string; repoId?: string; revision?: string }, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  try {
    return resolveDatasetRoot(o, env);
  } catch (error) {
    if (o.root || !o.repoId) throw error;
    return resolveHubSnapshot({ type: "dataset", repoId: o.repoId, revision: o.revision, field: "dataset.repo_id", env });
  }
}
