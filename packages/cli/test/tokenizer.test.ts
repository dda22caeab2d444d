import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { makeSyntheticDataset, openDataset, deltaTimestampsForChunk } from "@craft/datasets";
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
