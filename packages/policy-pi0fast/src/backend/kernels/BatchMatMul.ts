import { BatchMatMul, getKernel, registerKernel, unregisterKernel, type KernelConfig, type KernelFunc, type TensorInfo } from "@tensorflow/tfjs-core";
import { blasMatMul, matMulRouting, stockPlain, wasmMatMul } from "../matmulPaths";
import { planMatMul } from "../matmulPlan";
import { captureStockKernel, type WasmBackendLike } from "../wasmBackend";

export interface BatchMatMulInputs {
  a: TensorInfo;
  b: TensorInfo;
}

export interface BatchMatMulAttrs {
  transposeA: boolean;
  transposeB: boolean;
}

/** BatchMatMul on wasm: OpenBLAS when the addon loaded, else explicit transposes + the stock kernel. */
export function batchMatMul(args: { inputs: BatchMatMulInputs; backend: WasmBackendLike; attrs: BatchMatMulAttrs }): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { a, b } = inputs;
  const { transposeA, transposeB } = attrs;
  if (a.dtype !== "float32" || b.dtype !== "float32") {
    throw new Error(`BatchMatMul on wasm: float32 operands expected, got ${a.dtype} and ${b.dtype}`);
  }
  const plan = planMatMul(a.shape, b.shape, transposeA, transposeB);
  const blas = matMulRouting.blas;
  if (blas !== null) {
    const out = blasMatMul(blas, backend, a, b, transposeA, transposeB, plan);
    if (out !== null) return out;
  }
  return wasmMatMul(backend, a, b, transposeA, transposeB, plan, (x, y) => stockPlain(backend, x, y));
}

const TRANSPOSE_FLAGS = "transposeFlags";

/** Whether wasm's BatchMatMul is ours (transpose flags at no extra cost) rather than the stock kernel. */
export function wasmMatMulTakesTransposeFlags(): boolean {
  return (getKernel(BatchMatMul, "wasm") as (KernelConfig & { [TRANSPOSE_FLAGS]?: string }) | undefined)?.[TRANSPOSE_FLAGS] === "native";
}

export function registerBatchMatMul(): string {
  const stock = captureStockKernel(BatchMatMul);
  unregisterKernel(BatchMatMul, "wasm");
  registerKernel({
    kernelName: BatchMatMul,
    backendName: "wasm",
    setupFunc: stock.setupFunc,
    kernelFunc: batchMatMul as unknown as KernelFunc,
    // Read by the model's matmuls (src/model/ops.ts): transpose flags are handled natively here,
    // so they need no explicit transposes. A property of the registration, not of this module,
    // so a second bundle of the package (benchmarks) sees it too.
    [TRANSPOSE_FLAGS]: "native",
  } as KernelConfig);
  return BatchMatMul;
}
