import { availableParallelism } from "node:os";
import { createRequire } from "node:module";
import { join } from "node:path";
import { moduleDirectory } from "./moduleLocation";
import type { NativeBlas, NativeBlasLoad } from "./nativeBlas";

/**
 * Matmuls by ONNX Runtime's MLAS (the `onnxruntime-node` npm package, whose tarball carries the
 * prebuilt library): a machine without system packages (no OpenBLAS, no compiler) still gets a
 * multi-threaded AVX2/AVX-512 sgemm. Each product is one `com.microsoft` FusedMatMul node (transA
 * and transB as attributes) run synchronously on the wasm heap: inputs and the preallocated output
 * are views of it, so nothing is copied. One session per transpose and broadcast pattern, with
 * symbolic dimensions, serves every shape.
 */

/** The parts of onnxruntime-node's synchronous binding used here (its `dist/binding.js`). */
interface OrtTensor {
  readonly data: Float32Array;
}
interface OrtSession {
  loadModel(buffer: ArrayBuffer, byteOffset: number, byteLength: number, options: object): void;
  run(feeds: Record<string, OrtTensor>, fetches: Record<string, OrtTensor>, options: object): Record<string, OrtTensor>;
}
interface OrtBinding {
  readonly binding: { readonly InferenceSession: new () => OrtSession };
  readonly initOrt: () => void;
}
type TensorCtor = new (type: "float32", data: Float32Array, dims: readonly number[]) => OrtTensor;

// A protobuf writer for the few ONNX messages a one-node model needs (onnx.proto field numbers).
const varint = (value: number): number[] => {
  const out: number[] = [];
  let v = value;
  do {
    const low = v % 128;
    v = Math.floor(v / 128);
    out.push(v > 0 ? low | 128 : low);
  } while (v > 0);
  return out;
};
const field = (no: number, wire: 0 | 2) => varint(no * 8 + wire);
const message = (no: number, body: readonly number[]) => [...field(no, 2), ...varint(body.length), ...body];
const text = (no: number, s: string) => message(no, [...new TextEncoder().encode(s)]);
const integer = (no: number, v: number) => [...field(no, 0), ...varint(v)];
/** TensorProto.FLOAT; AttributeProto.INT. */
const FLOAT = 1;
const ATTR_INT = 2;

/** ValueInfoProto of a float tensor whose dimensions are all symbolic (`{name}{i}`). */
const floatInput = (name: string, rank: number) => {
  const dims = Array.from({ length: rank }, (_, i) => message(1, text(2, `${name}${i}`))).flat();
  return [...text(1, name), ...message(2, message(1, [...integer(1, FLOAT), ...message(2, dims)]))];
};

/** Y = op(A)·op(B), batched when a rank is 3 (a rank-2 operand broadcasts over the batch). */
export function fusedMatMulModel(transA: boolean, transB: boolean, rankA: 2 | 3, rankB: 2 | 3): Uint8Array {
  const attr = (name: string, v: boolean) => message(5, [...text(1, name), ...integer(3, v ? 1 : 0), ...integer(20, ATTR_INT)]);
  const node = [...text(1, "A"), ...text(1, "B"), ...text(2, "Y"), ...text(4, "FusedMatMul"), ...text(7, "com.microsoft"), ...attr("transA", transA), ...attr("transB", transB)];
  const graph = [...message(1, node), ...text(2, "matmul"), ...message(11, floatInput("A", rankA)), ...message(11, floatInput("B", rankB)), ...message(12, floatInput("Y", Math.max(rankA, rankB)))];
  const opset = (domain: string, version: number) => message(8, [...text(1, domain), ...integer(2, version)]);
  return Uint8Array.from([...integer(1, 8), ...opset("", 17), ...opset("com.microsoft", 1), ...message(7, graph)]);
}

/**
 * Threads of ONNX Runtime's pool: PI0FAST_ONNXRUNTIME_THREADS, else 1. Its pool wakes a sleeping
 * thread for every product; on the project's 2-vCPU VM the tiny step took 970 ms with 1 thread and
 * 1247 ms with 2 (1657 ms with spinning threads), so more threads are opt-in.
 */
const ortThreads = (): number => {
  const setting = Number(process.env.PI0FAST_ONNXRUNTIME_THREADS);
  return Number.isInteger(setting) && setting > 0 ? Math.min(setting, availableParallelism()) : 1;
};

