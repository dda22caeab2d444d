import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { writeReport } from "../src/index.js";
import { runRetentionExperiment, RETENTION_METHODS } from "../src/experiment/retention.js";
import { tempDir } from "./helpers.js";

type Row = Record<string, number>;

describe("retention experiment (smoke preset: the smallest sizes that still show the effect)", () => {
  it("naive fine-tuning forgets more than CRaFT, and the summary and report are written", async () => {
    const out = join(tempDir("retention"), "exp");
    const summary = (await runRetentionExperiment({ outputDir: out, preset: "smoke", device: "wasm", log: () => {} })) as {
      methods: Record<string, { seeds: Row[]; mean: Row; std: Row }>;
      expectations: { name: string; passed: boolean }[];
    };
    const onDisk = JSON.parse(readFileSync(join(out, "summary.json"), "utf8"));
    expect(Object.keys(onDisk.methods).sort()).toEqual([...RETENTION_METHODS].sort());
    for (const m of RETENTION_METHODS) {
      for (const key of ["anchor_loss_base", "anchor_loss_final", "task_loss_final", "anchor_action_mse", "task_action_mse", "epsilon_end"]) {
        expect(Number.isFinite(summary.methods[m].mean[key]), `${m}.${key}`).toBe(true);
      }
      expect(existsSync(join(out, "runs", m, "seed-0", "metrics.jsonl"))).toBe(true);
    }
    const rise = (m: string) => summary.methods[m].mean.anchor_loss_final - summary.methods[m].mean.anchor_loss_base;
    // The direction the constraint must hold in: naive forgets more than CRaFT.
    expect(rise("naive")).toBeGreaterThan(rise("craft"));
    // CRaFT holds the anchor loss near its bound.
    expect(summary.methods.craft.mean.anchor_loss_final).toBeLessThanOrEqual(1.1 * summary.methods.craft.mean.epsilon_end);
    // CRaFT still learns the new task: its task loss within 25% of naive's.
    expect(summary.methods.craft.mean.task_loss_final).toBeLessThanOrEqual(1.25 * summary.methods.naive.mean.task_loss_final);

    const { htmlPath, figures } = await writeReport(out);
    expect(existsSync(htmlPath)).toBe(true);
    expect(figures.length).toBeGreaterThanOrEqual(4);
  });
});
