/** The dataset, tokenizer and run-level sections decode from their one declaration (runSections.ts): defaults, values, one line per problem. */
import { describe, expect, it } from "vitest";
import { parseArgs } from "../src/flags.js";
import * as E from "fp-ts/lib/Either.js";
import { decodeRun, resolveRunConfig, TRAIN_FLAG_DEFAULTS, TRAIN_FLAGS } from "../src/runConfig.js";
import { DATASET_FIELDS, ENV_FIELDS, EVAL_FIELDS, POLICY_FROM_PATH, RUN_FIELDS, TOKENIZER_FIELDS } from "../src/runSections.js";
import { problemsOf } from "./helpers.js";

const base = ["--dataset.root=/nonexistent/data", "--output_dir=/tmp/never-written", "--steps=5"];
const run = (...flags: string[]) => resolveRunConfig(parseArgs([...base, ...flags]), "train", { craft: false });

describe("run sections declared once", () => {
  it("absent flags take the declared defaults", () => {
    const config = run();
    expect(config.dataset).toEqual({ root: "/nonexistent/data", repo_id: null, episodes: null, exclude: [], stats_roots: [], rename_map: {} });
    expect(config.tokenizer).toEqual({ path: null, vocab_size: TOKENIZER_FIELDS.vocab_size.default, scale: TOKENIZER_FIELDS.scale.default });
    expect(config.tokenizer.vocab_size).toBe(1024);
    expect([config.distributed, config.overwrite]).toEqual([RUN_FIELDS.distributed.default, RUN_FIELDS.overwrite.default]);
  });

  it("given values are decoded: comma lists and JSON lists, numbers, the distributed mode", () => {
    const config = run(
      "--dataset.exclude=observation.images.top,observation.images.wrist",
      '--dataset.stats_roots=["/a","/b"]',
      "--dataset.episodes=[0,2]",
      "--tokenizer.vocab_size=256",
      "--tokenizer.scale=2.5",
      "--distributed=off",
      "--overwrite=true",
    );
    expect(config.dataset.exclude).toEqual(["observation.images.top", "observation.images.wrist"]);
    expect(config.dataset.stats_roots).toEqual(["/a", "/b"]);
    expect(config.dataset.episodes).toEqual([0, 2]);
    expect(config.tokenizer).toMatchObject({ vocab_size: 256, scale: 2.5 });
    expect([config.distributed, config.overwrite]).toEqual(["off", true]);
  });

  it("every bad value is one line naming the flag, the expected value and what was given, all reported together", () => {
    const problems = problemsOf(() =>
      run("--dataset.exclude=[1]", "--dataset.episodes=1.5", "--tokenizer.vocab_size=0", "--tokenizer.scale=-1", "--distributed=nccl", "--overwrite=maybe"),
    );
    expect(problems).toEqual([
      "dataset.episodes: expected a list of distinct episode indices such as [0,1,2], or one index such as 3 (non-negative integers), got 1.5",
      'dataset.exclude: expected a list of strings such as ["observation.images.top"], got [1]',
      "tokenizer.vocab_size: expected a positive integer, got 0",
      "tokenizer.scale: expected a positive number, got -1",
      'distributed: expected one of off, mpi, auto, got "nccl"',
      'overwrite: expected true or false, got "maybe"',
    ]);
  });

  it("no dataset is one line naming --dataset.root", () => {
    const problems = problemsOf(() => resolveRunConfig(parseArgs(["--output_dir=/tmp/never-written"]), "train", { craft: false }));
    expect(problems).toEqual(["dataset.root: expected a LeRobot dataset directory (or --dataset.repo_id=<owner/name> in the LeRobot cache), got nothing"]);
  });

  it("env and eval decode from their declarations; a bad value is one line naming the flag", () => {
    const config = run("--env.type=two_target", "--env.task=red", "--eval.batch_size=2");
    expect(config.env).toEqual({ type: "two_target", task: "red", n_episodes: EVAL_FIELDS.n_episodes.default, batch_size: 2 });
    expect(run().env).toBeNull();
    expect(problemsOf(() => run("--env.type=reach", "--eval.n_episodes=0"))).toEqual(["eval.n_episodes: expected a positive integer, got 0"]);
    expect(problemsOf(() => run("--env.type=5"))).toEqual(["env.type: expected reach | push | two_target, got 5"]);
    expect(problemsOf(() => run("--env.type=pusht"))).toEqual(['env.type: expected reach | push | two_target, got "pusht"']);
    expect(problemsOf(() => run("--eval.n_episodes=3"))).toEqual([
      "env.type: expected the environment to evaluate in (reach | push | two_target) with --env.task/--eval.*, got nothing",
    ]);
  });

  it("the accepted flags and --help defaults come from the declarations", () => {
    for (const key of Object.keys(DATASET_FIELDS)) expect(TRAIN_FLAGS).toContain(`dataset.${key}`);
    for (const key of Object.keys(TOKENIZER_FIELDS)) expect(TRAIN_FLAGS).toContain(`tokenizer.${key}`);
    for (const key of Object.keys(ENV_FIELDS)) expect(TRAIN_FLAGS).toContain(`env.${key}`);
    for (const key of Object.keys(EVAL_FIELDS)) expect(TRAIN_FLAGS).toContain(`eval.${key}`);
    expect(TRAIN_FLAG_DEFAULTS.get("eval.n_episodes")).toBe(EVAL_FIELDS.n_episodes.default);
    expect(TRAIN_FLAG_DEFAULTS.get("tokenizer.scale")).toBe(TOKENIZER_FIELDS.scale.default);
    expect(TRAIN_FLAG_DEFAULTS.get("distributed")).toBe("auto");
    expect(TRAIN_FLAG_DEFAULTS.has("dataset.root")).toBe(false);
  });

  it("--policy.path lets exactly the declared fields change; each other field is one line saying which may", () => {
    const fromPath = (...flags: string[]) => run("--policy.path=/nonexistent/ckpt", ...flags);
    const allowed = [...POLICY_FROM_PATH.fields.map((f) => `--policy.${f}=${f === "type" ? "pi0_fast" : "x"}`), "--policy.optimizer_lr=0.001", "--policy.scheduler_warmup_steps=3"];
    const config = fromPath(...allowed);
    expect(config.policyPath).toBe("/nonexistent/ckpt");
    expect(config.policy).toBeNull();
    expect(config.policyOverrides).toMatchObject({ device: "x", optimizer_lr: 0.001, scheduler_warmup_steps: 3 });
    expect(config.train.optimizer.lr).toBe(0.001);
    expect(problemsOf(() => fromPath("--policy.chunk_size=5", "--policy.vision.width=8", "--policy.optimizer_lr=0.001"))).toEqual([
      "policy.chunk_size: cannot be changed with --policy.path (the checkpoint's config.json defines the model); only policy.device, policy.optimizer_* and policy.scheduler_* may be overridden",
      "policy.vision: cannot be changed with --policy.path (the checkpoint's config.json defines the model); only policy.device, policy.optimizer_* and policy.scheduler_* may be overridden",
    ]);
  });

  it("the push to the Hub is read from the decoded policy section, from a checkpoint's overrides too", () => {
    expect(run("--policy.path=/ckpt", "--policy.push_to_hub=true", "--policy.repo_id=me/p", "--policy.private=true").lerobot.push).toEqual({ repo_id: "me/p", private: true });
    expect(run("--policy.path=/ckpt", "--policy.repo_id=me/p").lerobot.push).toBeNull();
    expect(run("--policy.push_to_hub=true", "--policy.repo_id=me/p").lerobot.push).toEqual({ repo_id: "me/p", private: false });
  });

  it("the policy's own run fields are declared: a bad path or type is one line each", () => {
    expect(problemsOf(() => run("--policy.path=5"))).toEqual(["policy.path: expected a path (string), got 5"]);
    expect(problemsOf(() => run("--policy.type=act"))).toEqual(['policy.type: expected "pi0_fast" (the only policy craft-ts ships), got "act"']);
    expect(problemsOf(() => run("--policy.path=/ckpt", "--policy.type=act"))).toEqual(['policy.type: expected "pi0_fast" (the only policy craft-ts ships), got "act"']);
    expect(run("--policy.chunk_size=7", "--policy.n_action_steps=7").policy).toMatchObject({ preset: "tiny", chunk_size: 7, n_action_steps: 7 });
  });

  it("one decode: every section's problems together, in section order, and the input is left as given", () => {
    const nested = {
      policy: { chunk_size: 0 },
      dataset: { episodes: 1.5, image_transforms: 5 },
      tokenizer: { scale: -1 },
      distributed: "nccl",
      num_workers: -1,
      steps: 0,
      craft: { lambda_lr: "fast" },
      env: { type: "reach" },
      eval: { n_episodes: 0 },
    };
    const before = JSON.stringify(nested);
    const decoded = decodeRun(nested, "train", { craft: false });
    expect(JSON.stringify(nested)).toBe(before);
    if (E.isRight(decoded)) throw new Error("expected problems");
    const fields = decoded.left.map((p) => p.split(":")[0].replace(/^field `(.*)`$/, "$1"));
    expect(fields).toEqual(["policy.chunk_size", "dataset.episodes", "tokenizer.scale", "distributed", "num_workers", "dataset.image_transforms", "steps", "craft.lambda_lr", "eval.n_episodes"]);
  });
});
