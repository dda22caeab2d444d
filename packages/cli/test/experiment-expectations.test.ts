import { describe, expect, it } from "vitest";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { pairExpectations, RETENTION_METHODS, RETENTION_PRESETS, RETENTION_RUNS, runRetentionExperiment } from "../src/experiment/retention.js";
import { paretoFigure, placeLabels } from "../src/report/figures.js";
import { dominates, dominatedBy, paretoFront } from "../src/report/pareto.js";
import type { MethodResult } from "../src/report/summary.js";
import { assertExpectationDirections, tempDir } from "./helpers.js";

type Means = Record<string, number>;
const run = (mean: Means): MethodResult => ({ seeds: [], mean, std: {} });

/** A pair's runs with the base at A success 0.8 and the loss fields a run of the experiment always has. */
function runs(success: Record<string, [anchor: number, task: number]>): Record<string, MethodResult> {
  const losses = { anchor_loss_base: 1, anchor_loss_final: 1.1, anchor_kl_final: 0.01, task_loss_final: 2, epsilon_end: 0.01, anchor_success_base: 0.8, task_success_base: 0 };
  return Object.fromEntries(Object.entries(success).map(([name, [a, b]]) => [name, run({ ...losses, anchor_success: a, task_success: b })]));
}

const SWEEP_RUNS = ["craft", "craft_eps_end_0.005", "craft_eps_end_0.02", "replay", "replay_weight_0.1", "replay_weight_0.3"];

describe("Pareto front (both objectives maximised)", () => {
  it("keeps exactly the points no other point beats in both objectives", () => {
    const points = [
      { id: "a", x: 0.2, y: 0.9 },
      { id: "b", x: 0.5, y: 0.5 },
      { id: "c", x: 0.4, y: 0.4 }, // behind b
      { id: "d", x: 0.9, y: 0.1 },
      { id: "e", x: 0.5, y: 0.3 }, // same x as b, lower y
    ];
    expect(paretoFront(points).map((p) => p.id)).toEqual(["a", "b", "d"]);
    expect(dominates({ x: 0.5, y: 0.5 }, { x: 0.5, y: 0.5 })).toBe(false);
    expect(dominatedBy(points, paretoFront(points)).map((p) => p.id)).toEqual(["c", "e"]);
  });
});

describe("the experiment's expectations on one pair's means", () => {
  it("records each closed-loop expectation with its measured value, and passes when CRaFT keeps A and learns B", () => {
    const ran = runs({
      naive: [0.2, 0.9],
      craft_no_surgery: [0.6, 0.8],
      craft_token: [0.1, 0.9],
      craft: [0.76, 0.85],
      "craft_eps_end_0.005": [0.8, 0.7],
      "craft_eps_end_0.02": [0.5, 0.9],
      replay: [0.7, 0.6],
      "replay_weight_0.1": [0.3, 0.85],
      "replay_weight_0.3": [0.5, 0.7],
    });
    const expectations = pairExpectations("red_to_blue", ran);
    const by = (prefix: string) => expectations.find((e) => e.name.startsWith(prefix))!;
    expect(by("naive keeps ≤ 50%").measured).toBeCloseTo(0.25, 12);
    expect(by("CRaFT keeps ≥ 90%").measured).toBeCloseTo(0.95, 12);
    expect(by("CRaFT's B success").measured).toBeCloseTo(-0.05, 12);
    expect(by("CRaFT's points").measured).toBe(0);
    for (const e of expectations) expect(e.pair).toBe("red_to_blue");
    assertExpectationDirections({ expectations, methods: ran }, "red_to_blue");
  });

  it("fails each expectation whose direction is wrong, and names the CRaFT points behind replay's front", () => {
    const ran = runs({
      naive: [0.7, 0.9],
      craft_no_surgery: [0.6, 0.8],
      craft_token: [0.1, 0.9],
      craft: [0.5, 0.7],
      "craft_eps_end_0.005": [0.8, 0.2],
      "craft_eps_end_0.02": [0.2, 0.9],
      replay: [0.6, 0.75],
      "replay_weight_0.1": [0.3, 0.85],
      "replay_weight_0.3": [0.5, 0.7],
    });
    const expectations = pairExpectations("reach_to_push", ran);
    const by = (prefix: string) => expectations.find((e) => e.name.startsWith(prefix))!;
    expect(by("naive keeps ≤ 50%").passed).toBe(false);
    expect(by("CRaFT keeps ≥ 90%").passed).toBe(false);
    expect(by("CRaFT's B success").passed).toBe(false); // 0.7 against 0.9: 20 points behind
    // craft (0.5, 0.7) is behind replay (0.6, 0.75); the ε_end 0.005 and 0.02 points are on or beyond the front.
    expect(by("CRaFT's points").measured).toBe(1);
    expect(String(by("CRaFT's points").detail)).toBe("behind replay's front: craft");
    expect(() => assertExpectationDirections({ expectations, methods: ran }, "reach_to_push")).toThrow();
  });

  it("calls the share of A kept undefined, and the expectation failed, when the base never succeeds on A", () => {
    const zero = Object.fromEntries(SWEEP_RUNS.concat(["naive", "craft_no_surgery", "craft_token"]).map((r) => [r, run({ anchor_loss_base: 1, anchor_loss_final: 1, anchor_kl_final: 0.01, task_loss_final: 1, epsilon_end: 0.01, anchor_success_base: 0, anchor_success: 0, task_success: 0 })]));
    const expectations = pairExpectations("red_to_blue", zero);
    const kept = expectations.filter((e) => e.name.includes("of the base's A success"));
    expect(kept).toHaveLength(2);
    for (const e of kept) {
      expect(e.measured).toBeNull();
      expect(e.passed).toBe(false);
      expect(String(e.detail)).toContain("the base's A success is 0");
    }
    // All at (0, 0): nothing dominates anything, so CRaFT is on replay's front, B within 10 points.
    expect(expectations.find((e) => e.name.startsWith("CRaFT's points"))!.passed).toBe(true);
    expect(() => assertExpectationDirections({ expectations, methods: zero }, "red_to_blue")).toThrow();
  });

  it("asserts that CRaFT learns B: a CRaFT whose B success stays at the base's fails the directions", () => {
    const ran = runs({ naive: [0.1, 0.9], craft: [0.75, 0] });
    expect(() => assertExpectationDirections({ expectations: pairExpectations("red_to_blue", ran), methods: ran }, "red_to_blue")).toThrow(/CRaFT learns B/);
  });
});

