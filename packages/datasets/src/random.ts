import { uniformFloat64 } from "pure-rand/distribution/uniformFloat64";
import { uniformInt } from "pure-rand/distribution/uniformInt";
import { xoroshiro128plus } from "pure-rand/generator/xoroshiro128plus";
import type { RandomGenerator } from "pure-rand/types/RandomGenerator";

/**
 * Uniform draws in [0, 1) from pure-rand's xoroshiro128+ seeded with `seed` (the generator fast-check
 * runs on): the same seed gives the same stream on every platform.
 */
export const seededUniform = (seed: number): (() => number) => {
  const generator = xoroshiro128plus(seed | 0);
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
