import type { TensorInfo } from "@tensorflow/tfjs-core";
import type { NativeBlas } from "./nativeBlas";
import { isStridedBroadcast, type MatMulPlan } from "./matmulPlan";
import { float32View, sizeOf, stockKernel, transposeLastTwo, type WasmBackendLike } from "./wasmBackend";

/** How the patched matmul kernels compute; set once by registerWasmKernelPatches. */
export interface MatMulRouting {
  /** The sgemm on the wasm heap (OpenBLAS addon, or ONNX Runtime's MLAS), or null for the wasm kernels. */
  blas: NativeBlas | null;
  /** Without BLAS: run batched matmuls as one 2-D stock call per batch (the stock batched loop is slow). */
  perBatchWasm: boolean;
}

export const matMulRouting: MatMulRouting = { blas: null, perBatchWasm: true };

/** op(A)·op(B) by the sgemm (cblas_sgemm or ONNX Runtime's) straight on the wasm heap; null when the broadcast has no batch stride. */
export function blasMatMul(
  blas: NativeBlas,
  backend: WasmBackendLike,
  a: TensorInfo,
  b: TensorInfo,
  transposeA: boolean,
  transposeB: boolean,
  plan: MatMulPlan,
): TensorInfo | null {
  if (!isStridedBroadcast(plan)) return null;
  const out = backend.makeOutput(plan.outShape, "float32");
  if (sizeOf(plan.outShape) === 0) return out;
  // Views are taken after makeOutput: an allocation may grow (and detach) the wasm heap.
  const av = float32View(backend, a);
  const bv = float32View(backend, b);
  const cv = float32View(backend, out);
  const { m, n, k, batch, batchA, batchB } = plan;
  if (batch > 1 && batchB === 1 && batchA === batch && !transposeA) {
    // A's batch rows are contiguous: one tall gemm instead of `batch` small ones.
    blas.sgemmBatched(1, false, transposeB, batch * m, n, k, av, 0, bv, 0, cv);
  } else {
    blas.sgemmBatched(batch, transposeA, transposeB, m, n, k, av, batchA === 1 ? 0 : m * k, bv, batchB === 1 ? 0 : k * n, cv);
  }
  return out;
}

/**
 * The wasm path: transposes done explicitly (stock wasm matmul with transposeA is ~40× slower,
 * DESIGN.md §4), then the stock kernel with plain operands, per batch when that is faster.
 */
export function wasmMatMul(
  backend: WasmBackendLike,
  a: TensorInfo,
  b: TensorInfo,
  transposeA: boolean,
  transposeB: boolean,
  plan: MatMulPlan,
  plain: (a: TensorInfo, b: TensorInfo) => TensorInfo,
): TensorInfo {
  const at = transposeA ? transposeLastTwo(a, backend) : a;
  const bt = transposeB ? transposeLastTwo(b, backend) : b;
  try {
    if (matMulRouting.perBatchWasm && plan.batch > 1 && isStridedBroadcast(plan) && plan.m * plan.n * plan.k > 0) {
      return perBatchMatMul(backend, at, bt, plan);
    }
    return plain(at, bt);
  } finally {
    if (at !== a) backend.disposeData(at.dataId);
    if (bt !== b) backend.disposeData(bt.dataId);
  }
}

function stockPlain(backend: WasmBackendLike, a: TensorInfo, b: TensorInfo): TensorInfo {
  return stockKernel("BatchMatMul").kernelFunc({
    inputs: { a, b },
    backend: backend as never,
    attrs: { transposeA: false, transposeB: false },
  }) as TensorInfo;
}

/** Untransposed operands; each batch copied to a [1,m,k]·[1,k,n] stock call (xnnpack's fast path). */
function perBatchMatMul(backend: WasmBackendLike, a: TensorInfo, b: TensorInfo, plan: MatMulPlan): TensorInfo {
  const { m, n, k, batch, batchA, batchB } = plan;
  if (batchB === 1 && batchA === batch) {
    // Fold the batch into the rows: one [batch·m, k]·[k, n] call.
    const a2 = { dataId: a.dataId, shape: [1, batch * m, k], dtype: a.dtype };
    const b2 = { dataId: b.dataId, shape: [1, k, n], dtype: b.dtype };
    const r = stockPlain(backend, a2, b2);
    return { ...r, shape: plan.outShape };
  }
  const out = backend.makeOutput(plan.outShape, "float32");
  const sliceA = backend.makeOutput([1, m, k], "float32");
  // The stock kernel caches B packed for xnnpack under B's tensor id, so every batch gets a fresh B
  // tensor (disposing it drops the cache entry); A can be reused.
  let sliceB: TensorInfo | null = null;
  try {
    const base = (t: TensorInfo): number => backend.dataIdMap.get(t.dataId)!.memoryOffset >>> 2;
    for (let i = 0; i < batch; i++) {
      if (sliceB === null || batchB !== 1) {
        if (sliceB !== null) backend.disposeData(sliceB.dataId);
        sliceB = backend.makeOutput([1, k, n], "float32");
        const bStart = base(b) + (batchB === 1 ? 0 : i * k * n);
        backend.wasm.HEAPF32.copyWithin(base(sliceB), bStart, bStart + k * n);
      }
      if (i === 0 || batchA !== 1) {
        const aStart = base(a) + (batchA === 1 ? 0 : i * m * k);
        backend.wasm.HEAPF32.copyWithin(base(sliceA), aStart, aStart + m * k);
      }
      const r = stockPlain(backend, sliceA, sliceB);
      const rStart = base(r);
      backend.wasm.HEAPF32.copyWithin(base(out) + i * m * n, rStart, rStart + m * n);
      backend.disposeData(r.dataId);
    }
  } finally {
    backend.disposeData(sliceA.dataId);
    if (sliceB !== null) backend.disposeData(sliceB.dataId);
  }
  return out;
}

export { stockPlain };
