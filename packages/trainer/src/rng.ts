/**
 * A seeded PRNG with a JSON-serialisable state (mulberry32, 32-bit state). The trainer never uses
 * Math.random; the state is part of every checkpoint so a resumed run draws the same numbers.
 */
export interface Rng {
  /** Next unsigned 32-bit integer. */
  nextUint32(): number;
  /** Uniform in [0, 1). */
  next(): number;
  state(): number;
}

export const createRng = (seedOrState: number): Rng => {
  let s = seedOrState >>> 0;
  const nextUint32 = (): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    return (z ^ (z >>> 14)) >>> 0;
  };
  return {
    nextUint32,
    next: () => nextUint32() / 4294967296,
    state: () => s,
  };
};

/** Derives independent stream seeds from the run seed (task and anchor draws never shift each other). */
export const streamSeed = (seed: number, stream: number): number => {
  const r = createRng((seed ^ Math.imul(stream + 1, 0x9e3779b9)) >>> 0);
  return r.nextUint32();
};
