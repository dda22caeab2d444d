import { getKernel, type DataId, type KernelConfig, type TensorInfo, type DataType } from "@tensorflow/tfjs-core";

/** The parts of tfjs-backend-wasm's BackendWasm (4.22) that our kernels use. */
export interface WasmBackendLike {
  readonly dataIdMap: { get(dataId: DataId): { id: number; memoryOffset: number; shape: number[]; dtype: DataType } | undefined };
  readonly wasm: { readonly HEAPU8: Uint8Array; readonly HEAPF32: Float32Array };
  makeOutput(shape: number[], dtype: DataType, memoryOffset?: number): TensorInfo;
  typedArrayFromHeap(info: TensorInfo): Float32Array | Int32Array | Uint8Array;
  disposeData(dataId: DataId, force?: boolean): boolean;
}

const stock = new Map<string, KernelConfig>();

/** Remembers the wasm backend's own kernel before we replace it; later calls return the first capture. */
export function captureStockKernel(kernelName: string): KernelConfig {
  const known = stock.get(kernelName);
  if (known !== undefined) return known;
  const config = getKernel(kernelName, "wasm");
  if (config === undefined) throw new Error(`wasm backend: stock kernel ${kernelName} is not registered`);
  stock.set(kernelName, config);
  return config;
}

export function stockKernel(kernelName: string): KernelConfig {
  const config = stock.get(kernelName) ?? getKernel(kernelName, "wasm");
  if (config === undefined) throw new Error(`wasm backend: kernel ${kernelName} is not registered`);
  return config;
}

/** x with its last two axes swapped, through the wasm Transpose kernel (a fresh tensor the caller disposes). */
export function transposeLastTwo(x: TensorInfo, backend: WasmBackendLike): TensorInfo {
  const rank = x.shape.length;
  const perm = x.shape.map((_, i) => i);
  perm[rank - 2] = rank - 1;
  perm[rank - 1] = rank - 2;
  return stockKernel("Transpose").kernelFunc({ inputs: { x }, backend: backend as never, attrs: { perm } }) as TensorInfo;
}

export function float32View(backend: WasmBackendLike, t: TensorInfo): Float32Array {
  return backend.typedArrayFromHeap(t) as Float32Array;
}

export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}
