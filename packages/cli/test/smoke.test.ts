import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { SMOKE_STEPS, smokeRun } from "../src/smoke.js";
import { craft, MICRO_POLICY, syntheticPair, tempDir } from "./helpers.js";

describe("CRAFT_SMOKE", () => {
  afterEach(() => {
    delete process.env.CRAFT_SMOKE;
  });

  it("is on only for 1, and any other value is one error naming the variable", () => {
    expect(smokeRun({})).toBe(false);
    expect(smokeRun({ CRAFT_SMOKE: "0" })).toBe(false);
    expect(smokeRun({ CRAFT_SMOKE: "1" })).toBe(true);
    expect(() => smokeRun({ CRAFT_SMOKE: "yes" })).toThrow('environment variable CRAFT_SMOKE: expected 1 (smoke sizes) or 0 (unset: full sizes), got "yes"');
  });

  it("cuts a training run's --steps, says so, and records the steps it ran", async () => {
    const { reach } = await syntheticPair();
    const out = join(tempDir("smoke"), "run");
    process.env.CRAFT_SMOKE = "1";
    const r = await craft(["train", ...MICRO_POLICY, `--dataset.root=${reach}`, "--batch_size=2", "--steps=300", "--save_freq=100", `--output_dir=${out}`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`CRAFT_SMOKE=1: --steps 300 cut to ${SMOKE_STEPS}`);
    expect(readdirSync(join(out, "checkpoints")).sort()).toEqual([String(SMOKE_STEPS).padStart(6, "0"), "last"]);
    const config = JSON.parse(readFileSync(join(out, "train_config.json"), "utf8")) as { steps?: number; train?: { steps?: number } };
    expect(config.steps ?? config.train?.steps).toBe(SMOKE_STEPS);
    expect(existsSync(join(out, "metrics.jsonl"))).toBe(true);
  });

  it("refuses a malformed value before anything is written", async () => {
    const out = join(tempDir("smoke-bad"), "run");
    process.env.CRAFT_SMOKE = "true";
    const r = await craft(["train", ...MICRO_POLICY, "--dataset.root=/nonexistent", "--steps=3", `--output_dir=${out}`]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('CRAFT_SMOKE: expected 1 (smoke sizes) or 0 (unset: full sizes), got "true"');
    expect(existsSync(out)).toBe(false);
  });
});