describe("Pareto figures of a pair", () => {
  const pair = {
    methods: {
      naive: run({ anchor_success_base: 0.8, task_success_base: 0.1, anchor_success: 0.1, task_success: 0.9, anchor_loss_final: 3, task_loss_final: 1 }),
      replay: run({ anchor_success: 0.6, task_success: 0.5, anchor_loss_final: 1.5, task_loss_final: 2 }),
      craft: run({ anchor_success: 0.7, task_success: 0.8, anchor_loss_final: 1.6, task_loss_final: 1.2 }),
    },
    sweeps: {
      replay_weight: [
        { value: 0.1, run: "replay_weight_0.1", ...run({ anchor_success: 0.3, task_success: 0.8, anchor_loss_final: 2.5, task_loss_final: 1.1 }) },
        { value: 0.3, run: "replay_weight_0.3", ...run({ anchor_success: 0.2, task_success: 0.4, anchor_loss_final: 1.4, task_loss_final: 2.1 }) },
        { value: 1, run: "replay", ...run({ anchor_success: 0.6, task_success: 0.5, anchor_loss_final: 1.5, task_loss_final: 2 }) },
      ],
    },
  };
  type Layer = { data: { values: { run: string; x: number; y: number }[] }; mark: { type: string; strokeDash?: number[] } };
  const layers = (kind: "success" | "loss") => (paretoFigure("p", pair, kind, ["naive", "replay", "craft"])!.spec as unknown as { layer: Layer[] }).layer;
  const front = (kind: "success" | "loss") => layers(kind).find((l) => l.mark.type === "line")!.data.values.map((p) => p.run);

  it("draws one point per run, sweep points included, and replay's front through the replay family only", () => {
    const points = layers("success").find((l) => l.mark.type === "point" && l.data.values.length > 1)!.data.values;
    expect(points.map((p) => p.run).sort()).toEqual(["craft", "naive", "replay", "replay_weight_0.1", "replay_weight_0.3"]);
    // replay_weight_0.3 (0.2, 0.4) is beaten by replay (0.6, 0.5) on both successes.
    expect(front("success")).toEqual(["replay_weight_0.1", "replay"]);
  });

  it("takes the loss front with both losses minimised", () => {
    // By loss, replay_weight_0.3 (1.4, 2.1) is on the front (lowest A loss); none of the three dominates another.
    expect(front("loss")).toEqual(["replay_weight_0.3", "replay", "replay_weight_0.1"]);
    expect(paretoFigure("p", pair, "loss", [])!.file).toBe("pareto_loss_p.png");
  });
});

