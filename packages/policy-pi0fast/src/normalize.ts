/**
 * Feature normalisation as LeRobot's NormalizerProcessorStep / UnnormalizerProcessorStep
 * (processor/normalize_processor.py), per `normalization_mapping` mode:
 * - IDENTITY: unchanged.
 * - MEAN_STD: (x − mean) / (std + eps); inverse x · std + mean (LeRobot's inverse has no eps).
 * - MIN_MAX: 2 (x − min) / (max − min) − 1, QUANTILES: the same with q01/q99, QUANTILE10: with
 *   q10/q90; a zero range is replaced by eps (not added to).
 * eps = 1e-8, LeRobot's default. Nothing is clipped. LeRobot computes in float32 tensors; every
 * step here is rounded to float32 (Math.fround) in LeRobot's order of operations, so the results,
 * and the state bins cut from them, match it bit for bit.
 */

import type { DatasetStats, FeatureStats } from "@craft/data-contract";

/** Per-feature statistics as in meta/stats.json, declared once in @craft/data-contract. */
export type { DatasetStats, FeatureStats };

/** LeRobot's NormalizationMode (configs/types.py). */
export type NormalizationMode = "IDENTITY" | "MEAN_STD" | "MIN_MAX" | "QUANTILES" | "QUANTILE10";

export const NORMALIZE_EPS = 1e-8;

export interface Normalizer {
  readonly mode: NormalizationMode;
  /** Feature size the statistics describe (undefined for IDENTITY, which accepts any size). */
  readonly dim: number | undefined;
  /** Normalises in place over the last axis (length `dim`); returns its argument. */
  normalize(values: Float32Array): Float32Array;
  unnormalize(values: Float32Array): Float32Array;
}

const f32 = Math.fround;

const BOUNDS: Readonly<Record<Exclude<NormalizationMode, "IDENTITY" | "MEAN_STD">, readonly [keyof FeatureStats, keyof FeatureStats]>> = {
  MIN_MAX: ["min", "max"],
  QUANTILES: ["q01", "q99"],
  QUANTILE10: ["q10", "q90"],
};

const identity: Normalizer = { mode: "IDENTITY", dim: undefined, normalize: (v) => v, unnormalize: (v) => v };

/**
 * The normaliser of feature `key` under `mode`. Unlike LeRobot, which passes a feature through
 * unchanged when its statistics are missing, a missing or short statistic is an error here: the
 * policy would otherwise train on raw values without a word.
 */
export function featureNormalizer(stats: DatasetStats, key: string, mode: NormalizationMode, eps = NORMALIZE_EPS): Normalizer {
  if (mode === "IDENTITY") return identity;
  const s = stats[key];
  const [loName, hiName] = mode === "MEAN_STD" ? (["mean", "std"] as const) : BOUNDS[mode];
  const lo = s?.[loName];
  const hi = s?.[hiName];
  if (s === undefined || lo === undefined || hi === undefined) {
    throw new Error(`stats.${key}: expected ${loName} and ${hiName} for normalization mode ${mode}, got ${s === undefined ? "no statistics" : Object.keys(s).join(", ") || "nothing"}`);
  }
  if (lo.length !== hi.length) throw new Error(`stats.${key}.${hiName}: expected ${lo.length} values like ${loName}, got ${hi.length}`);
  const dim = lo.length;
  const low = Float32Array.from(lo);
  const high = Float32Array.from(hi);
  const epsilon = f32(eps);
  const check = (values: Float32Array, what: string): void => {
    if (values.length % dim !== 0) throw new Error(`${what} "${key}": length ${values.length} is not a multiple of the feature size ${dim}`);
  };
  if (mode === "MEAN_STD") {
    const denom = high.map((std) => f32(std + epsilon));
    return {
      mode,
      dim,
      normalize(values) {
        check(values, "normalize");
        for (let i = 0; i < values.length; i++) values[i] = f32(f32(values[i] - low[i % dim]) / denom[i % dim]);
        return values;
      },
      unnormalize(values) {
        check(values, "unnormalize");
        for (let i = 0; i < values.length; i++) values[i] = f32(f32(values[i] * high[i % dim]) + low[i % dim]);
        return values;
      },
    };
  }
  const range = low.map((l, d) => {
    const r = f32(high[d] - l);
    return r === 0 ? epsilon : r;
  });
  return {
    mode,
    dim,
    normalize(values) {
      check(values, "normalize");
      for (let i = 0; i < values.length; i++) {
        const d = i % dim;
        values[i] = f32(f32(f32(2 * f32(values[i] - low[d])) / range[d]) - 1);
      }
      return values;
    },
    unnormalize(values) {
      check(values, "unnormalize");
      for (let i = 0; i < values.length; i++) {
        const d = i % dim;
        values[i] = f32(f32(f32(f32(values[i] + 1) * range[d]) / 2) + low[d]);
      }
      return values;
    },
  };
}
