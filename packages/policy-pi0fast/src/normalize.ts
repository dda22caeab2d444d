/**
 * Feature normalisation to [−1, 1] as LeRobot's NormalizerProcessorStep does it.
 * QUANTILES: x → 2 (x − q01) / (q99 − q01) − 1; MIN_MAX: the same with min/max. LeRobot does not clip
 * the result (values outside the quantiles map outside [−1, 1]), and neither do we; the state
 * discretiser clips to its 256 bins. A zero range is replaced by eps = 1e-8.
 */

/** Per-feature statistics as in meta/stats.json (same shape as @craft/datasets' FeatureStats). */
export interface FeatureStats {
  readonly mean?: readonly number[];
  readonly std?: readonly number[];
  readonly min?: readonly number[];
  readonly max?: readonly number[];
  readonly q01?: readonly number[];
  readonly q99?: readonly number[];
  readonly count?: readonly number[];
}
export type DatasetStats = Readonly<Record<string, FeatureStats>>;

export const NORMALIZE_EPS = 1e-8;

export interface Normalizer {
  readonly mode: "QUANTILES" | "MIN_MAX";
  readonly dim: number;
  /** Normalises in place over the last axis (length `dim`); returns its argument. */
  normalize(values: Float32Array): Float32Array;
  unnormalize(values: Float32Array): Float32Array;
}

/** QUANTILES from q01/q99, falling back to MIN_MAX (min/max) when the quantiles are absent. */
export function quantileNormalizer(stats: DatasetStats, key: string): Normalizer {
  const s = stats[key];
  if (s === undefined) throw new Error(`stats: missing feature "${key}" (expected q01/q99 or min/max)`);
  const [mode, lo, hi] =
    s.q01 !== undefined && s.q99 !== undefined
      ? (["QUANTILES", s.q01, s.q99] as const)
      : s.min !== undefined && s.max !== undefined
        ? (["MIN_MAX", s.min, s.max] as const)
        : (() => {
            throw new Error(`stats.${key}: expected q01 and q99 (or min and max), got ${Object.keys(s).join(", ") || "nothing"}`);
          })();
  if (lo.length !== hi.length) throw new Error(`stats.${key}: lower and upper statistics differ in length (${lo.length} vs ${hi.length})`);
  const dim = lo.length;
  const low = Float64Array.from(lo);
  const range = Float64Array.from(hi, (h, i) => {
    const r = h - lo[i];
    return r === 0 ? NORMALIZE_EPS : r;
  });
  const check = (values: Float32Array, what: string): void => {
    if (values.length % dim !== 0) throw new Error(`${what} "${key}": length ${values.length} is not a multiple of the feature size ${dim}`);
  };
  return {
    mode,
    dim,
    normalize(values) {
      check(values, "normalize");
      for (let i = 0; i < values.length; i++) {
        const d = i % dim;
        values[i] = (2 * (values[i] - low[d])) / range[d] - 1;
      }
      return values;
    },
    unnormalize(values) {
      check(values, "unnormalize");
      for (let i = 0; i < values.length; i++) {
        const d = i % dim;
        values[i] = ((values[i] + 1) / 2) * range[d] + low[d];
      }
      return values;
    },
  };
}