describe("the presets' fine-tuning schedules", () => {
  it("fine-tunes twice as long in full as in quick at half the rate: the same Σ lr, in smaller steps", () => {
    const { quick, full } = RETENTION_PRESETS;
    expect(full.finetuneSteps).toBe(2 * quick.finetuneSteps);
    expect(full.finetuneLr.peak * full.finetuneSteps).toBeCloseTo(quick.finetuneLr.peak * quick.finetuneSteps, 12);
    expect(full.finetuneLr.decayTo * full.finetuneSteps).toBeCloseTo(quick.finetuneLr.decayTo * quick.finetuneSteps, 12);
    expect(full.finetuneLr.warmupSteps).toBe(quick.finetuneLr.warmupSteps);
    // The bases are the same in both presets.
    expect(full.pretrainLr).toEqual(quick.pretrainLr);
    expect(full.pretrainSteps).toBe(quick.pretrainSteps);
  });
});

describe("labels of the Pareto figure", () => {
  // The quick preset's red_to_blue figure: three CRaFT runs at (1, 1), craft_no_surgery at (0.8, 1),
  // naive and two replay weights at (0, 1), replay at (0.2, 0.9).
  const placed = placeLabels(
    [
      { x: 1, y: 1, label: "craft and 2 more runs" },
      { x: 0.8, y: 1, label: "craft_no_surgery" },
      { x: 0, y: 1, label: "naive and 2 more runs" },
      { x: 0.2, y: 0.9, label: "replay" },
      { x: 0.5, y: 0.3, label: "base" },
    ],
    [-0.05, 1.05],
    [-0.05, 1.05],
  );
  const at = (label: string) => placed.find((p) => p.label === label)!;

  it("reads leftwards from points in the right half, so that no label runs off the plot", () => {
    expect(at("craft and 2 more runs").align).toBe("right");
    expect(at("craft_no_surgery").align).toBe("right");
    expect(at("naive and 2 more runs").align).toBe("left");
    expect(at("replay").align).toBe("left");
  });

  it("moves a label that would overprint another a line away, and leaves separate ones where they are", () => {
    // Both right-aligned labels end near x = 1 and 0.8: their text overlaps on one line.
    expect(Math.abs(at("craft and 2 more runs").dy - at("craft_no_surgery").dy)).toBeGreaterThanOrEqual(12);
    // Points at the top get their labels below (the title is above); one low in the plot keeps its own line above.
    expect(at("craft and 2 more runs").dy).toBeGreaterThan(0);
    expect(at("base").dy).toBe(-6);
  });

  it("leaves no two labels whose text spans overlap on the same line (460 × 360 pixels, ≤ 6 pixels a character)", () => {
    const px = (v: number) => ((v + 0.05) / 1.1);
    const span = (p: (typeof placed)[number]) => {
      const x = px(p.x) * 460;
      const w = 6 * p.label.length;
      return { left: p.align === "left" ? x + 7 : x - 7 - w, right: p.align === "left" ? x + 7 + w : x - 7, baseline: 360 - px(p.y) * 360 + p.dy };
    };
    for (const a of placed) {
      for (const b of placed) {
        if (a === b) continue;
        const [sa, sb] = [span(a), span(b)];
        if (sa.left < sb.right && sb.left < sa.right) expect(Math.abs(sa.baseline - sb.baseline), `${a.label} / ${b.label}`).toBeGreaterThanOrEqual(12);
      }
    }
  });
});

describe("restricting the experiment to some pairs and runs", () => {
  it("refuses an unknown pair or run in one line naming the flag and the known names, before writing anything", async () => {
    const out = join(tempDir("retention-select"), "exp");
    await expect(runRetentionExperiment({ outputDir: out, preset: "smoke", pairs: ["red_to_green"] })).rejects.toThrow(
      /^--pairs: expected names among red_to_blue, reach_to_push, got \["red_to_green"\]$/,
    );
    await expect(runRetentionExperiment({ outputDir: out, preset: "smoke", runs: ["craft_eps_end_0.5"] })).rejects.toThrow(/^--runs: expected names among naive, replay, craft, .*got \["craft_eps_end_0\.5"\]$/);
    expect(existsSync(out)).toBe(false);
    expect(RETENTION_RUNS).toEqual([...RETENTION_METHODS, "craft_eps_end_0.005", "craft_eps_end_0.02", "replay_weight_0.1", "replay_weight_0.3"]);
  });

  it("states only the expectations its runs can answer: no Pareto comparison without the sweeps", () => {
    const ran = runs({ naive: [0.1, 0.9], craft: [0.75, 0.85] });
    const expectations = pairExpectations("red_to_blue", ran);
    expect(expectations.map((e) => e.name).some((n) => n.includes("Pareto"))).toBe(false);
    expect(expectations).toHaveLength(7);
    assertExpectationDirections({ expectations, methods: ran }, "red_to_blue");
  });
});
