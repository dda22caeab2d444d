import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-core/dist/public/chained_ops/register_all_chained_ops";
import { beforeAll, describe, expect, test } from "vitest";
import { initBackend, loadNativeBlas, loadOrtBlas, registerWasmKernelPatches, type NativeBlasLoad } from "../src/backend-index";
import { matMulRouting } from "../src/backend/matmulPaths";
import { applyRope, maskedSoftmax, ropeTables } from "../src/model/attention";
import { layerNorm, rmsNorm } from "../src/model/ops";
import { seededRandom } from "../src/model/parameters";

/** Deterministic inputs in [-1, 1) shared by both backends. */
function random(n: number, seed: number): Float32Array {
  const uniform = seededRandom(seed);
  return Float32Array.from({ length: n }, () => uniform() * 2 - 1);
}

const size = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);

/** Runs f on a backend with fresh copies of the inputs and returns every output's values. */
async function runOn(backend: string, f: () => tf.Tensor[]): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  const before = tf.memory().numTensors;
  // Intermediates our kernels allocate on the backend (transposes, per-batch slices) must be freed too.
  const dataIdsBefore = tf.engine().backend.numDataIds();
  const outs = tf.tidy(f);
  const values = outs.map((t) => Float32Array.from(t.dataSync()));
  tf.dispose(outs);
  expect(tf.memory().numTensors).toBe(before);
  expect(tf.engine().backend.numDataIds()).toBe(dataIdsBefore);
  return values;
}

function expectClose(actual: Float32Array[], expected: Float32Array[], tolerance = 1e-4): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((a, i) => {
    const e = expected[i]!;
    expect(a.length).toBe(e.length);
    let worst = 0;
    for (let j = 0; j < a.length; j++) {
      worst = Math.max(worst, Math.abs(a[j]! - e[j]!) / Math.max(1, Math.abs(e[j]!)));
    }
    expect(worst).toBeLessThan(tolerance);
  });
}

const openBlas = loadNativeBlas();
const ortBlas = loadOrtBlas();
/** Every routing the patched matmuls can take on this machine (OpenBLAS only where the addon is built). */
const modes: Array<{ name: string; blas: NativeBlasLoad | null; perBatchWasm: boolean }> = [
  { name: "explicit transposes + stock kernel", blas: null, perBatchWasm: false },
  { name: "explicit transposes + per-batch stock kernel", blas: null, perBatchWasm: true },
  ...(openBlas._tag === "Loaded" ? [{ name: "OpenBLAS addon", blas: openBlas, perBatchWasm: false }] : []),
  // onnxruntime-node is an npm dependency, so it loads wherever `npm ci` ran.
  { name: "ONNX Runtime MLAS", blas: ortBlas, perBatchWasm: false },
];

test("ONNX Runtime's sgemm loads from the npm package (no system packages)", () => {
  expect(ortBlas._tag === "Loaded" ? ortBlas.blas.config() : ortBlas.reason).toMatch(/^ONNX Runtime \d+\.\d+\.\d+ MLAS/);
});

function route(mode: (typeof modes)[number]): void {
  registerWasmKernelPatches({
    blas: mode.blas ?? { _tag: "Unavailable", reason: "test" },
    perBatchWasm: mode.perBatchWasm,
  });
}

beforeAll(async () => {
  await initBackend("cpu");
  const info = await initBackend("wasm");
  expect(info.kernels).toEqual(expect.arrayContaining(["BatchMatMul", "_FusedMatMul", "UnsortedSegmentSum"]));
});

// tfjs-core 4.22's BatchMatMul gradient does not sum over broadcast batch dims (on any backend),
// so broadcast cases check the forward pass only.
const matmulCases: Array<{ a: number[]; b: number[]; label: string; broadcast?: true }> = [
  { label: "1×1·1×1", a: [1, 1], b: [1, 1] },
  { label: "odd 3×17·17×33", a: [3, 17], b: [17, 33] },
  { label: "odd 33×3·3×17", a: [33, 3], b: [3, 17] },
  { label: "batch 1 rank 3", a: [1, 17, 3], b: [1, 3, 33] },
  { label: "rank 3 batch 4", a: [4, 3, 17], b: [4, 17, 5] },
  { label: "rank 3 · shared matrix", a: [4, 3, 17], b: [1, 17, 5], broadcast: true },
  { label: "shared matrix · rank 3", a: [1, 3, 17], b: [4, 17, 5], broadcast: true },
  { label: "rank 4 attention-like", a: [2, 3, 5, 7], b: [2, 3, 7, 4] },
  { label: "rank 4 · rank 2 weight", a: [2, 3, 5, 7], b: [7, 4], broadcast: true },
  { label: "rank 4 batch 1 × 1", a: [1, 1, 33, 17], b: [1, 1, 17, 3] },
];

