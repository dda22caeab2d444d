import { join } from "node:path";
import { homedir } from "node:os";
import { mkdirSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { resolveDatasetRoot, DatasetError } from "../src/index.js";
import { lerobotHome } from "../src/resolve.js";
import { tempDir } from "./helpers.js";

describe("resolving --dataset.root / --dataset.repo_id", () => {
  it("maps a repo_id under $HF_LEROBOT_HOME, defaulting to ~/.cache/huggingface/lerobot", () => {
    expect(lerobotHome({})).toBe(join(homedir(), ".cache/huggingface/lerobot"));
    expect(lerobotHome({ HF_HOME: "/data/hf" })).toBe("/data/hf/lerobot");
    const home = tempDir("hf");
    mkdirSync(join(home, "user/so101"), { recursive: true });
    expect(resolveDatasetRoot({ repoId: "user/so101" }, { HF_LEROBOT_HOME: home })).toBe(join(home, "user/so101"));
  });

  it("names the directory it expected when the dataset is absent", () => {
    let err: unknown;
    try {
      resolveDatasetRoot({ repoId: "lerobot/pusht" }, {});
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DatasetError);
    expect((err as DatasetError).file).toBe(join(homedir(), ".cache/huggingface/lerobot/lerobot/pusht"));
    expect((err as DatasetError).message).toContain("dataset.repo_id");
    expect(() => resolveDatasetRoot({})).toThrow(/dataset\.root \/ dataset\.repo_id/);
  });
});
