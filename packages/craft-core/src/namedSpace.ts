import { checkedF32, scaleF32 } from "./float32Space.js";
import type { Gram, VectorSpace } from "./vectorSpace.js";

/** Parameter name → gradient. */
export type NamedVectors = Record<string, Float32Array>;

/**
 * Both operands must hold exactly the same parameter names; a missing or extra name is an error,
 * never silently dropped (a dropped parameter would quietly stop training).
 */
const assertSameKeys = (op: string, a: NamedVectors, b: NamedVectors): readonly string[] => {
  const keys = Object.keys(a);
  for (const key of keys) {
    if (!Object.prototype.hasOwnProperty.call(b, key)) {
      throw new Error(`${op}: parameter "${key}" is present in the first operand but missing in the second`);
    }
  }
  const bKeys = Object.keys(b);
  if (bKeys.length !== keys.length) {
    const extra = bKeys.find((key) => !Object.prototype.hasOwnProperty.call(a, key));
    throw new Error(`${op}: parameter "${String(extra)}" is present in the second operand but missing in the first`);
  }
  return keys;
};

const mapPairs = (
  op: string,
  a: NamedVectors,
  b: NamedVectors,
  f: (x: Float32Array, y: Float32Array, key: string) => Float32Array,
): NamedVectors => {
  const out: NamedVectors = {};
  for (const key of assertSameKeys(op, a, b)) out[key] = f(a[key], b[key], key);
  return out;
};

/** Named maps of Float32Arrays; keys follow the first operand's order. */
export const namedFloat32Space: VectorSpace<NamedVectors> = {
  dot: (a, b) => {
    let sum = 0;
    for (const key of assertSameKeys("dot", a, b)) sum += checkedF32.dot(a[key], b[key], key);
    return sum;
  },
  scale: (a, s) => {
    const out: NamedVectors = {};
    for (const key of Object.keys(a)) out[key] = scaleF32(a[key], s);
    return out;
  },
  add: (a, b) => mapPairs("add", a, b, (x, y, key) => checkedF32.add(x, y, key)),
  axpy: (a, s, b) => mapPairs("axpy", a, b, (x, y, key) => checkedF32.axpy(x, s, y, key)),
  gram: (a, b): Gram => {
    let ab = 0;
    let aa = 0;
    let bb = 0;
    for (const key of assertSameKeys("gram", a, b)) {
      const g = checkedF32.gram(a[key], b[key], key);
      ab += g.ab;
      aa += g.aa;
      bb += g.bb;
    }
    return { ab, aa, bb };
  },
  combine: (sa, a, sb, b) => mapPairs("combine", a, b, (x, y, key) => checkedF32.combine(sa, x, sb, y, key)),
};
