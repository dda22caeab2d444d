import { describe, expect, it } from "vitest";
import { quantileNormalizer, NORMALIZE_EPS } from "../src/normalize";
import { resizeWithPad } from "../src/image";

describe("quantile normalisation", () => {
  const stats = { action: { q01: [0, -2], q99: [10, 2], min: [-5, -9], max: [20, 9] } };

  it("maps q01 → −1 and q99 → 1 without clipping, and inverts", () => {
    const n = quantileNormalizer(stats, "action");
    expect(n.mode).toBe("QUANTILES");
    const x = Float32Array.from([0, -2, 10, 2, 5, 0, 20, 4]);
    n.normalize(x);
    expect(Array.from(x)).toEqual([-1, -1, 1, 1, 0, 0, 3, 2]);
    n.unnormalize(x);
    expect(Array.from(x)).toEqual([0, -2, 10, 2, 5, 0, 20, 4]);
  });

  it("falls back to min/max when quantiles are absent", () => {
    const n = quantileNormalizer({ s: { min: [-5], max: [15] } }, "s");
    expect(n.mode).toBe("MIN_MAX");
    expect(Array.from(n.normalize(Float32Array.from([-5, 5, 15])))).toEqual([-1, 0, 1]);
  });

  it("guards a zero range with eps", () => {
    const n = quantileNormalizer({ s: { q01: [3], q99: [3] } }, "s");
    const x = n.normalize(Float32Array.from([3, 4]));
    expect(x[0]).toBe(-1);
    expect(x[1]).toBeCloseTo(2 / NORMALIZE_EPS - 1, -2);
    expect(Array.from(n.unnormalize(x))).toEqual([3, 4]);
  });

  it("names the feature when statistics are missing", () => {
    expect(() => quantileNormalizer({}, "observation.state")).toThrow(/missing feature "observation.state"/);
    expect(() => quantileNormalizer({ s: { mean: [0] } }, "s")).toThrow(/stats\.s: expected q01 and q99 \(or min and max\), got mean/);
  });
});

describe("resize with padding", () => {
  it("keeps an image of the target size and maps bytes to [−1, 1]", () => {
    const px = Uint8Array.from([0, 255, 51, 102, 204, 255]);
    expect(Array.from(resizeWithPad(px, 1, 2, [1, 2])).map((v) => Number(v.toFixed(6)))).toEqual([-1, 1, -0.6, -0.2, 0.6, 1]);
  });

  it("averages 2×2 blocks when halving (bilinear, align_corners = False)", () => {
    // 4×4 single-valued channels: value = 10·y + x
    const px = new Uint8Array(4 * 4 * 3);
    for (let y = 0; y < 4; y++) for (let x = 0; x < 4; x++) px.fill(10 * y + x, (y * 4 + x) * 3, (y * 4 + x) * 3 + 3);
    const out = resizeWithPad(px, 4, 4, [2, 2]);
    const bytes = Array.from({ length: 4 }, (_, i) => Number((((out[i * 3] + 1) / 2) * 255).toFixed(4)));
    expect(bytes).toEqual([5.5, 7.5, 25.5, 27.5]);
  });

  it("pads a wide image on the top and a tall one on the left, with black (−1)", () => {
    const wide = new Uint8Array(2 * 4 * 3).fill(255); // 2×4 → 4×4: 2 rows of padding on top
    const out = resizeWithPad(wide, 2, 4, [4, 4]);
    const rowValue = (r: number): number[] => Array.from(out.subarray(r * 12, r * 12 + 12));
    expect(rowValue(0).every((v) => v === -1) && rowValue(1).every((v) => v === -1)).toBe(true);
    expect(rowValue(2).every((v) => v === 1) && rowValue(3).every((v) => v === 1)).toBe(true);

    const tall = new Uint8Array(6 * 2 * 3).fill(255); // 6×2 → 3×1 inside 3×3: 2 columns on the left
    const out2 = resizeWithPad(tall, 6, 2, [3, 3]);
    for (let y = 0; y < 3; y++) {
      expect(Array.from(out2.subarray(y * 9, y * 9 + 6)).every((v) => v === -1)).toBe(true);
      expect(Array.from(out2.subarray(y * 9 + 6, y * 9 + 9))).toEqual([1, 1, 1]);
    }
  });

  it("rejects a buffer of the wrong size", () => {
    expect(() => resizeWithPad(new Uint8Array(5), 2, 2, [2, 2])).toThrow(/expected 2×2×3 = 12 bytes, got 5/);
  });
});
