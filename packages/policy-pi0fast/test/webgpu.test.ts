/**
 * The WebGPU backend (tfjs-backend-webgpu on Dawn) against the cpu backend: every op the pi0-FAST
 * forward and backward pass uses (forward and gradient, random shapes, edge cases), the micro
 * model's loss and gradients, a few training steps of a micro policy, and the bounded buffer pool.
 *
 * Runs without a GPU: Dawn's OpenGL ES backend on Mesa's llvmpipe gives an adapter on any CPU
 * (Debian: libegl1 libegl-mesa0 libgles2 libgl1-mesa-dri). Where no adapter can be found the
 * suite fails in beforeAll with the reason (what is missing), never skips.
 */
import * as tf from "@tensorflow/tfjs-core";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { initBackend, type BackendInfo } from "../src/backend/index";
import { isSoftwareAdapter, probeWebGpu, setWebGpuPoolBudget, trimWebGpuPool, webgpuErrors, webgpuMemory } from "../src/backend/webgpuBackend";
import { geluTanh, layerNorm, linear, matmul, rmsNorm, embed } from "../src/model/ops";
import { seededRandom } from "../src/model/parameters";
import { actionLoss } from "../src/model/pi0fast";
import { createPi0FastPolicy } from "../src/policy";
import type { Batch } from "../src/processor";
import { disposeAll, handInputs, microConfig, microParams } from "./model-helpers";
import { loadSo101Frames, so101Batch, so101FastTokenizer } from "./policy-so101";

let info: BackendInfo;
/** Kernels the op tests below ran on webgpu (forward and backward), for the coverage check. */
const exercised = new Set<string>();

beforeAll(async () => {
  await initBackend("cpu");
  // Throws "policy.device=webgpu: backend unavailable (… no WebGPU adapter: …)" naming what is missing.
  info = await initBackend("webgpu");
});

afterAll(() => {
  expect(webgpuErrors()).toEqual([]);
});

type Input = { readonly data: Float32Array | Int32Array; readonly shape: number[]; readonly dtype: "float32" | "int32"; readonly grad: boolean };

function rand(shape: number[], seed: number, scale = 1, offset = 0): Input {
  const r = seededRandom(seed);
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < data.length; i++) data[i] = offset + scale * (2 * r() - 1);
  return { data, shape, dtype: "float32", grad: true };
}

function ints(shape: number[], seed: number, max: number): Input {
  const r = seededRandom(seed);
  const data = new Int32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < data.length; i++) data[i] = Math.floor(r() * max);
  return { data, shape, dtype: "int32", grad: false };
}

const fixed = (x: Input): Input => ({ ...x, grad: false });

/** f's output and the gradient of Σ f·w (w random) with respect to every `grad` input, read asynchronously. */
async function evaluate(device: "cpu" | "webgpu", inputs: Input[], f: (...xs: tf.Tensor[]) => tf.Tensor, withGrad: boolean): Promise<Float32Array[]> {
  await tf.setBackend(device);
  const xs = inputs.map((x) => tf.tensor(x.data, x.shape, x.dtype));
  const diff = inputs.map((x, i) => (x.grad ? i : -1)).filter((i) => i >= 0);
  let outs: tf.Tensor[] = [];
  const run = () => {
    outs = tf.tidy(() => {
      const y = f(...xs);
      if (!withGrad || diff.length === 0) return [y];
      const w = tf.tensor(rand(y.shape, 99).data, y.shape);
      const g = tf.grads((...ds: tf.Tensor[]) => {
        const all = [...xs];
        diff.forEach((k, j) => (all[k] = ds[j]));
        return tf.sum(tf.mul(tf.cast(f(...all), "float32"), w));
      })(diff.map((k) => xs[k]));
      return [y, ...g];
    });
  };
  if (device === "webgpu") {
    const profile = await tf.profile(run);
    for (const k of profile.kernels) exercised.add(k.name);
  } else {
    run();
  }
  const values = await Promise.all(outs.map((t) => t.data()));
  outs.forEach((t) => t.dispose());
  xs.forEach((t) => t.dispose());
  return values.map((v) => Float32Array.from(v));
}

