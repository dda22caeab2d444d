import type { OptimizerConfig } from "./config.js";
import type { NamedArrays } from "./interfaces.js";

/** First and second moments per parameter and the number of optimizer steps taken (bias correction). */
export interface AdamWState {
  step: number;
  readonly m: NamedArrays;
  readonly v: NamedArrays;
}

export const createAdamWState = (): AdamWState => ({ step: 0, m: {}, v: {} });

/**
 * Floats per array in one pass of the kernel: p, g, m and v chunks together take 256 KiB, which
 * stays in L2 while the chunk is copied in, updated and copied out. Any size and model fits (a
 * 3B model's moments would not fit a wasm32 heap whole).
 */
const CHUNK = 16384;
const CHUNK_BYTES = CHUNK * 4;
const P_AT = 0;
const G_AT = CHUNK_BYTES;
const M_AT = 2 * CHUNK_BYTES;
const V_AT = 3 * CHUNK_BYTES;

const uleb = (n: number): number[] => {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
};
const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];
const name = (s: string): number[] => [...uleb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];

/**
 * The AdamW kernel as a WebAssembly SIMD module, encoded here (no toolchain needed):
 * `adamw(n, β1, 1−β1, β2, 1−β2, 1−lr·wd, −lr/(1−β1ᵗ), √(1−β2ᵗ), eps)` over n floats at P/G/M/V, 4 lanes
 * per instruction, in float32 and in torch.optim.AdamW's order of operations (_single_tensor_adamw,
 * torch 1.13): p·decay; m·β1 + g·(1−β1); v·β2 + ((1−β2)·g)·g; p + (−step·m) / (√v / √bc2 + eps).
 */
const adamwModule = (): Uint8Array => {
  const F32 = 0x7d;
  const I32 = 0x7f;
  const V128 = 0x7b;
  const get = (i: number) => [0x20, ...uleb(i)];
  const set = (i: number) => [0x21, ...uleb(i)];
  const simd = (op: number) => [0xfd, ...uleb(op)];
  const load = (at: number) => [...simd(0x00), 4, ...uleb(at)];
  const store = (at: number) => [...simd(0x0b), 4, ...uleb(at)];
  const [splat, sqrt, add, mul, div] = [0x13, 0xe3, 0xe4, 0xe6, 0xe7].map(simd);
  // params 0 n, 1 β1, 2 1−β1, 3 β2, 4 1−β2, 5 decay, 6 −step, 7 √bc2, 8 eps;
  // locals 9 byte index, 10 end, 11–18 the eight scalars splatted, 19 g, 20 m, 21 v.
  const [i, end, g, m, v] = [9, 10, 19, 20, 21];
  const lane = (param: number) => 10 + param;
  const body = [
    ...get(0), 0x41, 2, 0x74, ...set(end), // end = n << 2
    ...[1, 2, 3, 4, 5, 6, 7, 8].flatMap((p) => [...get(p), ...splat, ...set(lane(p))]),
    0x02, 0x40, 0x03, 0x40, // block, loop
    ...get(i), ...get(end), 0x4f, 0x0d, 1, // br_if out when i >= end
    ...get(i), ...load(G_AT), ...set(g),
    ...get(i), ...load(M_AT), ...get(lane(1)), ...mul, ...get(g), ...get(lane(2)), ...mul, ...add, ...set(m),
    ...get(i), ...get(m), ...store(M_AT),
    ...get(i), ...load(V_AT), ...get(lane(3)), ...mul, ...get(lane(4)), ...get(g), ...mul, ...get(g), ...mul, ...add, ...set(v),
    ...get(i), ...get(v), ...store(V_AT),
    ...get(i),
    ...get(i), ...load(P_AT), ...get(lane(5)), ...mul,
    ...get(lane(6)), ...get(m), ...mul,
    ...get(v), ...sqrt, ...get(lane(7)), ...div, ...get(lane(8)), ...add,
    ...div, ...add,
    ...store(P_AT),
    ...get(i), 0x41, 16, 0x6a, ...set(i), // i += 16
    0x0c, 0, 0x0b, 0x0b, // br loop; end loop; end block
    0x0b,
  ];
  const locals = [2, ...uleb(2), I32, ...uleb(11), V128];
  const func = [...locals, ...body];
  const pages = Math.ceil((4 * CHUNK_BYTES) / 65536);
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [1, 0x60, 9, I32, F32, F32, F32, F32, F32, F32, F32, F32, 0]),
    ...section(3, [1, 0]),
    ...section(5, [1, 0x01, ...uleb(pages), ...uleb(pages)]),
    ...section(7, [2, ...name("adamw"), 0x00, 0, ...name("memory"), 0x02, 0]),
    ...section(10, [1, ...uleb(func.length), ...func]),
  ]);
};

