import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { makeSyntheticDataset } from "@craft/datasets";
import { afterAll, describe, expect, it } from "vitest";
import { parseArgs } from "../src/flags.js";
import { anchorCacheStep, EPSILON_END_FACTOR, EPSILON_START_FACTOR, runConfigOf } from "../src/pipeline.js";
import { resolveRunConfig } from "../src/runConfig.js";
import { problemsOf, tempDir } from "./helpers.js";

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe("one decode of the run configuration", () => {
  const base = ["--dataset.root=/nonexistent/data", "--output_dir=/tmp/never-written", "--steps=5"];

  it("craft train --craft.enable=true is a CRaFT run once decoded: named train-craft, its anchor set required", () => {
    const problems = problemsOf(() => resolveRunConfig(parseArgs([...base, "--craft.enable=true"]), "train", { craft: false }));
    expect(problems).toEqual(["craft.anchor_dataset_path: expected the anchor dataset (or anchor cache) holding the skill to retain, got nothing"]);
    const run = resolveRunConfig(parseArgs([...base, "--craft.enable=true", "--craft.anchor_dataset_path=/a"]), "train", { craft: false });
    expect(run.command).toBe("train-craft");
    expect(run.train.craft.enable).toBe(true);
    const plain = resolveRunConfig(parseArgs([...base, "--craft.enable=false"]), "train", { craft: false });
    expect(plain.command).toBe("train");
    expect(plain.train.craft.enable).toBe(false);
  });

  it("a bad craft value is reported once, with its field, beside the trainer's own problems", () => {
    const problems = problemsOf(() => resolveRunConfig(parseArgs([...base, "--craft.epsilon_end=-1", "--batch_size=0"]), "train-craft", { craft: true }));
    expect(problems.filter((p) => p.startsWith("craft.epsilon_end"))).toEqual(["craft.epsilon_end: expected number ≥ 0, got -1"]);
    expect(problems.some((p) => p.includes("batch_size"))).toBe(true);
    // An invalid craft section cannot also be blamed for a missing anchor path.
    expect(problems.some((p) => p.startsWith("craft.anchor_dataset_path"))).toBe(false);
  });

  it("a pipeline plan decodes to the run the same flags give", () => {
    const plan = {
      outputDir: "/tmp/never-written-plan",
      datasetRoot: "/data/push",
      episodes: [0, 1],
      policyPath: "/runs/base",
      steps: 7,
      saveFreq: 7,
      batchSize: 4,
      seed: 3,
      logFreq: 5,
      device: "wasm",
      lr: { peak: 3e-3, decayTo: 3e-3, warmupSteps: 0 },
      craft: { anchor_dataset_path: "/anchors", epsilon_start: 1.5, epsilon_end: 1.2, surgery: "none" as const },
    };
    const fromFlags = resolveRunConfig(
      parseArgs([
        "--policy.path=/runs/base",
        "--policy.device=wasm",
        "--policy.optimizer_lr=0.003",
        "--policy.scheduler_warmup_steps=0",
        "--policy.scheduler_decay_lr=0.003",
        "--dataset.root=/data/push",
        "--dataset.episodes=[0,1]",
        "--batch_size=4",
        "--seed=3",
        "--log_freq=5",
        "--steps=7",
        "--save_freq=7",
        "--output_dir=/tmp/never-written-plan",
        "--craft.anchor_dataset_path=/anchors",
        "--craft.epsilon_start=1.5",
        "--craft.epsilon_end=1.2",
        "--craft.surgery=none",
      ]),
      "train-craft",
      { craft: true },
    );
    expect(runConfigOf(plan)).toEqual(fromFlags);
    const { craft: _c, ...naive } = plan;
    expect(runConfigOf(naive).train.craft.enable).toBe(false);
    expect(runConfigOf(naive).command).toBe("train");
  });
});

describe("pipeline steps", () => {
  it("ε starts looser than it ends, both above the base's own anchor loss", () => {
    expect(EPSILON_START_FACTOR).toBeGreaterThan(EPSILON_END_FACTOR);
    expect(EPSILON_END_FACTOR).toBeGreaterThan(1);
  });

  it("the anchor cache's action window follows the dataset's fps, not a fixed 10", async () => {
    const dir = tempDir("pipeline");
    dirs.push(dir);
    const root = join(dir, "reach20");
    await makeSyntheticDataset(root, { task: "reach", episodes: 2, seed: 0, imageSize: 32, fps: 20 });
    const cache = join(dir, "anchors");
    await anchorCacheStep(root, cache, { numSamples: 4, seed: 0, chunkSize: 3 });
    const manifest = JSON.parse(readFileSync(join(cache, "anchor_manifest.json"), "utf8")) as { options: { deltaTimestamps: { action: number[] } } };
    // chunk_size 3 at 20 fps: the current frame and the next two, 0.05 s apart.
    expect(manifest.options.deltaTimestamps.action).toEqual([0, 0.05, 0.1]);
  });

  it("a re-run reuses its anchor cache only if it is the same selection, and names the field otherwise", async () => {
    const dir = tempDir("pipeline");
    dirs.push(dir);
    const root = join(dir, "reach");
    await makeSyntheticDataset(root, { task: "reach", episodes: 3, seed: 0, imageSize: 32 });
    const cache = join(dir, "anchors");
    await anchorCacheStep(root, cache, { numSamples: 8, seed: 0, chunkSize: 3, startFrames: 1 });
    const manifest = JSON.parse(readFileSync(join(cache, "anchor_manifest.json"), "utf8")) as { selection: { frameIndices: number[]; startFrames: number } };
    expect(manifest.selection.startFrames).toBe(1);
    expect(manifest.selection.frameIndices.filter((f) => f === 0).length).toBeGreaterThanOrEqual(3);
    const before = readFileSync(join(cache, "anchors.parquet"));
    await anchorCacheStep(root, cache, { numSamples: 8, seed: 0, chunkSize: 3, startFrames: 1 });
    expect(readFileSync(join(cache, "anchors.parquet")).equals(before)).toBe(true);
    await expect(anchorCacheStep(root, cache, { numSamples: 8, seed: 0, chunkSize: 3 })).rejects.toThrow(
      /anchor_manifest\.json: field "selection": expected 8 anchors with start_frames=0 \(this version's\), got 8 with 1; use a new --output_dir/,
    );
    expect(readFileSync(join(cache, "anchors.parquet")).equals(before)).toBe(true);
  });
});