/** webgpu and cpu agree on f and its gradients to |Δ| ≤ atol + rtol·max|cpu|. */
async function agree(inputs: Input[], f: (...xs: tf.Tensor[]) => tf.Tensor, opts: { withGrad?: boolean; rtol?: number; atol?: number } = {}): Promise<void> {
  const withGrad = opts.withGrad ?? true;
  const cpu = await evaluate("cpu", inputs, f, withGrad);
  const gpu = await evaluate("webgpu", inputs, f, withGrad);
  expect(gpu.length).toBe(cpu.length);
  cpu.forEach((ref, k) => {
    const got = gpu[k];
    expect(got.length, `output ${k} length`).toBe(ref.length);
    let maxRef = 0;
    let maxDiff = 0;
    for (let i = 0; i < ref.length; i++) {
      maxRef = Math.max(maxRef, Math.abs(ref[i]));
      maxDiff = Math.max(maxDiff, Math.abs(ref[i] - got[i]));
    }
    expect(Number.isFinite(maxDiff), `output ${k} finite`).toBe(true);
    expect(maxDiff, `${k === 0 ? "forward" : `gradient ${k}`}: max |webgpu − cpu| (max |cpu| ${maxRef})`).toBeLessThanOrEqual(
      (opts.atol ?? 1e-5) + (opts.rtol ?? 1e-4) * maxRef,
    );
  });
  await tf.setBackend("webgpu");
}

describe("WebGPU adapter and backend selection", () => {
  it("starts tfjs's webgpu backend and records the adapter's name, limits and Dawn backend", () => {
    expect(tf.getBackend()).toBe("webgpu");
    expect(info.name).toBe("webgpu");
    expect(info.adapter?.name).toMatch(/\S/);
    expect(info.adapter?.limits.maxStorageBufferBindingSize).toBeGreaterThan(0);
    expect(info.adapter?.limits.maxBufferSize).toBeGreaterThan(0);
    expect(["default", "opengles"]).toContain(info.adapter?.dawnBackend);
    // Dawn's OpenGL ES backend exists only at the compatibility feature level.
    if (info.adapter?.dawnBackend === "opengles") expect(info.adapter.featureLevel).toBe("compatibility");
    if (info.adapter?.software) expect(process.env.EGL_PLATFORM).toBeTruthy();
  });

  it("classifies software rasterisers by their adapter strings", () => {
    expect(isSoftwareAdapter({ device: "llvmpipe-llvm-15-0-6-256-bits-", description: "OpenGL version OpenGL ES 3.2 Mesa 22.3.6" })).toBe(true);
    expect(isSoftwareAdapter({ vendor: "mesa", device: "llvmpipe (LLVM 15.0.6, 256 bits)" })).toBe(true);
    expect(isSoftwareAdapter({ vendor: "google", device: "SwiftShader Device (Subzero)" })).toBe(true);
    expect(isSoftwareAdapter({ device: "lavapipe", description: "Mesa 24" })).toBe(true);
    expect(isSoftwareAdapter({ vendor: "nvidia", device: "NVIDIA H200", description: "NVIDIA: 580.159" })).toBe(false);
    expect(isSoftwareAdapter({ vendor: "amd", architecture: "rdna-3", device: "AMD Radeon RX 7900 XTX" })).toBe(false);
  });

  it("auto does not pick a software adapter over wasm", async () => {
    const probe = await probeWebGpu();
    expect(probe.ok).toBe(true);
    const auto = await initBackend("auto");
    // wasm here; cpu in the GPU machine's bundle, which carries no wasm binaries.
    if (probe.ok && probe.adapter.software) expect(["wasm", "cpu"]).toContain(auto.name);
    else expect(auto.name).toBe("webgpu");
    await tf.setBackend("webgpu");
  });
});

describe("reads", () => {
  it("a synchronous read of a GPU tensor is a clear error (Node has no OffscreenCanvas); data() works", async () => {
    await tf.setBackend("webgpu");
    // Above tfjs's CPU-forwarding threshold (small ops on host data run on the CPU).
    const values = Float32Array.from({ length: 4096 }, (_, i) => i);
    const host = tf.tensor(values);
    expect(host.dataSync()[4095]).toBe(4095); // still on the host: fine
    const y = tf.mul(host, 2);
    expect(() => y.dataSync()).toThrow(/cannot be read synchronously .*await tensor\.data\(\)/);
    expect((await y.data())[4095]).toBe(8190);
    tf.dispose([host, y]);
  });
});