interface Kernel {
  readonly adamw: (n: number, b1: number, c1: number, b2: number, c2: number, decay: number, negStep: number, bc2Sqrt: number, eps: number) => void;
  readonly heap: Float32Array;
}

/** The part of the WebAssembly global used here (the package compiles without the DOM typings). */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: { adamw: Kernel["adamw"]; memory: { buffer: ArrayBuffer } } };
}

let kernel: Kernel | undefined;
const getKernel = (): Kernel => {
  if (kernel === undefined) {
    const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
    const { exports } = new wasm.Instance(new wasm.Module(adamwModule()));
    // The memory never grows (fixed size), so this view stays attached.
    kernel = { adamw: exports.adamw, heap: new Float32Array(exports.memory.buffer) };
  }
  return kernel;
};

/** Zeroed moments for every parameter that has none yet, as views into one allocation per moment. */
const allocateMoments = (state: AdamWState, grads: NamedArrays): void => {
  const fresh = Object.keys(grads).filter((n) => state.m[n] === undefined || state.v[n] === undefined);
  if (fresh.length === 0) return;
  const total = fresh.reduce((s, n) => s + grads[n].length, 0);
  const m = new Float32Array(total);
  const v = new Float32Array(total);
  let at = 0;
  for (const n of fresh) {
    const len = grads[n].length;
    state.m[n] = m.subarray(at, at + len);
    state.v[n] = v.subarray(at, at + len);
    at += len;
  }
};

/**
 * One AdamW step as torch.optim.AdamW (Loshchilov & Hutter 2019, decoupled weight decay):
 * p ← p·(1 − lr·wd); m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²;
 * p ← p − lr/(1−β1ᵗ) · m / (√v/√(1−β2ᵗ) + eps), in float32 like PyTorch (test/adamw-torch.test.ts).
 * Only parameters present in `grads` move (frozen ones have no gradient). Updates `params` and
 * `state` in place: the optimizer is the hot loop and copies of a 3B model do not fit twice.
 * One fused SIMD pass per chunk of each parameter (adamwModule); every check happens before any
 * value changes.
 */
export const adamwStep = (
  config: OptimizerConfig,
  state: AdamWState,
  params: NamedArrays,
  grads: NamedArrays,
  lr: number,
  noWeightDecay: (name: string) => boolean = () => false,
): void => {
  const names = Object.keys(grads);
  for (const name of names) {
    const p = params[name];
    const g = grads[name];
    if (p === undefined) throw new Error(`gradient for unknown parameter "${name}" (not in policy.getParameters())`);
    if (p.length !== g.length) {
      throw new Error(`gradient for "${name}" has ${g.length} values, the parameter has ${p.length}`);
    }
  }
  allocateMoments(state, grads);
  const [beta1, beta2] = config.betas;
  state.step += 1;
  const negStep = -lr / (1 - beta1 ** state.step);
  const bc2Sqrt = Math.sqrt(1 - beta2 ** state.step);
  const { adamw, heap } = getKernel();
  const [P, G, M, V] = [P_AT, G_AT, M_AT, V_AT].map((b) => b >> 2);
  for (const name of names) {
    const p = params[name];
    const g = grads[name];
    const m = state.m[name];
    const v = state.v[name];
    const decay = noWeightDecay(name) ? 1 : 1 - lr * config.weight_decay;
    for (let from = 0; from < p.length; from += CHUNK) {
      const to = Math.min(from + CHUNK, p.length);
      heap.set(p.subarray(from, to), P);
      heap.set(g.subarray(from, to), G);
      heap.set(m.subarray(from, to), M);
      heap.set(v.subarray(from, to), V);
      // Lanes past `to - from` in the last chunk hold stale floats; their results are not copied out.
      adamw(to - from, beta1, 1 - beta1, beta2, 1 - beta2, decay, negStep, bc2Sqrt, config.eps);
      p.set(heap.subarray(P, P + to - from), from);
      m.set(heap.subarray(M, M + to - from), from);
      v.set(heap.subarray(V, V + to - from), from);
    }
  }
};