/** Shapes as stored for the requested transposes (the case lists the untransposed shapes). */
function stored(shape: number[], transpose: boolean): number[] {
  if (!transpose) return shape;
  const s = [...shape];
  [s[s.length - 2], s[s.length - 1]] = [s[s.length - 1]!, s[s.length - 2]!];
  return s;
}

describe.each(modes)("BatchMatMul on wasm ($name) matches cpu", (mode) => {
  for (const c of matmulCases) {
    for (const [transposeA, transposeB] of [[false, false], [true, false], [false, true], [true, true]] as const) {
      test(`${c.label} transposeA=${transposeA} transposeB=${transposeB}: forward${c.broadcast ? "" : " and gradient"}`, async () => {
        route(mode);
        const aShape = stored(c.a, transposeA);
        const bShape = stored(c.b, transposeB);
        const aData = random(size(aShape), 1);
        const bData = random(size(bShape), 2);
        const compute = (): tf.Tensor[] => {
          const a = tf.tensor(aData, aShape);
          const b = tf.tensor(bData, bShape);
          const y = tf.matMul(a, b, transposeA, transposeB);
          if (c.broadcast) return [y];
          const dy = tf.tensor(random(y.size, 3), y.shape);
          const [da, db] = tf.grads((x: tf.Tensor, w: tf.Tensor) => tf.sum(tf.mul(tf.matMul(x, w, transposeA, transposeB), dy)))([a, b]);
          return [y, da!, db!];
        };
        const expected = await runOn("cpu", compute);
        const actual = await runOn("wasm", compute);
        expectClose(actual, expected);
      });
    }
  }
});

describe.each(modes)("_FusedMatMul on wasm ($name) matches cpu", (mode) => {
  const cases: Array<{ a: number[]; b: number[]; bias: boolean; activation: "linear" | "relu" | "elu" }> = [
    { a: [1, 1], b: [1, 1], bias: false, activation: "linear" },
    { a: [3, 17], b: [17, 33], bias: true, activation: "linear" },
    { a: [17, 33], b: [33, 3], bias: true, activation: "relu" },
    { a: [4, 3, 17], b: [4, 17, 5], bias: true, activation: "relu" },
    { a: [33, 17], b: [17, 1], bias: true, activation: "elu" },
    { a: [2, 5, 3], b: [2, 3, 4], bias: true, activation: "elu" },
    { a: [2, 5, 3], b: [2, 3, 4], bias: false, activation: "linear" },
  ];
  for (const c of cases) {
    for (const [transposeA, transposeB] of [[false, false], [true, false], [false, true], [true, true]] as const) {
      test(`[${c.a}]·[${c.b}] bias=${c.bias} ${c.activation} transposeA=${transposeA} transposeB=${transposeB}`, async () => {
        route(mode);
        const aShape = stored(c.a, transposeA);
        const bShape = stored(c.b, transposeB);
        const n = c.b[c.b.length - 1]!;
        const data = [random(size(aShape), 4), random(size(bShape), 5), random(n, 6)];
        const compute = (): tf.Tensor[] => {
          const a = tf.tensor(data[0]!, aShape);
          const b = tf.tensor(data[1]!, bShape);
          const bias = tf.tensor(data[2]!, [n]);
          const f = (x: tf.Tensor, w: tf.Tensor, v: tf.Tensor): tf.Tensor =>
            tf.fused.matMul({ a: x, b: w, transposeA, transposeB, bias: c.bias ? v : undefined, activation: c.activation });
          const y = f(a, b, bias);
          const dy = tf.tensor(random(y.size, 7), y.shape);
          const grads = tf.grads((x: tf.Tensor, w: tf.Tensor, v: tf.Tensor) => tf.sum(tf.mul(f(x, w, v), dy).add(tf.mul(v, 0))))([a, b, bias]);
          return [y, ...grads];
        };
        const expected = await runOn("cpu", compute);
        const actual = await runOn("wasm", compute);
        expectClose(actual, expected);
      });
    }
  }
});

