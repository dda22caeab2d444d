// A synthetic TrainablePolicy of ~4.8M parameters whose computeGradients does real arithmetic:
// a two-layer ReLU MLP regression (1024 → 2340 → 1024) on `rows` input rows, forward and backward
// in plain JS over Float32Array (≈ 6·rows·P floating-point operations per call, independent of the
// data: no sparsity shortcuts, so every call costs the same).
import { seededUniform } from "../seeded-uniform.mjs";

export const IN = 1024;
export const HIDDEN = 2340;
export const OUT = 1024;

/** out[m×n] = a[m×k]·b[k×n] (i-k-j order, row-major). */
const matmul = (a, b, m, k, n) => {
  const out = new Float32Array(m * n);
  for (let i = 0; i < m; i++) {
    const row = i * n;
    for (let p = 0; p < k; p++) {
      const x = a[i * k + p];
      const col = p * n;
      for (let j = 0; j < n; j++) out[row + j] += x * b[col + j];
    }
  }
  return out;
};

/** out[k×n] = a[m×k]ᵀ·b[m×n]. */
const matmulTA = (a, b, m, k, n) => {
  const out = new Float32Array(k * n);
  for (let i = 0; i < m; i++) {
    for (let p = 0; p < k; p++) {
      const x = a[i * k + p];
      const row = p * n;
      const src = i * n;
      for (let j = 0; j < n; j++) out[row + j] += x * b[src + j];
    }
  }
  return out;
};

/** out[m×k] = a[m×n]·b[k×n]ᵀ. */
const matmulTB = (a, b, m, n, k) => {
  const out = new Float32Array(m * k);
  for (let i = 0; i < m; i++) {
    for (let p = 0; p < k; p++) {
      let s = 0;
      const ar = i * n;
      const br = p * n;
      for (let j = 0; j < n; j++) s += a[ar + j] * b[br + j];
      out[i * k + p] = s;
    }
  }
  return out;
};

export const makeBatchSource = ({ rows, seed }) => {
  let index = 0;
  return {
    async next() {
      const r = seededUniform(seed * 7919 + index);
      index += 1;
      const x = Float32Array.from({ length: rows * IN }, () => r() * 2 - 1);
      const y = Float32Array.from({ length: rows * OUT }, () => r() * 2 - 1);
      return { x, y, rows };
    },
    position: () => ({ index }),
    restore(p) {
      index = p.index;
    },
  };
};

export const makeSyntheticPolicy = (seed = 1) => {
  const r = seededUniform(seed);
  const init = (n, scale) => Float32Array.from({ length: n }, () => (r() * 2 - 1) * scale);
  let params = {
    w1: init(IN * HIDDEN, 1 / Math.sqrt(IN)),
    b1: new Float32Array(HIDDEN),
    w2: init(HIDDEN * OUT, 1 / Math.sqrt(HIDDEN)),
    b2: new Float32Array(OUT),
  };
  const forward = ({ x, y, rows }) => {
    const h = matmul(x, params.w1, rows, IN, HIDDEN);
    for (let i = 0; i < rows; i++) for (let j = 0; j < HIDDEN; j++) h[i * HIDDEN + j] = Math.max(0, h[i * HIDDEN + j] + params.b1[j]);
    const out = matmul(h, params.w2, rows, HIDDEN, OUT);
    let loss = 0;
    const dOut = new Float32Array(rows * OUT);
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j < OUT; j++) {
        const d = out[i * OUT + j] + params.b2[j] - y[i * OUT + j];
        loss += d * d;
        dOut[i * OUT + j] = (2 * d) / (rows * OUT);
      }
    }
    return { h, dOut, loss: loss / (rows * OUT) };
  };
  return {
    parameterCount: IN * HIDDEN + HIDDEN + HIDDEN * OUT + OUT,
    async evaluate(batch) {
      return { loss: forward(batch).loss };
    },
    async computeGradients(batch) {
      const { rows, x } = batch;
      const { h, dOut, loss } = forward(batch);
      const w2 = matmulTA(h, dOut, rows, HIDDEN, OUT);
      const b2 = new Float32Array(OUT);
      for (let i = 0; i < rows; i++) for (let j = 0; j < OUT; j++) b2[j] += dOut[i * OUT + j];
      const dh = matmulTB(dOut, params.w2, rows, OUT, HIDDEN);
      for (let i = 0; i < rows * HIDDEN; i++) if (h[i] <= 0) dh[i] = 0;
      const w1 = matmulTA(x, dh, rows, IN, HIDDEN);
      const b1 = new Float32Array(HIDDEN);
      for (let i = 0; i < rows; i++) for (let j = 0; j < HIDDEN; j++) b1[j] += dh[i * HIDDEN + j];
      return { loss, grads: { w1, b1, w2, b2 } };
    },
    getParameters: () => Object.fromEntries(Object.entries(params).map(([k, v]) => [k, Float32Array.from(v)])),
    setParameters(next) {
      params = { ...params, ...next };
    },
    noWeightDecay: (name) => name.startsWith("b"),
    async save(dir) {
      await (await import("node:fs/promises")).mkdir(`${dir}/pretrained_model`, { recursive: true });
    },
  };
};
