/**
 * Gradients in any representation, as a record of functions (a typeclass). Every operation returns
 * a fresh value and never mutates its arguments.
 */
export interface VectorSpace<V> {
  dot(a: V, b: V): number;
  scale(a: V, s: number): V;
  add(a: V, b: V): V;
  /** a + s·b in one pass (optional fused fast path). */
  axpy?(a: V, s: number, b: V): V;
  /** ⟨a,b⟩, ‖a‖², ‖b‖² in one reading pass (optional fused fast path used by `craftStep`). */
  gram?(a: V, b: V): Gram;
  /** sa·a + sb·b in one writing pass (optional fused fast path used by `craftStep`). */
  combine?(sa: number, a: V, sb: number, b: V): V;
}

/** The 2×2 Gram matrix of a pair of vectors. */
export interface Gram {
  readonly ab: number;
  readonly aa: number;
  readonly bb: number;
}

export const norm2 = <V>(space: VectorSpace<V>, a: V): number => space.dot(a, a);

export const norm = <V>(space: VectorSpace<V>, a: V): number => Math.sqrt(norm2(space, a));

/** Cosine similarity; 0 when either vector has zero norm (no direction to compare). */
export const cosine = <V>(space: VectorSpace<V>, a: V, b: V): number =>
  cosineFromGram({ ab: space.dot(a, b), aa: norm2(space, a), bb: norm2(space, b) });

export const cosineFromGram = ({ ab, aa, bb }: Gram): number => {
  const denominator = Math.sqrt(aa) * Math.sqrt(bb);
  if (denominator === 0 || !Number.isFinite(denominator)) return 0;
  // Rounding can push |cos| a hair above 1 for (anti)parallel vectors.
  return Math.max(-1, Math.min(1, ab / denominator));
};

/** a + s·b through the fused path when the space has one. */
export const axpyIn = <V>(space: VectorSpace<V>, a: V, s: number, b: V): V =>
  space.axpy !== undefined ? space.axpy(a, s, b) : space.add(a, space.scale(b, s));

/** The Gram matrix through the fused path when the space has one. */
export const gramIn = <V>(space: VectorSpace<V>, a: V, b: V): Gram =>
  space.gram !== undefined
    ? space.gram(a, b)
    : { ab: space.dot(a, b), aa: norm2(space, a), bb: norm2(space, b) };
