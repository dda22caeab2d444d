import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { parseArgs } from "../src/flags.js";
import { resolveRunConfig } from "../src/runConfig.js";
import { craft, MICRO_POLICY, syntheticPair, tempDir } from "./helpers.js";
import { FAKE_HUB_COMMIT as COMMIT, fakeHub } from "./fake-hub.js";

const SPARSE_SCRIPT = new URL("../../policy-pi0fast/test/fixtures/sparse_pi0fast_checkpoint.py", import.meta.url).pathname;
const LEROBOT_CONFIG = [new URL("../../../../shared/lerobot/pi0_fast/config.json", import.meta.url).pathname, "/work/shared/lerobot/pi0_fast/config.json"].find((p) => existsSync(p))!;

const dirs: string[] = [];
const saved = { ...process.env };
afterEach(() => {
  for (const k of ["HF_HUB_CACHE", "HF_HUB_OFFLINE", "HF_TOKEN", "HF_ENDPOINT"]) {
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  }
});
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** lerobot/pi0fast-base in a Hugging Face cache: LeRobot's config.json and a sparse 3B model.safetensors. */
function hubCacheWith3bPolicy(): string {
  const cache = tempDir("hf");
  dirs.push(cache);
  const repo = join(cache, "models--lerobot--pi0fast-base");
  const snapshot = join(repo, "snapshots", COMMIT);
  mkdirSync(snapshot, { recursive: true });
  mkdirSync(join(repo, "refs"));
  writeFileSync(join(repo, "refs", "main"), COMMIT);
  execFileSync("/usr/bin/python3", [SPARSE_SCRIPT, snapshot, LEROBOT_CONFIG]);
  return cache;
}

