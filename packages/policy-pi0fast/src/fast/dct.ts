/**
 * Orthonormal DCT-II and its inverse (DCT-III), along the time axis of a row-major [T, D] chunk,
 * one transform per column (action dimension). Same convention as scipy.fft.dct(norm="ortho"):
 * X_k = s_k Σ_n x_n cos(π (n + ½) k / N), s_0 = √(1/N), s_k = √(2/N) for k > 0.
 */

const basisCache = new Map<number, Float64Array>();

/** basis[k * N + n] = s_k cos(π (n + ½) k / N); orthogonal, so the inverse is its transpose. */
function orthonormalBasis(n: number): Float64Array {
  const cached = basisCache.get(n);
  if (cached !== undefined) return cached;
  const basis = new Float64Array(n * n);
  for (let k = 0; k < n; k++) {
    const s = k === 0 ? Math.sqrt(1 / n) : Math.sqrt(2 / n);
    for (let t = 0; t < n; t++) basis[k * n + t] = s * Math.cos((Math.PI * (t + 0.5) * k) / n);
  }
  basisCache.set(n, basis);
  return basis;
}

function checkShape(data: ArrayLike<number>, steps: number, dims: number, what: string): void {
  if (!Number.isInteger(steps) || steps < 1 || !Number.isInteger(dims) || dims < 1) {
    throw new Error(`${what}: expected positive integer shape, got [${steps}, ${dims}]`);
  }
  if (data.length !== steps * dims) {
    throw new Error(`${what}: expected ${steps}×${dims} = ${steps * dims} values, got ${data.length}`);
  }
}

/** DCT-II (orthonormal) of each column of a row-major [steps, dims] array; output has the same layout. */
export function dctII(data: ArrayLike<number>, steps: number, dims: number): Float64Array {
  checkShape(data, steps, dims, "dctII");
  const basis = orthonormalBasis(steps);
  const out = new Float64Array(steps * dims);
  for (let k = 0; k < steps; k++) {
    for (let t = 0; t < steps; t++) {
      const b = basis[k * steps + t];
      for (let d = 0; d < dims; d++) out[k * dims + d] += b * data[t * dims + d];
    }
  }
  return out;
}

/** DCT-III (orthonormal), the inverse of {@link dctII}. */
export function dctIII(coefficients: ArrayLike<number>, steps: number, dims: number): Float64Array {
  checkShape(coefficients, steps, dims, "dctIII");
  const basis = orthonormalBasis(steps);
  const out = new Float64Array(steps * dims);
  for (let k = 0; k < steps; k++) {
    for (let t = 0; t < steps; t++) {
      const b = basis[k * steps + t];
      for (let d = 0; d < dims; d++) out[t * dims + d] += b * coefficients[k * dims + d];
    }
  }
  return out;
}