describe("Identity on wasm shares memory safely", () => {
  test("a clone keeps its values after the original is disposed, and a variable assigned from it moves alone", async () => {
    await tf.setBackend("wasm");
    const dataIdsBefore = tf.engine().backend.numDataIds();
    const x = tf.tensor([1, 2, 3]);
    const copy = tf.clone(x);
    const v = tf.variable(copy);
    x.dispose();
    expect(Array.from(copy.dataSync())).toEqual([1, 2, 3]);
    const next = tf.tensor([7, 8, 9]);
    v.assign(next);
    expect(Array.from(copy.dataSync())).toEqual([1, 2, 3]);
    expect(Array.from(v.dataSync())).toEqual([7, 8, 9]);
    // Saved tensors of a gradient go through Identity too: the gradient is unchanged.
    const g = tf.tidy(() => tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.sigmoid(t), t)))(copy));
    const expected = Array.from([1, 2, 3], (a) => {
      const s = 1 / (1 + Math.exp(-a));
      return s + a * s * (1 - s);
    });
    Array.from(g.dataSync()).forEach((value, i) => expect(value).toBeCloseTo(expected[i]!, 5));
    tf.dispose([copy, v, g, next]);
    expect(tf.engine().backend.numDataIds()).toBe(dataIdsBefore);
  });
});

describe("UnsortedSegmentSum on wasm matches cpu", () => {
  const cases: Array<{ x: number[]; ids: number[]; numSegments: number }> = [
    { x: [5], ids: [0, 2, 2, 1, 0], numSegments: 3 },
    { x: [7, 3], ids: [4, 0, 4, 4, 1, 0, 2], numSegments: 6 },
    { x: [1, 17], ids: [0], numSegments: 1 },
    { x: [4, 2], ids: [-1, 0, 9, 1], numSegments: 2 },
  ];
  for (const c of cases) {
    test(`x [${c.x}] ids [${c.ids}] into ${c.numSegments} segments`, async () => {
      const xData = random(size(c.x), 8);
      const compute = (): tf.Tensor[] => [
        tf.unsortedSegmentSum(tf.tensor(xData, c.x), tf.tensor1d(c.ids, "int32"), c.numSegments),
        tf.unsortedSegmentSum(tf.tensor(xData, c.x).mul(100).round().toInt(), tf.tensor1d(c.ids, "int32"), c.numSegments).toFloat(),
      ];
      expectClose(await runOn("wasm", compute), await runOn("cpu", compute), 1e-6);
    });
  }

  test("out-of-range ids are dropped (hand-worked)", async () => {
    const values = await runOn("wasm", () => [
      tf.unsortedSegmentSum(tf.tensor1d([1, 2, 4, 8, 16]), tf.tensor1d([1, -1, 1, 5, 0], "int32"), 3),
    ]);
    expect(Array.from(values[0]!)).toEqual([16, 5, 0]);
  });

  test("rank-2 segment ids over a rank-3 x (hand-worked; the cpu kernel cannot broadcast them)", async () => {
    const x = Array.from({ length: 2 * 3 * 2 }, (_, i) => i + 1); // rows [1,2] [3,4] [5,6] [7,8] [9,10] [11,12]
    const values = await runOn("wasm", () => [
      tf.unsortedSegmentSum(tf.tensor3d(x, [2, 3, 2]), tf.tensor2d([[1, 0, 1], [3, 3, 3]], [2, 3], "int32") as unknown as tf.Tensor1D, 4),
    ]);
    expect(Array.from(values[0]!)).toEqual([3, 4, 1 + 5, 2 + 6, 0, 0, 7 + 9 + 11, 8 + 10 + 12]);
  });

  test("gradient of gather (an embedding lookup) with repeated ids", async () => {
    const table = random(11 * 8, 9);
    const ids = [[1, 2, 3, 3], [10, 0, 1, 1]];
    const compute = (): tf.Tensor[] => {
      const weights = tf.tensor(random(2 * 4 * 8, 10), [2, 4, 8]);
      const grad = tf.grad((emb: tf.Tensor) => tf.sum(tf.mul(tf.gather(emb, tf.tensor2d(ids, [2, 4], "int32")), weights)));
      return [grad(tf.tensor(table, [11, 8]))];
    };
    expectClose(await runOn("wasm", compute), await runOn("cpu", compute), 1e-6);
  });
});

test("the routing in use is the one asked for", () => {
  route(modes[0]!);
  expect(matMulRouting.blas).toBeNull();
  expect(matMulRouting.perBatchWasm).toBe(false);
});

/** The textbook formulas, differentiated by tfjs's autodiff: the reference for the written-out gradients. */
const reference = {
  layerNorm: (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor): tf.Tensor => {
    const c = tf.sub(x, tf.mean(x, -1, true));
    return tf.add(tf.mul(tf.mul(c, tf.rsqrt(tf.add(tf.mean(tf.square(c), -1, true), 1e-6))), w), b);
  },
  rmsNorm: (x: tf.Tensor, w: tf.Tensor): tf.Tensor => tf.mul(tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), 1e-6))), tf.add(w, 1)),
  maskedSoftmax: (s: tf.Tensor, bias: tf.Tensor): tf.Tensor => tf.softmax(tf.add(s, bias)),
  /** HF Gemma's apply_rotary_pos_emb: x·cos + rotate_half(x)·sin, rotate_half = cat(−x₂, x₁). */
  rope: (x: tf.Tensor, cos: tf.Tensor, sin: tf.Tensor): tf.Tensor => {
    const half = x.shape[3]! / 2;
    const rotated = tf.concat([tf.neg(tf.slice(x, [0, 0, 0, half], [-1, -1, -1, half])), tf.slice(x, [0, 0, 0, 0], [-1, -1, -1, half])], 3);
    return tf.add(tf.mul(x, cos), tf.mul(rotated, sin));
  },
};

