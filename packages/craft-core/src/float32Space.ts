import type { Gram, VectorSpace } from "./vectorSpace.js";

/*
 * Kernels on flat Float32Arrays. Products of two float32 values are exact in float64, so sums are
 * accumulated in float64 numbers; two interleaved accumulators per sum break the add-latency chain
 * (about 2× faster on V8) while keeping the summation order fixed, hence results deterministic.
 * `dot(a, a)` and `gram(a, b).aa` use the same order, so they agree bit for bit.
 */

const assertSameLength = (op: string, a: Float32Array, b: Float32Array, name?: string): void => {
  if (a.length !== b.length) {
    const what = name === undefined ? "" : ` for parameter "${name}"`;
    throw new Error(`${op}: length mismatch${what}: ${a.length} vs ${b.length}`);
  }
};

export const dotF32 = (a: Float32Array, b: Float32Array): number => {
  const n = a.length;
  let s0 = 0;
  let s1 = 0;
  let i = 0;
  for (; i + 1 < n; i += 2) {
    s0 += a[i] * b[i];
    s1 += a[i + 1] * b[i + 1];
  }
  if (i < n) s0 += a[i] * b[i];
  return s0 + s1;
};

export const gramF32 = (a: Float32Array, b: Float32Array): Gram => {
  const n = a.length;
  let ab0 = 0;
  let ab1 = 0;
  let aa0 = 0;
  let aa1 = 0;
  let bb0 = 0;
  let bb1 = 0;
  let i = 0;
  for (; i + 1 < n; i += 2) {
    const x0 = a[i];
    const y0 = b[i];
    const x1 = a[i + 1];
    const y1 = b[i + 1];
    ab0 += x0 * y0;
    aa0 += x0 * x0;
    bb0 += y0 * y0;
    ab1 += x1 * y1;
    aa1 += x1 * x1;
    bb1 += y1 * y1;
  }
  if (i < n) {
    const x = a[i];
    const y = b[i];
    ab0 += x * y;
    aa0 += x * x;
    bb0 += y * y;
  }
  return { ab: ab0 + ab1, aa: aa0 + aa1, bb: bb0 + bb1 };
};

/** out = sa·a + sb·b, rounded once to float32 per element. */
export const combineF32 = (sa: number, a: Float32Array, sb: number, b: Float32Array): Float32Array => {
  const n = a.length;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = sa * a[i] + sb * b[i];
  return out;
};

export const axpyF32 = (a: Float32Array, s: number, b: Float32Array): Float32Array => {
  const n = a.length;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = a[i] + s * b[i];
  return out;
};

export const scaleF32 = (a: Float32Array, s: number): Float32Array => {
  const n = a.length;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = a[i] * s;
  return out;
};

export const addF32 = (a: Float32Array, b: Float32Array): Float32Array => {
  const n = a.length;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = a[i] + b[i];
  return out;
};

/** Checked wrappers: every binary operation rejects operands of different lengths. */
export const checkedF32 = {
  dot: (a: Float32Array, b: Float32Array, name?: string): number => {
    assertSameLength("dot", a, b, name);
    return dotF32(a, b);
  },
  add: (a: Float32Array, b: Float32Array, name?: string): Float32Array => {
    assertSameLength("add", a, b, name);
    return addF32(a, b);
  },
  axpy: (a: Float32Array, s: number, b: Float32Array, name?: string): Float32Array => {
    assertSameLength("axpy", a, b, name);
    return axpyF32(a, s, b);
  },
  gram: (a: Float32Array, b: Float32Array, name?: string): Gram => {
    assertSameLength("gram", a, b, name);
    return gramF32(a, b);
  },
  combine: (sa: number, a: Float32Array, sb: number, b: Float32Array, name?: string): Float32Array => {
    assertSameLength("combine", a, b, name);
    return combineF32(sa, a, sb, b);
  },
};

/** Flat gradients. Ships the fused `gram` and `combine` passes that make `craftStep` two passes. */
export const float32Space: VectorSpace<Float32Array> = {
  dot: (a, b) => checkedF32.dot(a, b),
  scale: scaleF32,
  add: (a, b) => checkedF32.add(a, b),
  axpy: (a, s, b) => checkedF32.axpy(a, s, b),
  gram: (a, b) => checkedF32.gram(a, b),
  combine: (sa, a, sb, b) => checkedF32.combine(sa, a, sb, b),
};