describe("ops of the pi0-FAST forward and backward pass: webgpu vs cpu", () => {
  it("matMul: 2-D, batched, batch 1, odd sizes, every transpose combination", async () => {
    await agree([rand([7, 13], 1), rand([13, 5], 2)], (a, b) => tf.matMul(a, b));
    await agree([rand([1, 1], 3), rand([1, 9], 4)], (a, b) => tf.matMul(a, b));
    await agree([rand([3, 17, 33], 5), rand([3, 33, 11], 6)], (a, b) => tf.matMul(a, b));
    await agree([rand([1, 6, 8], 7), rand([1, 8, 3], 8)], (a, b) => tf.matMul(a, b));
    for (const [ta, tb] of [[false, true], [true, false], [true, true]] as const) {
      const a = ta ? rand([2, 19, 9], 9) : rand([2, 9, 19], 9);
      const b = tb ? rand([2, 7, 19], 10) : rand([2, 19, 7], 10);
      await agree([a, b], (x, y) => tf.matMul(x, y, ta, tb));
    }
    // Large enough to take tfjs's tiled matmul programs rather than the small-size path.
    await agree([rand([70, 129], 11), rand([129, 65], 12)], (a, b) => tf.matMul(a, b), { rtol: 1e-4, atol: 1e-4 });
  });

  it("elementwise arithmetic with broadcasting", async () => {
    const a = rand([4, 1, 6], 20);
    const b = rand([3, 6], 21);
    await agree([a, b], (x, y) => tf.add(x, y));
    await agree([a, b], (x, y) => tf.sub(x, y));
    await agree([a, b], (x, y) => tf.mul(x, y));
    await agree([a, rand([3, 6], 22, 1, 3)], (x, y) => tf.div(x, y));
    await agree([rand([5, 7], 23)], (x) => tf.add(x, 1));
    await agree([rand([5, 7], 24)], (x) => tf.sub(1, x));
    await agree([rand([5, 7], 25)], (x) => tf.mul(x, 0.125));
  });

  it("unary functions", async () => {
    const x = rand([3, 11], 30, 2);
    await agree([x], (t) => tf.exp(t));
    await agree([rand([3, 11], 31, 1, 2)], (t) => tf.log(t));
    await agree([x], (t) => tf.neg(t));
    await agree([rand([3, 11], 32, 1, 2)], (t) => tf.rsqrt(t));
    await agree([rand([3, 11], 32, 1, 2)], (t) => tf.sqrt(t));
    await agree([x], (t) => tf.sigmoid(t));
    await agree([x], (t) => tf.tanh(t));
    await agree([x], (t) => tf.square(t));
    await agree([rand([3, 11], 33, 1, 2)], (t) => tf.pow(t, 3));
    await agree([x, rand([3, 11], 34, 0.5, 1.5)], (t, e) => tf.pow(tf.abs(t), e), { rtol: 1e-4, atol: 1e-4 });
  });

  it("reductions over the last and other axes, keepDims, a single element", async () => {
    const x = rand([2, 5, 9], 40, 3);
    await agree([x], (t) => tf.sum(t, -1, true));
    await agree([x], (t) => tf.sum(t));
    await agree([x], (t) => tf.sum(t, 1));
    await agree([x], (t) => tf.mean(t, -1, true));
    await agree([x], (t) => tf.mean(t, [0, 1]));
    await agree([x], (t) => tf.max(t, -1, true));
    await agree([x], (t) => tf.max(t, 1));
    await agree([rand([1, 1], 41)], (t) => tf.mean(t, -1, true));
  });

  it("softmax and logSoftmax over a row of 1025 (odd) and small rows", async () => {
    await agree([rand([3, 1025], 50, 4)], (t) => tf.logSoftmax(t));
    await agree([rand([2, 3, 7], 51, 4)], (t) => tf.softmax(t));
    await agree([rand([1, 1], 52)], (t) => tf.softmax(t));
    // Masked attention-style softmax: −1e9 on masked positions.
    const mask = new Float32Array(4 * 6).map((_, i) => (i % 6 > i / 6 ? -1e9 : 0));
    await agree([rand([4, 6], 53, 2), { data: mask, shape: [4, 6], dtype: "float32", grad: false }], (s, m) => tf.softmax(tf.add(s, m)));
  });

  it("gather rows (embedding lookup) and its UnsortedSegmentSum gradient, repeated ids", async () => {
    await agree([rand([37, 6], 60), ints([23], 61, 37)], (t, ids) => tf.gather(t, ids));
    await agree([rand([5, 3], 62), { data: Int32Array.from([4, 4, 0, 4]), shape: [4], dtype: "int32", grad: false }], (t, ids) => tf.gather(t, ids));
    await agree([rand([3, 8, 4], 63), ints([5], 64, 8)], (t, ids) => tf.gather(t, ids, 1));
    await agree([rand([10, 4], 65), ints([10], 66, 6)], (t, ids) => tf.unsortedSegmentSum(t, ids as tf.Tensor1D, 6), { withGrad: false });
  });

  it("shape ops: reshape, transpose, concat, slice, split, pad, expandDims, tile", async () => {
    const x = rand([2, 3, 4, 5], 70);
    await agree([x], (t) => tf.reshape(t, [6, 20]));
    await agree([x], (t) => tf.transpose(t, [0, 2, 1, 3]));
    await agree([x], (t) => tf.transpose(t, [3, 1, 2, 0]));
    await agree([rand([7, 3], 71)], (t) => tf.transpose(t));
    await agree([rand([2, 3, 5], 72), rand([2, 4, 5], 73)], (a, b) => tf.concat([a, b], 1));
    await agree([rand([2, 3, 5], 74), rand([2, 3, 2], 75)], (a, b) => tf.concat([a, b], -1));
    await agree([x], (t) => tf.slice(t, [0, 1, 1, 0], [2, 2, 3, 4]));
    await agree([x], (t) => tf.concat(tf.split(t, [1, 3, 1], -1).reverse(), -1));
    await agree([x], (t) => tf.concat(tf.split(t, 2, 0).reverse(), 0));
    await agree([rand([3, 4], 76)], (t) => tf.pad(t, [[0, 2], [1, 0]]));
    await agree([rand([3, 4], 77)], (t) => tf.pad(t, [[1, 1], [0, 3]], -1));
    await agree([rand([3, 4], 78)], (t) => tf.expandDims(t, 1));
    await agree([rand([1, 4], 79)], (t) => tf.tile(t, [3, 1]));
  });

  it("argMax, casts, comparisons and where (forward only)", async () => {
    await agree([rand([6, 33], 80, 5)], (t) => tf.argMax(t, -1), { withGrad: false });
    await agree([ints([4, 5], 81, 100)], (t) => tf.cast(t, "float32"), { withGrad: false });
    await agree([rand([4, 5], 82, 50)], (t) => tf.cast(t, "int32"), { withGrad: false });
    await agree([rand([4, 5], 83)], (t) => tf.zerosLike(t), { withGrad: false });
    await agree([rand([4, 5], 84), rand([4, 5], 85)], (a, b) => tf.where(tf.greater(a, b), a, b), { withGrad: false });
  });

  it("the model's building blocks with hand-written gradients (ops.ts)", async () => {
    await agree([rand([9, 16], 90), rand([16, 16], 91)], (a, b) => matmul(a, b));
    await agree([rand([2, 9, 8], 92), rand([2, 8, 5], 93)], (a, b) => matmul(a, b));
    await agree([rand([7, 12], 94), rand([5, 12], 95), rand([5], 96)], (x, w, b) => linear(x, w, b));
    await agree([rand([1, 3], 97), rand([4, 3], 98)], (x, w) => linear(x, w));
    await agree([rand([6, 10], 100, 3), rand([10], 101)], (x, w) => rmsNorm(x, w));
    await agree([rand([6, 10], 102, 3, 1), rand([10], 103, 0.1, 1), rand([10], 104)], (x, w, b) => layerNorm(x, w, b));
    await agree([rand([5, 13], 105, 4)], (x) => geluTanh(x));
    await agree([rand([31, 8], 106), ints([12], 107, 31)], (t, ids) => embed(t, ids));
  });
});

