import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { RETENTION_PRESETS, runRetentionExperiment } from "../src/experiment/retention.js";
import { assertExpectationDirections, tempDir } from "./helpers.js";

/**
 * The CI variant of the experiment on behaviour (issue 14, part 4): the `quick` preset's model and
 * schedules on the instruction-conditioned pair, naive and CRaFT only (no sweeps), one seed. Real
 * trainings of PAIR_POLICY, so it takes minutes (≈ 10 on the idle 2-vCPU VM); its numbers are the
 * quick preset's own for these two runs, reported in the cli README.
 */
describe("retention on behaviour: red_to_blue, naive against CRaFT (quick preset's sizes)", () => {
  it("naive sends A's instruction elsewhere while CRaFT keeps more of it and learns B as well", async () => {
    const out = join(tempDir("retention-behaviour"), "exp");
    const summary = await runRetentionExperiment({ outputDir: out, preset: "quick", pairs: ["red_to_blue"], runs: [], device: "auto", log: () => {} });
    const pair = summary.pairs!.red_to_blue!;
    expect(Object.keys(pair.methods).sort()).toEqual(["craft", "naive"]);
    expect(pair.n_episodes).toBe(RETENTION_PRESETS.quick.evalEpisodes);
    const m = (run: string) => pair.methods[run]!.mean!;
    // The base acts on A before any fine-tuning (the premise of the comparison), and not on B.
    expect(m("naive").anchor_success_base!).toBeGreaterThanOrEqual(0.5);
    // Naive's A episodes end at another target: the instruction is ignored, not the reach lost.
    expect(pair.methods.naive!.seeds![0]!.outcomes!.anchor!.other_target).toBeGreaterThan(0);
    // CRaFT's KL to the base on the anchors ends near its bound (dual ascent trails the schedule's
    // last steps: 1.2 × ε_end measured on this run, cli README); naive's is many times beyond it.
    expect(m("craft").anchor_kl_final!).toBeLessThanOrEqual(1.5 * m("craft").epsilon_end!);
    expect(m("naive").anchor_kl_final!).toBeGreaterThan(10 * m("craft").epsilon_end!);
    assertExpectationDirections(pair, "red_to_blue");
  }, 1_800_000);
});
