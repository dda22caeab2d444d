import { uniformFloat64 } from "pure-rand/distribution/uniformFloat64";
import { uniformInt } from "pure-rand/distribution/uniformInt";
import { xoroshiro128plus } from "pure-rand/generator/xoroshiro128plus";
import type { RandomGenerator } from "pure-rand/types/RandomGenerator";

/**
 * MurmurHash3's 32-bit finaliser: nearby integers map to unrelated ones. xoroshiro128+ seeded
 * with consecutive small integers starts on nearly the same outputs (its first draw was ≈ 1.0 for
 * every seed 0…5000, so every evaluation scene started the arm at the table's right edge).
 */
export const mixSeed = (seed: number): number => {
  let h = seed | 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) | 0;
};

/**
 * Uniform draws in [0, 1) from pure-rand's xoroshiro128+ (the generator fast-check runs on), seeded
 * with `mixSeed(seed)`: the same seed gives the same stream on every platform, and neighbouring
 * seeds give unrelated streams.
 */
export const seededUniform = (seed: number): (() => number) => {
  const generator = xoroshiro128plus(mixSeed(seed));
  return () => uniformFloat64(generator);
};

/** In-place Fisher–Yates shuffle, positions drawn with pure-rand's unbiased uniformInt. */
export const shuffleInPlace = <T extends { length: number; [i: number]: number }>(xs: T, generator: RandomGenerator): T => {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = uniformInt(generator, 0, i);
    const tmp = xs[i]!;
    xs[i] = xs[j]!;
    xs[j] = tmp;
  }
  return xs;
};

/** The generator {@link shuffleInPlace} draws from. */
export const shuffleGenerator = (seed: number): RandomGenerator => xoroshiro128plus(seed | 0);
