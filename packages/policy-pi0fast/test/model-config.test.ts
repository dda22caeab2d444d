import { describe, expect, it } from "vitest";
import { decodePI0FastConfig, learningRateAt, pi0FastConfig, schedulerFor } from "../src/config";

describe("PI0FastConfig", () => {
  it("defaults to LeRobot's values and the PaliGemma-3B widths", () => {
    const c = pi0FastConfig({});
    expect(c.chunk_size).toBe(50);
    expect(c.n_action_steps).toBe(50);
    expect(c.max_action_tokens).toBe(256);
    expect(c.tokenizer_max_length).toBe(200);
    expect(c.image_resolution).toEqual([224, 224]);
    expect(c.fast_skip_tokens).toBe(128);
    expect(c.optimizer_betas).toEqual([0.9, 0.95]);
    expect(c.scheduler_decay_lr).toBe(2.5e-6);
    expect(c.normalization_mapping).toEqual({ VISUAL: "IDENTITY", STATE: "MEAN_STD", ACTION: "MEAN_STD" });
    expect(c.decoder).toEqual({ width: 2048, depth: 18, mlp_dim: 16384, heads: 8, kv_heads: 1, head_dim: 256, vocab_size: 257152 });
    expect(c.paligemma_variant).toBe("gemma_2b");
    expect(c.dtype).toBe("float32");
    expect(c.relative_exclude_joints).toEqual(["gripper"]);
    expect(pi0FastConfig({ preset: "tiny" }).normalization_mapping).toEqual({ VISUAL: "IDENTITY", STATE: "QUANTILES", ACTION: "QUANTILES" });
  });

  it("derives the widths from paligemma_variant and refuses a contradicting preset", () => {
    expect(pi0FastConfig({ paligemma_variant: "gemma_300m" }).decoder.width).toBe(1024);
    expect(pi0FastConfig({ paligemma_variant: "gemma_300m" }).preset).toBe("gemma_300m");
    const bad = decodePI0FastConfig({ preset: "paligemma_3b", paligemma_variant: "gemma_300m" });
    expect(bad._tag === "Left" && bad.left).toEqual(['policy.paligemma_variant: expected gemma_2b (preset paligemma_3b), got "gemma_300m"']);
  });

  it("refuses LeRobot settings it cannot honour, naming the field", () => {
    const bad = decodePI0FastConfig({ use_relative_actions: true, rtc_config: { enabled: true }, use_peft: true });
    expect(bad._tag === "Left" && bad.left.map((e) => e.split(":")[0])).toEqual(["policy.use_relative_actions", "policy.rtc_config", "policy.use_peft"]);
  });

  it("takes preset defaults, then overrides (nested widths merge)", () => {
    const c = pi0FastConfig({ preset: "tiny", chunk_size: 12, decoder: { depth: 2 } });
    expect(c.image_resolution).toEqual([64, 64]);
    expect(c.chunk_size).toBe(12);
    expect(c.decoder.depth).toBe(2);
    expect(c.decoder.width).toBe(256);
  });

  it("names the field, the expectation and the value in errors", () => {
    const bad = decodePI0FastConfig({ chunk_size: "x", n_action_steps: 0, bogus: 1, vision: { nope: 2 } });
    expect(bad._tag).toBe("Left");
    const errors = bad._tag === "Left" ? bad.left : [];
    expect(errors).toContain('policy.chunk_size: expected positive integer, got "x"');
    expect(errors).toContain("policy.n_action_steps: expected positive integer, got 0");
    expect(errors.some((e) => e.startsWith("policy.bogus: unknown field"))).toBe(true);
    expect(errors.some((e) => e.startsWith("policy.vision.nope: unknown field"))).toBe(true);
    const steps = decodePI0FastConfig({ chunk_size: 10, n_action_steps: 11 });
    expect(steps._tag === "Left" && steps.left[0]).toBe("policy.n_action_steps: expected ≤ chunk_size (10), got 11");
  });

  it("round-trips through JSON", () => {
    const c = pi0FastConfig({ preset: "small", freeze_vision_encoder: true });
    expect(pi0FastConfig(JSON.parse(JSON.stringify(c)))).toEqual(c);
  });
});

describe("cosine decay with warmup (LeRobot CosineDecayWithWarmupSchedulerConfig)", () => {
  const config = pi0FastConfig({});

  it("warms up linearly from peak/(warmup+1) and decays to decay_lr at decay_steps", () => {
    expect(learningRateAt(config, 0, 30000)).toBeCloseTo(2.5e-5 / 1001, 12);
    expect(learningRateAt(config, 500, 30000)).toBeCloseTo(2.5e-5 * ((1 / 1001 - 1) * 0.5 + 1), 12);
    // at the end of warmup the cosine branch starts: 0.5(1 + cos(π·1000/30000))
    const alpha = 2.5e-6 / 2.5e-5;
    const cos = 0.5 * (1 + Math.cos((Math.PI * 1000) / 30000));
    expect(learningRateAt(config, 1000, 30000)).toBeCloseTo(2.5e-5 * ((1 - alpha) * cos + alpha), 12);
    expect(learningRateAt(config, 30000, 30000)).toBeCloseTo(2.5e-6, 12);
    expect(learningRateAt(config, 40000, 30000)).toBeCloseTo(2.5e-6, 12);
  });

  it("scales warmup and decay down when the run is shorter than decay_steps", () => {
    const s = schedulerFor(config, 3000);
    expect(s.warmupSteps).toBe(100);
    expect(s.decaySteps).toBe(3000);
    expect(s.lrAt(3000)).toBeCloseTo(2.5e-6, 12);
    expect(s.lrAt(50)).toBeLessThan(s.lrAt(99));
  });
});