describe("the micro pi0-FAST model on webgpu", () => {
  it("loss and every gradient match the cpu backend; every kernel it runs was exercised by the op tests above", async () => {
    const run = async (device: "cpu" | "webgpu") => {
      await tf.setBackend(device);
      const config = microConfig();
      const params = microParams(config, 11);
      const inputs = handInputs(config);
      const names = Object.keys(params);
      let outs: tf.Tensor[] = [];
      const kernels = new Set<string>();
      const step = () => {
        outs = tf.tidy(() => {
          const f = (...ts: tf.Tensor[]) => {
            const p = { ...params };
            names.forEach((n, i) => (p[n] = ts[i]));
            return actionLoss(p, config, inputs).loss;
          };
          const r = tf.valueAndGrads(f)(names.map((n) => params[n]));
          return [r.value, ...r.grads];
        });
      };
      const profile = await tf.profile(step);
      for (const k of profile.kernels) kernels.add(k.name);
      const values = (await Promise.all(outs.map((t) => t.data()))) as Float32Array[];
      outs.forEach((t) => t.dispose());
      disposeAll(params);
      return { loss: values[0][0], grads: values.slice(1), names, kernels };
    };
    const cpu = await run("cpu");
    const gpu = await run("webgpu");
    expect(Number.isFinite(gpu.loss)).toBe(true);
    expect(Math.abs(gpu.loss - cpu.loss)).toBeLessThanOrEqual(1e-4 * Math.abs(cpu.loss));
    cpu.grads.forEach((g, k) => {
      let maxDiff = 0;
      let maxAbs = 0;
      for (let i = 0; i < g.length; i++) {
        maxDiff = Math.max(maxDiff, Math.abs(g[i] - gpu.grads[k][i]));
        maxAbs = Math.max(maxAbs, Math.abs(g[i]));
      }
      expect(maxDiff, cpu.names[k]).toBeLessThan(1e-3 * Math.max(maxAbs, 1e-2));
    });
    // tf.profile also lists op scopes (customGrad "forward", "logSoftmax__op"); keep real kernels.
    const used = [...gpu.kernels].filter((k) => tf.getKernel(k, "webgpu") !== undefined).sort();
    expect(used).toContain("BatchMatMul");
    expect(used).toContain("UnsortedSegmentSum");
    expect(used.filter((k) => !exercised.has(k))).toEqual([]);
  });
});

