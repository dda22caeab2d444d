import type { MetricKey, RunLog } from "./metricsLog";

/** One step of a metric across the runs of a group (e.g. the seeds of one method). */
export interface SeriesPoint {
  readonly step: number;
  readonly mean: number;
  readonly min: number;
  readonly max: number;
  readonly count: number;
}

/** Mean, min and max of `key` at each logged step over `runs`; steps where no run logged it are left out. */
export function aggregateAcrossRuns(runs: readonly RunLog[], key: MetricKey): SeriesPoint[] {
  const byStep = new Map<number, number[]>();
  for (const run of runs) {
    for (const point of run.points) {
      const value = point.values[key];
      if (value === undefined) continue;
      const bucket = byStep.get(point.step);
      if (bucket) bucket.push(value);
      else byStep.set(point.step, [value]);
    }
  }
  return [...byStep.entries()]
    .sort(([a], [b]) => a - b)
    .map(([step, values]) => ({
      step,
      mean: values.reduce((s, v) => s + v, 0) / values.length,
      min: Math.min(...values),
      max: Math.max(...values),
      count: values.length,
    }));
}

/** Keeps at most `maxPoints` evenly strided points (first and last always kept) so long runs plot fast. */
export function thinSeries<T>(points: readonly T[], maxPoints: number): T[] {
  if (points.length <= maxPoints) return [...points];
  const stride = (points.length - 1) / (maxPoints - 1);
  const kept: T[] = [];
  for (let i = 0; i < maxPoints; i++) kept.push(points[Math.round(i * stride)]);
  return kept;
}

/** Sample mean and standard deviation (n − 1); the std of a single value is 0. */
export function meanAndStd(values: readonly number[]): { mean: number; std: number } | undefined {
  if (values.length === 0) return undefined;
  const mean = values.reduce((s, v) => s + v, 0) / values.length;
  if (values.length === 1) return { mean, std: 0 };
  const variance = values.reduce((s, v) => s + (v - mean) ** 2, 0) / (values.length - 1);
  return { mean, std: Math.sqrt(variance) };
}