describe("craft policy info", () => {
  it("reads a Hub id from the HF cache and prints type, variant, parameters and dtype from the header", async () => {
    process.env.HF_HUB_CACHE = hubCacheWith3bPolicy();
    process.env.HF_HUB_OFFLINE = "1";
    const r = await craft(["policy", "info", "--policy.path=lerobot/pi0fast-base"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("type: pi0_fast");
    expect(r.stdout).toContain("variant: paligemma_variant=gemma_2b, preset=paligemma_3b");
    expect(r.stdout).toMatch(/parameters: 2,9\d\d,\d{3},\d{3} \(2\.9\dB\)/);
    expect(r.stdout).toMatch(/dtype: F32 2,9\d\d,\d{3},\d{3} \(config dtype float32/);
    expect(r.stdout).toContain("weights: all 603 tensors match the paligemma_3b shapes");
    expect(r.stdout).toContain("observation.images.front");
    expect(r.stdout).toContain("normalization: VISUAL=IDENTITY, STATE=MEAN_STD, ACTION=MEAN_STD");
    expect(r.stdout).toContain("text tokenizer: google/paligemma-3b-pt-224");
    const alias = await craft(["policy", "info", "--policy.pretrained_path=lerobot/pi0fast-base", "--json"]);
    expect(alias.code).toBe(0);
    expect(JSON.parse(alias.stdout).paligemma_variant).toBe("gemma_2b");
  });

  it("offline and not cached: one line naming the folder to fill", async () => {
    const cache = tempDir("hf-empty");
    dirs.push(cache);
    process.env.HF_HUB_CACHE = cache;
    process.env.HF_HUB_OFFLINE = "1";
    const r = await craft(["policy", "info", "--policy.path=lerobot/pi0fast-base"]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toContain(`${join(cache, "models--lerobot--pi0fast-base")}: field "policy.path"`);
  });
});

describe("LeRobot's train flags", () => {
  const base = ["--dataset.root=/data/task", "--steps=1", "--output_dir=/tmp/x"];
  it("accepts them, passes rename_map to the dataset spec, and gives a notice for those without effect", () => {
    const errors: string[] = [];
    const error = console.error;
    console.error = (...a: unknown[]) => void errors.push(a.join(" "));
    try {
      const run = resolveRunConfig(
        parseArgs([
          ...base,
          "--job_name=so101_pi0fast",
          '--rename_map={"observation.images.top":"observation.images.front"}',
          "--num_workers=8",
          "--eval_freq=2000",
          "--dataset.image_transforms.enable=true",
          "--dataset.image_transforms.max_num_transforms=3",
          "--policy.dtype=bfloat16",
          "--policy.push_to_hub=false",
          "--policy.repo_id=me/policy",
        ]),
        "train",
        { craft: false },
      );
      expect(run.dataset.rename_map).toEqual({ "observation.images.top": "observation.images.front" });
      expect(run.lerobot.job_name).toBe("so101_pi0fast");
      expect(run.lerobot.push).toBeNull();
      expect(run.policy?.dtype).toBe("bfloat16");
      expect(run.lerobot.image_transforms).toEqual({ enable: true, max_num_transforms: 3 });
    } finally {
      console.error = error;
    }
    expect(errors).toHaveLength(3);
    expect(errors[0]).toMatch(/^\[craft\] notice: --num_workers=8: /);
    expect(errors[1]).toMatch(/^\[craft\] notice: --eval_freq=2000: /);
    expect(errors[2]).toMatch(/^\[craft\] notice: --dataset\.image_transforms\.enable=true: /);
  });

  it("push_to_hub=true without a repo_id uploads nothing, with a notice; with one, the run carries the push", () => {
    const alone = resolveRunConfig(parseArgs([...base, "--policy.push_to_hub=true"]), "train", { craft: false });
    expect(alone.lerobot.push).toBeNull();
    expect(alone.lerobot.notices).toEqual(["--policy.push_to_hub=true without --policy.repo_id=ORG/NAME: nothing will be uploaded"]);
    const run = resolveRunConfig(parseArgs([...base, "--policy.push_to_hub=true", "--policy.repo_id=me/policy"]), "train", { craft: false });
    expect(run.lerobot.push).toEqual({ repo_id: "me/policy", private: false });
    expect(() => resolveRunConfig(parseArgs([...base, "--rename_map=[1]"]), "train", { craft: false })).toThrow(/^rename_map: expected a JSON object/);
  });
});

describe("a craft run's checkpoint in LeRobot's layout", () => {
  it("holds LeRobot's files, train_config.json included, and craft policy info reads it", async () => {
    const data = await syntheticPair();
    const out = join(tempDir("layout"), "run");
    dirs.push(out);
    const r = await craft(["train", ...MICRO_POLICY, `--dataset.root=${data.reach}`, "--batch_size=4", "--steps=1", `--output_dir=${out}`, "--job_name=layout"]);
    expect(r.code, r.stderr).toBe(0);
    const folder = join(out, "checkpoints", "last", "pretrained_model");
    expect(readdirSync(folder)).toEqual(
      expect.arrayContaining([
        "config.json",
        "craft_config.json",
        "model.safetensors",
        "policy_preprocessor.json",
        "policy_preprocessor_step_3_normalizer_processor.safetensors",
        "policy_postprocessor.json",
        "policy_postprocessor_step_0_unnormalizer_processor.safetensors",
        "train_config.json",
      ]),
    );
    const config = JSON.parse(readFileSync(join(folder, "config.json"), "utf8"));
    expect(config.type).toBe("pi0_fast");
    expect(config).not.toHaveProperty("preset");
    expect(JSON.parse(readFileSync(join(folder, "train_config.json"), "utf8"))).toEqual(JSON.parse(readFileSync(join(out, "train_config.json"), "utf8")));
    const info = await craft(["policy", "info", `--policy.path=${out}/checkpoints/last`, "--json"]);
    expect(info.code, info.stderr).toBe(0);
    const summary = JSON.parse(info.stdout);
    expect(summary.preset).toBe("tiny");
    expect(summary.missing).toEqual([]);
    expect(summary.unexpected).toEqual([]);
    expect(summary.output_features.action.type).toBe("ACTION");

    // The same folder on a (local, fake) Hub: downloaded into the HF cache layout, then read.
    const hub = await fakeHub({ "me/layout-test": folder });
    const cache = tempDir("hf-download");
    dirs.push(cache);
    process.env.HF_ENDPOINT = hub.url;
    process.env.HF_HUB_CACHE = cache;
    try {
      const remote = await craft(["policy", "info", "--policy.path=me/layout-test", "--json"]);
      expect(remote.code, remote.stderr).toBe(0);
      const snapshot = join(cache, "models--me--layout-test", "snapshots", COMMIT);
      expect(JSON.parse(remote.stdout)).toEqual({ ...summary, dir: snapshot });
      expect(readFileSync(join(cache, "models--me--layout-test", "refs", "main"), "utf8")).toBe(COMMIT);
      expect(readFileSync(join(snapshot, "model.safetensors"))).toEqual(readFileSync(join(folder, "model.safetensors")));
      expect(hub.requests).toContain(`GET /api/models/me/layout-test/revision/main`);
      // Cached now: offline, the same answer without a request.
      const before = hub.requests.length;
      process.env.HF_HUB_OFFLINE = "1";
      expect((await craft(["policy", "info", "--policy.path=me/layout-test", "--json"])).code).toBe(0);
      expect(hub.requests.length).toBe(before);
    } finally {
      hub.server.close();
    }
  });
});