describe("training steps of a micro pi0-FAST policy (so101 frames + a synthetic camera)", () => {
  it("three Adam steps on webgpu match the cpu backend's losses (rtol 1e-3)", async () => {
    const frames = await loadSo101Frames();
    const fast = await so101FastTokenizer(5, 64);
    const base = so101Batch(frames, [30, 700], 5);
    const r = seededRandom(7);
    const pixels = new Uint8Array(2 * 24 * 24 * 3).map(() => Math.floor(r() * 256));
    const batch: Batch = { ...base, features: { ...base.features, "observation.images.front": { data: pixels, shape: [2, 24, 24, 3] } } };
    const config = {
      preset: "tiny",
      image_keys: ["observation.images.front"],
      max_state_dim: 6,
      image_resolution: [32, 32],
      vision: { width: 32, depth: 1, mlp_dim: 64, heads: 2, image_size: 32, patch_size: 8 },
      decoder: { width: 64, depth: 1, mlp_dim: 128, heads: 2, head_dim: 32, vocab_size: 1024 },
      chunk_size: 5,
      n_action_steps: 5,
      max_action_tokens: 24,
      max_decoding_steps: 24,
    };
    const train = async (device: "cpu" | "webgpu") => {
      await tf.setBackend(device);
      const policy = createPi0FastPolicy({ config, stats: frames.stats as never, fastTokenizer: fast, seed: 3 });
      const m: Record<string, Float32Array> = {};
      const v: Record<string, Float32Array> = {};
      const losses: number[] = [];
      for (let t = 1; t <= 3; t++) {
        const { loss, grads } = await policy.computeGradients(batch);
        losses.push(loss);
        const params = policy.getParameters();
        for (const [name, g] of Object.entries(grads)) {
          const p = params[name];
          const mm = (m[name] ??= new Float32Array(g.length));
          const vv = (v[name] ??= new Float32Array(g.length));
          for (let i = 0; i < g.length; i++) {
            mm[i] = 0.9 * mm[i] + 0.1 * g[i];
            vv[i] = 0.999 * vv[i] + 0.001 * g[i] * g[i];
            p[i] -= (1e-3 * mm[i]) / (1 - 0.9 ** t) / (Math.sqrt(vv[i] / (1 - 0.999 ** t)) + 1e-8);
          }
        }
        policy.setParameters(params);
      }
      policy.dispose();
      return losses;
    };
    const cpu = await train("cpu");
    const gpu = await train("webgpu");
    expect(cpu[2]).toBeLessThan(cpu[0]);
    gpu.forEach((loss, i) => {
      expect(Number.isFinite(loss)).toBe(true);
      expect(Math.abs(loss - cpu[i]), `step ${i + 1}: webgpu ${loss} vs cpu ${cpu[i]}`).toBeLessThanOrEqual(1e-3 * Math.abs(cpu[i]));
    });
  });
});

