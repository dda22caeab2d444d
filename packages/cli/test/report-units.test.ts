import { describe, expect, it } from "vitest";
import { comparisonRows, formatNumber, formatRise, orderMethods } from "../src/report/comparison";
import { parseMetricsLog } from "../src/report/metricsLog";
import { aggregateAcrossRuns, meanAndStd, thinSeries } from "../src/report/series";

describe("metrics log parsing", () => {
  it("treats null and NaN spellings as not logged and keeps the rest", () => {
    const points = parseMetricsLog('{"step":5,"loss":1.5,"retention_loss":null,"cosine":"NaN","lr":0.001}\n', "m.jsonl");
    expect(points).toEqual([{ step: 5, values: { loss: 1.5, lr: 0.001 } }]);
  });

  it("falls back to the row index when a row has no step", () => {
    const points = parseMetricsLog('{"loss":1}\n{"loss":2}\n', "m.jsonl");
    expect(points.map((p) => p.step)).toEqual([0, 1]);
  });
});

describe("series across seeds", () => {
  it("averages runs step by step and keeps the min–max spread", () => {
    const run = (label: string, values: number[]) => ({
      label,
      path: label,
      points: values.map((v, i) => ({ step: (i + 1) * 10, values: { task_loss: v } })),
    });
    const series = aggregateAcrossRuns([run("a", [1, 2, 3]), run("b", [3, 4])], "task_loss");
    expect(series).toEqual([
      { step: 10, mean: 2, min: 1, max: 3, count: 2 },
      { step: 20, mean: 3, min: 2, max: 4, count: 2 },
      { step: 30, mean: 3, min: 3, max: 3, count: 1 },
    ]);
  });

  it("thinning keeps the first and last point and the requested count", () => {
    const thinned = thinSeries(Array.from({ length: 1001 }, (_, i) => i), 11);
    expect(thinned).toEqual([0, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000]);
  });

  it("sample standard deviation uses n − 1", () => {
    expect(meanAndStd([1, 3])).toEqual({ mean: 2, std: Math.SQRT2 });
    expect(meanAndStd([4])).toEqual({ mean: 4, std: 0 });
    expect(meanAndStd([])).toBeUndefined();
  });
});

describe("comparison table values", () => {
  it("orders the known methods baseline-first and others after by name", () => {
    expect(orderMethods(["craft", "zeta", "naive", "alpha", "craft_no_surgery", "replay"])).toEqual([
      "naive",
      "replay",
      "craft_no_surgery",
      "craft",
      "alpha",
      "zeta",
    ]);
  });

  it("computes the anchor-loss rise per seed, or from the means when there are no seeds", () => {
    const rows = comparisonRows({
      methods: {
        naive: {
          seeds: [
            { seed: 0, anchor_loss_base: 0.5, anchor_loss_final: 1.0 },
            { seed: 1, anchor_loss_base: 1.0, anchor_loss_final: 3.0 },
          ],
        },
        craft: { mean: { anchor_loss_base: 2, anchor_loss_final: 2.5 } },
      },
    });
    expect(rows[0].anchorRise!.mean).toBeCloseTo(1.5, 12);
    expect(rows[0].anchorRise!.std).toBeCloseTo(Math.SQRT1_2, 12);
    expect(rows[0].stats.anchor_loss_final).toEqual({ mean: 2, std: Math.SQRT2 });
    expect(rows[1].anchorRise).toEqual({ mean: 0.25, std: undefined });
    expect(formatRise(rows[1].anchorRise)).toBe("+25.0%");
  });

  it("formats with four significant digits and switches to exponents outside [1e-3, 1e4)", () => {
    expect(formatNumber(0.5)).toBe("0.5000");
    expect(formatNumber(123.456)).toBe("123.5");
    expect(formatNumber(0.0001234)).toBe("1.234e-4");
    expect(formatNumber(-25000)).toBe("-2.500e+4");
    expect(formatNumber(0)).toBe("0");
  });
});
