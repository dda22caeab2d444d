import { xoroshiro128plus, xoroshiro128plusFromState } from "pure-rand/generator/xoroshiro128plus";
import type { JumpableRandomGenerator } from "pure-rand/types/JumpableRandomGenerator";

/**
 * The trainer's seeded PRNG: pure-rand's xoroshiro128+ (the generator fast-check runs on), whose
 * state is four 32-bit integers, JSON-serialisable. The trainer never uses Math.random; the state
 * is part of every checkpoint so a resumed run draws the same numbers.
 */
export interface Rng {
  /** Next unsigned 32-bit integer. */
  nextUint32(): number;
  state(): number[];
}

/** A checkpointed state (four int32s), or a seed for a fresh stream. */
export type RngSeedOrState = number | readonly number[];

export const createRng = (seedOrState: RngSeedOrState): Rng => {
  const generator = typeof seedOrState === "number" ? xoroshiro128plus(seedOrState | 0) : xoroshiro128plusFromState(seedOrState);
  return {
    nextUint32: () => generator.next() >>> 0,
    state: () => [...generator.getState()],
  };
};

/**
 * The run seed's stream `stream` (task 0, anchors 1): xoroshiro128+'s jump() advances 2^64 draws,
 * so the streams never overlap and task and anchor draws never shift each other.
 */
export const streamRng = (seed: number, stream: number): Rng => {
  const generator: JumpableRandomGenerator = xoroshiro128plus(seed | 0);
  for (let i = 0; i <= stream; i++) generator.jump();
  return createRng(generator.getState());
};