describe("bounded WebGPU buffer pool", () => {
  it("keeps the bytes of released buffers under the budget while tfjs alone keeps them all", async () => {
    await tf.setBackend("webgpu");
    const MiB = 1024 * 1024;
    const churn = async (count: number) => {
      // Distinct sizes (1–2.5 MiB), each written, read back and disposed: nothing can be reused.
      for (let i = 0; i < count; i++) {
        const n = (MiB + i * 24 * 1024) / 4;
        const t = tf.tidy(() => tf.add(tf.fill([n], i), 1));
        const back = await t.data();
        expect(back[n - 1]).toBe(i + 1);
        t.dispose();
      }
    };
    trimWebGpuPool();
    setWebGpuPoolBudget(Number.MAX_SAFE_INTEGER); // tfjs's own behaviour: every released buffer kept
    const unbounded0 = webgpuMemory()!;
    await churn(30);
    const unbounded = webgpuMemory()!;
    expect(unbounded.pooledBytes - unbounded0.pooledBytes).toBeGreaterThan(40 * MiB);

    const budget = 8 * MiB;
    setWebGpuPoolBudget(budget);
    const before = webgpuMemory()!;
    expect(before.pooledBytes).toBeLessThanOrEqual(budget);
    expect(before.evictedBytes - unbounded.evictedBytes).toBeGreaterThan(30 * MiB);
    await churn(60);
    const after = webgpuMemory()!;
    expect(after.pooledBytes).toBeLessThanOrEqual(budget);
    expect(after.allocatedBytes).toBeLessThanOrEqual(after.inUseBytes + budget);
    expect(after.evictedBuffers).toBeGreaterThan(before.evictedBuffers + 50);

    // Same-size tensors are still served from the pool.
    const reused = after.reused;
    for (let i = 0; i < 5; i++) {
      const t = tf.tidy(() => tf.add(tf.fill([4096], i), 1));
      await t.data();
      t.dispose();
    }
    expect(webgpuMemory()!.reused).toBeGreaterThan(reused);

    trimWebGpuPool();
    expect(webgpuMemory()!.pooledBytes).toBe(0);
    setWebGpuPoolBudget(2 * 1024 ** 3);
  });
});

describe("where WebGPU cannot start", () => {
  const saved = { backend: process.env.PI0FAST_WEBGPU_BACKEND, egl: process.env.EGL_PLATFORM };
  afterAll(() => {
    vi.doUnmock("webgpu");
    vi.resetModules();
    for (const [key, value] of [["PI0FAST_WEBGPU_BACKEND", saved.backend], ["EGL_PLATFORM", saved.egl]] as const) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  });

  it("asking for webgpu with no adapter is an error naming what is missing, and auto falls back to wasm", async () => {
    // Fresh module state (adapter discovery is once per process); EGL pointed at a platform that
    // does not exist, so Dawn's OpenGL ES backend finds no display.
    vi.resetModules();
    process.env.PI0FAST_WEBGPU_BACKEND = "opengles";
    process.env.EGL_PLATFORM = "no-such-platform";
    const fresh = await import("../src/backend/index");
    await expect(fresh.initBackend("webgpu")).rejects.toThrow(
      /^policy\.device=webgpu: backend unavailable \(webgpu \+ @tensorflow\/tfjs-backend-webgpu: no WebGPU adapter: Dawn's OpenGL ES backend offers no adapter \(needs EGL \+ Mesa: apt-get install libegl1 libegl-mesa0 libgles2 libgl1-mesa-dri, EGL_PLATFORM=surfaceless\)\)\. Available: .*wasm, cpu\.$/,
    );
    expect((await fresh.initBackend("auto")).name).toBe("wasm");
  });

  it("without the optional 'webgpu' package the policy package still imports and the error names the package", async () => {
    vi.resetModules();
    vi.doMock("webgpu", () => {
      throw new Error("Cannot find package 'webgpu'");
    });
    const fresh = await import("../src/index");
    expect(typeof fresh.createPi0FastPolicy).toBe("function");
    await expect(fresh.initBackend("webgpu")).rejects.toThrow(
      /^policy\.device=webgpu: backend unavailable \(webgpu \+ @tensorflow\/tfjs-backend-webgpu: npm package 'webgpu' \(Dawn\) did not load: .+\)\. Available: wasm, cpu\.$/,
    );
    expect((await fresh.initBackend("cpu")).name).toBe("cpu");
  });
});
