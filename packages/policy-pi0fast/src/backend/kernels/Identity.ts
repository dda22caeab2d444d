import { Identity, registerKernel, unregisterKernel, type KernelFunc, type TensorInfo } from "@tensorflow/tfjs-core";
import { captureStockKernel, stockKernel, type WasmBackendLike } from "../wasmBackend";

export interface IdentityInputs {
  x: TensorInfo;
}

/**
 * Identity on wasm sharing the input's heap memory (reference counted, as Reshape and the cpu
 * backend's Identity do) instead of copying it. tfjs clones every tensor a gradient saves for the
 * backward pass through Identity: ~200 copies per tiny training step. Tensor data is never
 * written in place on this backend (variables rebind to a new dataId on assign), so sharing is safe.
 */
export function identity(args: { inputs: IdentityInputs; backend: WasmBackendLike & { incRef(dataId: object): void } }): TensorInfo {
  const { inputs, backend } = args;
  const { x } = inputs;
  // Strings live outside the heap; the stock kernel copies them.
  if (x.dtype === "string") return stockKernel(Identity).kernelFunc(args as never) as TensorInfo;
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

export function registerIdentity(): string {
  captureStockKernel(Identity);
  unregisterKernel(Identity, "wasm");
  registerKernel({ kernelName: Identity, backendName: "wasm", kernelFunc: identity as unknown as KernelFunc });
  return Identity;
}
