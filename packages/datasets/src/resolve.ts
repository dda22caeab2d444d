import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { DatasetError } from "./errors.js";

/** `$HF_LEROBOT_HOME`, default `~/.cache/huggingface/lerobot` (LeRobot's convention). */
export const lerobotHome = (env: NodeJS.ProcessEnv = process.env): string =>
  env.HF_LEROBOT_HOME ?? join(env.HF_HOME ?? join(homedir(), ".cache/huggingface"), "lerobot");

/**
 * The directory of a dataset given `--dataset.root` or `--dataset.repo_id`
 * (`repo_id` → `$HF_LEROBOT_HOME/<repo_id>`). Fails naming the directory it expected.
 */
export const resolveDatasetRoot = (o: { root?: string; repoId?: string }, env: NodeJS.ProcessEnv = process.env): string => {
  if (o.root !== undefined && o.root !== "") {
    const root = resolve(o.root);
    if (!existsSync(root)) throw new DatasetError("MissingFile", { file: root, field: "dataset.root", expected: "an existing dataset directory" });
    return root;
  }
  if (o.repoId !== undefined && o.repoId !== "") {
    const root = join(lerobotHome(env), o.repoId);
    if (!existsSync(root)) {
      throw new DatasetError("MissingFile", {
        file: root,
        field: "dataset.repo_id",
        expected: `the dataset ${o.repoId} downloaded to ${root}`,
        hint: "set HF_LEROBOT_HOME or pass --dataset.root=DIR",
      });
    }
    return root;
  }
  throw new DatasetError("InvalidOption", { file: "(command line)", field: "dataset.root / dataset.repo_id", expected: "one of them", actual: "neither" });
};
