import type { FeatureStats } from "./batch.js";

const quantile = (sorted: Float64Array, q: number): number => {
  if (sorted.length === 0) return 0;
  const pos = q * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(sorted.length - 1, lo + 1);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
};

/** mean/std/min/max/count and q01…q99 per element of rows [n, dim] (population std, as LeRobot). */
export const computeFeatureStats = (values: ArrayLike<number>, dim: number): FeatureStats => {
  const n = Math.floor(values.length / dim);
  const mean: number[] = [];
  const std: number[] = [];
  const min: number[] = [];
  const max: number[] = [];
  const qs: Record<"q01" | "q10" | "q50" | "q90" | "q99", number[]> = { q01: [], q10: [], q50: [], q90: [], q99: [] };
  for (let j = 0; j < dim; j++) {
    const col = new Float64Array(n);
    let s = 0;
    for (let i = 0; i < n; i++) {
      col[i] = values[i * dim + j]!;
      s += col[i]!;
    }
    const m = n === 0 ? 0 : s / n;
    let v = 0;
    for (let i = 0; i < n; i++) v += (col[i]! - m) ** 2;
    col.sort();
    mean.push(m);
    std.push(n === 0 ? 0 : Math.sqrt(v / n));
    min.push(n === 0 ? 0 : col[0]!);
    max.push(n === 0 ? 0 : col[n - 1]!);
    qs.q01.push(quantile(col, 0.01));
    qs.q10.push(quantile(col, 0.1));
    qs.q50.push(quantile(col, 0.5));
    qs.q90.push(quantile(col, 0.9));
    qs.q99.push(quantile(col, 0.99));
  }
  return { mean, std, min, max, count: [n], ...qs };
};

/** Per-channel stats of RGB frames [n, h, w, 3] scaled to [0, 1] (LeRobot's image stats). */
export const computeImageStats = (frames: readonly Uint8Array[]): FeatureStats => {
  const sums = [0, 0, 0];
  const sq = [0, 0, 0];
  const min = [255, 255, 255];
  const max = [0, 0, 0];
  let count = 0;
  for (const f of frames) {
    for (let i = 0; i < f.length; i += 3) {
      for (let c = 0; c < 3; c++) {
        const v = f[i + c]!;
        sums[c]! += v;
        sq[c]! += v * v;
        if (v < min[c]!) min[c] = v;
        if (v > max[c]!) max[c] = v;
      }
    }
    count += f.length / 3;
  }
  const mean = sums.map((s) => s / Math.max(1, count) / 255);
  const std = sq.map((s, c) => Math.sqrt(Math.max(0, s / Math.max(1, count) / 65025 - mean[c]! ** 2)));
  return { mean, std, min: min.map((v) => v / 255), max: max.map((v) => v / 255), count: [frames.length] };
};