function makeOrtBlas(ort: OrtBinding, Tensor: TensorCtor, version: string): NativeBlas {
  ort.initOrt();
  const threads = ortThreads();
  const spin = process.env.PI0FAST_ONNXRUNTIME_SPIN === "1";
  const sessions = new Map<string, OrtSession>();
  const session = (transA: boolean, transB: boolean, rankA: 2 | 3, rankB: 2 | 3): OrtSession => {
    const key = `${transA}${transB}${rankA}${rankB}`;
    let s = sessions.get(key);
    if (s === undefined) {
      s = new ort.binding.InferenceSession();
      const model = fusedMatMulModel(transA, transB, rankA, rankB);
      // A fresh Uint8Array: its buffer is a plain ArrayBuffer.
      // Spinning (PI0FAST_ONNXRUNTIME_SPIN=1) keeps the pool's threads awake between products.
      s.loadModel(model.buffer as ArrayBuffer, model.byteOffset, model.byteLength, {
        intraOpNumThreads: threads,
        interOpNumThreads: 1,
        executionMode: "sequential",
        graphOptimizationLevel: "all",
        extra: { session: { intra_op: { allow_spinning: spin ? "1" : "0" } } },
      });
      sessions.set(key, s);
    }
    return s;
  };
  return {
    sgemmBatched(batch, transA, transB, m, n, k, a, aStride, b, bStride, c) {
      if (batch * m * n === 0) return;
      const rankA = batch > 1 && aStride !== 0 ? 3 : 2;
      const rankB = batch > 1 && bStride !== 0 ? 3 : 2;
      const shapeA = transA ? [k, m] : [m, k];
      const shapeB = transB ? [n, k] : [k, n];
      const dimsA = rankA === 3 ? [batch, ...shapeA] : shapeA;
      const dimsB = rankB === 3 ? [batch, ...shapeB] : shapeB;
      const dimsY = rankA === 3 || rankB === 3 ? [batch, m, n] : [m, n];
      const size = (d: number[]) => d.reduce((x, y) => x * y, 1);
      const view = (v: Float32Array, dims: number[]) => (v.length === size(dims) ? v : v.subarray(0, size(dims)));
      if (batch > 1 && rankA === 2 && rankB === 2) {
        // Both operands broadcast: every batch row is the same product.
        session(transA, transB, 2, 2).run({ A: new Tensor("float32", view(a, dimsA), dimsA), B: new Tensor("float32", view(b, dimsB), dimsB) }, { Y: new Tensor("float32", c.subarray(0, m * n), [m, n]) }, {});
        for (let i = 1; i < batch; i++) c.copyWithin(i * m * n, 0, m * n);
        return;
      }
      session(transA, transB, rankA, rankB).run(
        { A: new Tensor("float32", view(a, dimsA), dimsA), B: new Tensor("float32", view(b, dimsB), dimsB) },
        { Y: new Tensor("float32", view(c, dimsY), dimsY) },
        {},
      );
    },
    threads: () => threads,
    config: () => `ONNX Runtime ${version} MLAS (onnxruntime-node)`,
  };
}

let cached: NativeBlasLoad | undefined;

/**
 * ONNX Runtime's sgemm when `onnxruntime-node` loads; `PI0FAST_ONNXRUNTIME=0` disables it. Never
 * throws: a missing or broken package is reported as Unavailable, with why.
 */
export function loadOrtBlas(): NativeBlasLoad {
  if (cached !== undefined) return cached;
  const setting = typeof process !== "undefined" ? process.env.PI0FAST_ONNXRUNTIME : undefined;
  if (setting === "0" || setting === "false") return (cached = { _tag: "Unavailable", reason: "disabled by PI0FAST_ONNXRUNTIME=0" });
  try {
    const require = createRequire(join(moduleDirectory(), "noop.js"));
    const ort = require("onnxruntime-node/dist/binding.js") as OrtBinding;
    const { Tensor } = require("onnxruntime-common") as { Tensor: TensorCtor };
    const version = (require("onnxruntime-node/package.json") as { version: string }).version;
    const blas = makeOrtBlas(ort, Tensor, version);
    return (cached = { _tag: "Loaded", blas, path: require.resolve("onnxruntime-node/dist/binding.js") });
  } catch (error) {
    return (cached = { _tag: "Unavailable", reason: `onnxruntime-node: ${(error as Error).message.split("\n")[0]}` });
  }
}
