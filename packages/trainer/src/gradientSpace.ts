import { namedFloat32Space, type NamedVectors } from "@craft/craft-core";
import type { GradientSpace, NamedArrays, TrainablePolicy } from "./interfaces.js";

const sortedKeys = (g: NamedArrays): string[] => Object.keys(g).sort();

/** craft-core's named Float32Array space, with flattening in sorted parameter-name order (identical on every rank). */
export const namedGradientSpace: GradientSpace<NamedArrays> = {
  ...(namedFloat32Space as unknown as GradientSpace<NamedVectors>),
  toFlat(g) {
    const keys = sortedKeys(g);
    let total = 0;
    for (const k of keys) total += g[k].length;
    const flat = new Float32Array(total);
    let offset = 0;
    for (const k of keys) {
      flat.set(g[k], offset);
      offset += g[k].length;
    }
    return flat;
  },
  fromFlat(flat, like) {
    const keys = sortedKeys(like);
    const out: NamedArrays = {};
    let offset = 0;
    for (const k of keys) {
      const n = like[k].length;
      out[k] = flat.slice(offset, offset + n);
      offset += n;
    }
    if (offset !== flat.length) {
      throw new Error(`gradient buffer has ${flat.length} values, the parameters need ${offset}`);
    }
    return out;
  },
  toNamed: (g) => g,
  fromNamed: (named) => named,
};

export const gradientSpaceOf = <B, G>(policy: TrainablePolicy<B, G>): GradientSpace<G> =>
  policy.gradientSpace ?? (namedGradientSpace as unknown as GradientSpace<G>);

export const toNamed = <G>(space: GradientSpace<G>, g: G): NamedArrays => {
  if (space.toNamed !== undefined) return space.toNamed(g);
  if (space === (namedGradientSpace as unknown)) return g as unknown as NamedArrays;
  throw new Error("the policy's gradientSpace has no toNamed(): the optimizer needs named Float32Array gradients");
};

export const fromNamed = <G>(space: GradientSpace<G>, named: NamedArrays): G => {
  if (space.fromNamed !== undefined) return space.fromNamed(named);
  if (space === (namedGradientSpace as unknown)) return named as unknown as G;
  throw new Error("the policy's gradientSpace has no fromNamed(): cannot restore the cached retention gradient");
};
