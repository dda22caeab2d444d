import { float32Space, namedFloat32Space, type NamedVectors, type VectorSpace } from "../src/index.js";

export const f32 = (...xs: number[]): Float32Array => Float32Array.from(xs);

/** The same space without its fused fast paths, to exercise craft-core's generic code. */
export const withoutFastPaths = <V>(space: VectorSpace<V>): VectorSpace<V> => ({
  dot: space.dot,
  scale: space.scale,
  add: space.add,
});

/** dot/scale/add only: not even axpy. */
export const genericFloat32Space = withoutFastPaths(float32Space);
export const genericNamedSpace = withoutFastPaths(namedFloat32Space);

/** Split a flat vector into named pieces at the given cut points. */
export const splitNamed = (flat: Float32Array, cuts: readonly number[]): NamedVectors => {
  const bounds = [0, ...[...new Set(cuts)].filter((c) => c > 0 && c < flat.length).sort((a, b) => a - b), flat.length];
  const named: NamedVectors = {};
  for (let i = 0; i + 1 < bounds.length; i++) named[`layer${i}.weight`] = flat.slice(bounds[i], bounds[i + 1]);
  return named;
};

export const concatNamed = (named: NamedVectors): Float32Array => {
  const parts = Object.values(named);
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
};

export const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

export const l2 = (a: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * a[i];
  return Math.sqrt(s);
};

export const sameBits = (a: Float32Array, b: Float32Array): boolean =>
  a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
