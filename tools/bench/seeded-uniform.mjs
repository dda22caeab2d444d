// Deterministic benchmark data: uniform [0, 1) from pure-rand's xoroshiro128+ (the generator the
// packages and fast-check use), so every run of a benchmark times the same numbers.
import { uniformFloat64 } from "pure-rand/distribution/uniformFloat64";
import { xoroshiro128plus } from "pure-rand/generator/xoroshiro128plus";

export const seededUniform = (seed) => {
  const generator = xoroshiro128plus(seed | 0);
  return () => uniformFloat64(generator);
};
