import { _FusedMatMul, registerKernel, unregisterKernel, type KernelFunc, type TensorInfo } from "@tensorflow/tfjs-core";
import { blasMatMul, matMulRouting, stockPlain, wasmMatMul } from "../matmulPaths";
import { planMatMul } from "../matmulPlan";
import { captureStockKernel, float32View, sizeOf, stockKernel, type WasmBackendLike } from "../wasmBackend";

export interface FusedMatMulInputs {
  a: TensorInfo;
  b: TensorInfo;
  bias?: TensorInfo;
  preluActivationWeights?: TensorInfo;
}

export interface FusedMatMulAttrs {
  transposeA: boolean;
  transposeB: boolean;
  activation: string;
  leakyreluAlpha?: number;
}

/** Activations we apply after the matmul in JS (prelu, with its weight tensor, stays with the stock kernel). */
const JS_ACTIVATIONS = new Set(["linear", "relu", "relu6", "elu", "sigmoid", "leakyrelu"]);

function stockFused(backend: WasmBackendLike, inputs: FusedMatMulInputs, attrs: FusedMatMulAttrs): TensorInfo {
  return stockKernel(_FusedMatMul).kernelFunc({ inputs: inputs as never, backend: backend as never, attrs: attrs as never }) as TensorInfo;
}

/** out += bias (broadcast over rows), then the activation, in place on the wasm heap. */
function applyEpilogue(backend: WasmBackendLike, out: TensorInfo, bias: TensorInfo | undefined, attrs: FusedMatMulAttrs, n: number): void {
  const c = float32View(backend, out);
  if (bias !== undefined) {
    const bv = float32View(backend, bias);
    if (bv.length === 1) {
      const v = bv[0]!;
      for (let i = 0; i < c.length; i++) c[i] = c[i]! + v;
    } else {
      for (let i = 0; i < c.length; i += n) for (let j = 0; j < n; j++) c[i + j] = c[i + j]! + bv[j]!;
    }
  }
  const alpha = attrs.leakyreluAlpha ?? 0.2;
  switch (attrs.activation) {
    case "relu":
      for (let i = 0; i < c.length; i++) if (c[i]! < 0) c[i] = 0;
      break;
    case "relu6":
      for (let i = 0; i < c.length; i++) c[i] = Math.min(6, Math.max(0, c[i]!));
      break;
    case "elu":
      for (let i = 0; i < c.length; i++) if (c[i]! < 0) c[i] = Math.exp(c[i]!) - 1;
      break;
    case "sigmoid":
      for (let i = 0; i < c.length; i++) c[i] = 1 / (1 + Math.exp(-c[i]!));
      break;
    case "leakyrelu":
      for (let i = 0; i < c.length; i++) if (c[i]! < 0) c[i] = alpha * c[i]!;
      break;
  }
}

/** _FusedMatMul on wasm (tf.fused.matMul): matmul routed as BatchMatMul's, bias/activation fused. */
export function fusedMatMul(args: { inputs: FusedMatMulInputs; backend: WasmBackendLike; attrs: FusedMatMulAttrs }): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { a, b, bias, preluActivationWeights } = inputs;
  const { transposeA, transposeB, activation } = attrs;
  if (a.dtype !== "float32" || b.dtype !== "float32") {
    throw new Error(`_FusedMatMul on wasm: float32 operands expected, got ${a.dtype} and ${b.dtype}`);
  }
  const plan = planMatMul(a.shape, b.shape, transposeA, transposeB);
  const blas = matMulRouting.blas;
  const biasFits = bias === undefined || (bias.shape.length <= 1 && (sizeOf(bias.shape) === plan.n || sizeOf(bias.shape) === 1));
  const jsEpilogue = preluActivationWeights === undefined && JS_ACTIVATIONS.has(activation) && biasFits;
  if (blas !== null && jsEpilogue) {
    const out = blasMatMul(blas, backend, a, b, transposeA, transposeB, plan);
    if (out !== null) {
      applyEpilogue(backend, out, bias, attrs, plan.n);
      return out;
    }
  }
  if (plan.batch > 1 && jsEpilogue) {
    // The stock fused kernel gives wrong results for batched operands with a bias (tfjs 4.22,
    // checked against cpu in test/kernels.test.ts), so batched calls run as matmul + epilogue.
    const out = wasmMatMul(backend, a, b, transposeA, transposeB, plan, (x, y) => stockPlain(backend, x, y));
    applyEpilogue(backend, out, bias, attrs, plan.n);
    return out;
  }
  // batch: 1 keeps the fused epilogue in one stock call (the per-batch split only knows plain matmul).
  return wasmMatMul(backend, a, b, transposeA, transposeB, { ...plan, batch: 1 }, (x, y) =>
    stockFused(backend, { ...inputs, a: x, b: y }, { ...attrs, transposeA: false, transposeB: false }),
  );
}

export function registerFusedMatMul(): string {
  const stock = captureStockKernel(_FusedMatMul);
  unregisterKernel(_FusedMatMul, "wasm");
  registerKernel({
    kernelName: _FusedMatMul,
    backendName: "wasm",
    setupFunc: stock.setupFunc,
    kernelFunc: fusedMatMul as unknown as KernelFunc,
  });
  return _FusedMatMul;
}
