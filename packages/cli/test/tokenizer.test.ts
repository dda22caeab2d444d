import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { makeSyntheticDataset, openDataset, deltaTimestampsForChunk, writeDataset } from "@craft/datasets";
import { featureNormalizer, loadFastTokenizer } from "@craft/policy-pi0fast";
import { craft, MICRO_POLICY, tempDir } from "./helpers";

describe("craft tokenizer fit", () => {
  it("writes a UniversalActionProcessor directory that round-trips the dataset's normalised chunks", async () => {
    const dir = tempDir("tok");
    const root = join(dir, "reach");
    await makeSyntheticDataset(root, { task: "reach", episodes: 2, seed: 0, imageSize: 16, fps: 10 });
    const out = join(dir, "fast");
    const run = await craft(["tokenizer", "fit", `--dataset.root=${root}`, "--chunk_size=5", "--vocab_size=200", "--normalization_mode=QUANTILES", `--output=${out}`]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/fitted FAST tokenizer \(vocab \d+, scale 10, chunk 5×\d+\)/);
    const config = JSON.parse(readFileSync(join(out, "processor_config.json"), "utf8"));
    expect(config).toMatchObject({ processor_class: "UniversalActionProcessor", scale: 10, vocab_size: 200, time_horizon: 5 });
    expect(existsSync(join(out, "tokenizer.json"))).toBe(true);

    const fast = loadFastTokenizer(out);
    const dataset = await openDataset(root, { deltaTimestamps: { action: deltaTimestampsForChunk(10, 5) } });
    const batch = await dataset.getFrames([0, 7, 20]);
    const [b, t, d] = batch.features.action.shape;
    expect(config.action_dim).toBe(d);
    const normalizer = featureNormalizer(dataset.stats, "action", "QUANTILES");
    for (let i = 0; i < b; i++) {
      const chunk = normalizer.normalize(Float32Array.from((batch.features.action.data as Float32Array).subarray(i * t * d, (i + 1) * t * d)));
      const decoded = fast.decode(fast.encode(chunk));
      expect(decoded.valid).toBe(true);
      // each DCT coefficient is off by at most 0.5 / scale; the orthonormal inverse keeps it per value in L2
      const err = Math.sqrt(chunk.reduce((s, v, j) => s + (v - decoded.actions[j]) ** 2, 0) / chunk.length);
      expect(err).toBeLessThanOrEqual(0.05 + 1e-6);
    }
    await dataset.close();
  });

  it("refuses an unknown normalization mode in one line", async () => {
    const run = await craft(["tokenizer", "fit", "--dataset.root=/nonexistent", "--normalization_mode=MEANSTD"]);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain('--normalization_mode: expected one of IDENTITY, MEAN_STD, MIN_MAX, QUANTILES, QUANTILE10, got "MEANSTD"');
  });
});

describe("--rename_map", () => {
  it("maps the dataset's camera key to the policy's, which the checkpoint then names", async () => {
    const dir = tempDir("rename");
    const root = join(dir, "reach");
    await makeSyntheticDataset(root, { task: "reach", episodes: 2, seed: 0, imageSize: 32, fps: 10 });
    const out = join(dir, "run");
    const run = await craft([
      "train",
      ...MICRO_POLICY,
      `--dataset.root=${root}`,
      '--rename_map={"observation.images.front":"observation.images.top"}',
      "--batch_size=2",
      "--steps=1",
      `--output_dir=${out}`,
    ]);
    expect(run.code, run.stderr).toBe(0);
    const config = JSON.parse(readFileSync(join(out, "checkpoints", "last", "pretrained_model", "config.json"), "utf8"));
    expect(JSON.stringify(config)).toContain("observation.images.top");
    expect(JSON.stringify(config)).not.toContain("observation.images.front");
  });
});

/** A small LeRobot v3.0 dataset of a robot with `dim` state/action values and the synthetic tasks' camera. */
async function robotDataset(root: string, dim: number, seed: number): Promise<void> {
  const frame = (e: number, t: number) => {
    const wave = (k: number) => Math.sin(0.4 * t + k + seed + e) * (1 + k / dim);
    return {
      "observation.state": Float32Array.from({ length: dim }, (_, k) => wave(k)),
      action: Float32Array.from({ length: dim }, (_, k) => wave(k + 0.5)),
      "observation.images.front": new Uint8Array(32 * 32 * 3).fill((t * 9 + seed * 40) % 256),
    };
  };
  await writeDataset(root, {
    fps: 10,
    features: {
      "observation.state": { dtype: "float32", shape: [dim] },
      action: { dtype: "float32", shape: [dim] },
      "observation.images.front": { dtype: "image", shape: [32, 32, 3] },
    },
    episodes: [0, 1].map((e) => ({ task: "move the robot", frames: Array.from({ length: 12 }, (_, t) => frame(e, t)) })),
  });
}

describe("cross-embodiment through the CLI", () => {
  it("fine-tunes a base trained on the arm on a 3-dim robot, with anchors from a 5-dim one", async () => {
    const dir = tempDir("xemb");
    const arm = join(dir, "reach");
    await makeSyntheticDataset(arm, { task: "reach", episodes: 2, seed: 0, imageSize: 32, fps: 10 });
    const small = join(dir, "small");
    const third = join(dir, "third");
    await robotDataset(small, 3, 1);
    await robotDataset(third, 5, 2);
    const base = join(dir, "base");
    const first = await craft(["train", ...MICRO_POLICY, `--dataset.root=${arm}`, "--batch_size=2", "--steps=1", `--output_dir=${base}`]);
    expect(first.code, first.stderr).toBe(0);
    const tuned = join(dir, "tuned");
    const run = await craft([
      "train-craft",
      `--policy.path=${base}`,
      "--policy.device=wasm",
      `--dataset.root=${small}`,
      `--dataset.stats_roots=["${third}"]`,
      `--craft.anchor_dataset_path=${third}`,
      "--batch_size=2",
      "--steps=2",
      `--output_dir=${tuned}`,
    ]);
    expect(run.code, run.stderr).toBe(0);
    const metrics = readFileSync(join(tuned, "metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
    const last = metrics[metrics.length - 1];
    expect(Number.isFinite(last.loss) && Number.isFinite(last.retention_loss)).toBe(true);
  });
});