describe("fused ops (written-out gradients): LayerNorm, RMSNorm, masked softmax, RoPE", () => {
  const x = random(2 * 3 * 16, 11).map((v, i) => v * 3 + (i % 5));
  const w = random(16, 12);
  const b = random(16, 13);
  const dyData = random(2 * 3 * 16, 14);
  // Two samples, one query row fully masked but the diagonal: the large negative bias as the model uses it.
  const scores = random(2 * 2 * 5 * 5, 15).map((v) => v * 4);
  const biasData = Float32Array.from({ length: 2 * 5 * 5 }, (_, i) => ((i % 25) % 6 === 0 || (i * 7) % 3 !== 0 ? 0 : -1e9));
  const dsData = random(2 * 2 * 5 * 5, 16);
  const cases: Array<{ name: string; run: (fused: boolean) => tf.Tensor[] }> = [
    {
      name: "LayerNorm [2,3,16]",
      run: (fused) => {
        const f = fused ? layerNorm : reference.layerNorm;
        const dy = tf.tensor(dyData, [2, 3, 16]);
        const loss = (a: tf.Tensor, c: tf.Tensor, d: tf.Tensor) => tf.sum(tf.mul(f(a, c, d), dy));
        const inputs = [tf.tensor(x, [2, 3, 16]), tf.tensor(w), tf.tensor(b)];
        return [f(inputs[0]!, inputs[1]!, inputs[2]!), ...tf.grads(loss)(inputs)];
      },
    },
    {
      name: "RMSNorm [6,16]",
      run: (fused) => {
        const f = fused ? rmsNorm : reference.rmsNorm;
        const dy = tf.tensor(dyData, [6, 16]);
        const inputs = [tf.tensor(x, [6, 16]), tf.tensor(w)];
        return [f(inputs[0]!, inputs[1]!), ...tf.grads((a: tf.Tensor, c: tf.Tensor) => tf.sum(tf.mul(f(a, c), dy)))(inputs)];
      },
    },
    {
      name: "masked softmax [2,2,5,5] with bias [2,1,5,5]",
      run: (fused) => {
        const bias = tf.tensor(biasData, [2, 1, 5, 5]);
        const f = (s: tf.Tensor) => (fused ? maskedSoftmax(s, bias) : reference.maskedSoftmax(s, bias));
        const ds = tf.tensor(dsData, [2, 2, 5, 5]);
        const s = tf.tensor(scores, [2, 2, 5, 5]);
        return [f(s), tf.grad((t: tf.Tensor) => tf.sum(tf.mul(f(t), ds)))(s)];
      },
    },
    {
      name: "RoPE [2,3,4,8] (4 heads, head_dim 8)",
      run: (fused) => {
        const { cos, sin } = ropeTables(Float32Array.from([0, 1, 2, 0, 5, 9]), 2, 3, 8);
        const f = (t: tf.Tensor) => (fused ? applyRope(t, cos, sin) : reference.rope(t, cos, sin));
        const dy = tf.tensor(random(2 * 3 * 4 * 8, 18), [2, 3, 4, 8]);
        const xt = tf.tensor(random(2 * 3 * 4 * 8, 17), [2, 3, 4, 8]);
        return [f(xt), tf.grad((t: tf.Tensor) => tf.sum(tf.mul(f(t), dy)))(xt)];
      },
    },
  ];
  for (const c of cases) {
    test(`${c.name}: forward and gradients equal autodiff of the formula (cpu), and wasm equals cpu`, async () => {
      const expected = await runOn("cpu", () => c.run(false));
      const fusedCpu = await runOn("cpu", () => c.run(true));
      expectClose(fusedCpu, expected, 2e-5);
      route(modes[modes.length - 1]!);
      const fusedWasm = await runOn("wasm", () => c.run(true));
      expectClose(fusedWasm, expected, 2e-5);
      // The gradients are not trivially zero (a wrong formula would not hide behind them).
      expect(Math.max(...expected.slice(1).map((g) => Math.max(...Array.from(g, Math.abs))))).toBeGreaterThan(1e-2);
    });
  }
});
