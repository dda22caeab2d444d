import { registerKernel, UnsortedSegmentSum, type KernelFunc, type TensorInfo } from "@tensorflow/tfjs-core";
import { sizeOf, type WasmBackendLike } from "../wasmBackend";

export interface UnsortedSegmentSumInputs {
  x: TensorInfo;
  segmentIds: TensorInfo;
}

export interface UnsortedSegmentSumAttrs {
  numSegments: number;
}

/**
 * out[s, ...] = Σ x[i, ...] over i with segmentIds[i] = s (tf.math.unsorted_segment_sum); ids outside
 * [0, numSegments) are dropped as TensorFlow does. tfjs-backend-wasm 4.22 has no such kernel, and
 * it is the gradient of gather (embedding lookups).
 */
export function unsortedSegmentSum(args: {
  inputs: UnsortedSegmentSumInputs;
  backend: WasmBackendLike;
  attrs: UnsortedSegmentSumAttrs;
}): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x, segmentIds } = inputs;
  const { numSegments } = attrs;
  if (x.dtype !== "float32" && x.dtype !== "int32") {
    throw new Error(`UnsortedSegmentSum on wasm: x must be float32 or int32, got ${x.dtype}`);
  }
  const idsRank = segmentIds.shape.length;
  if (segmentIds.shape.some((d, i) => d !== x.shape[i])) {
    throw new Error(
      `UnsortedSegmentSum on wasm: segmentIds shape [${segmentIds.shape.join(",")}] must be a prefix of x shape [${x.shape.join(",")}]`,
    );
  }
  const inner = sizeOf(x.shape.slice(idsRank));
  const out = backend.makeOutput([numSegments, ...x.shape.slice(idsRank)], x.dtype);
  // Views after makeOutput: the allocation may grow the heap.
  const xs = backend.typedArrayFromHeap(x);
  const ids = backend.typedArrayFromHeap(segmentIds);
  const result = backend.typedArrayFromHeap(out);
  result.fill(0);
  for (let i = 0; i < ids.length; i++) {
    const s = ids[i]!;
    if (s < 0 || s >= numSegments) continue;
    const src = i * inner;
    const dst = s * inner;
    for (let j = 0; j < inner; j++) result[dst + j] += xs[src + j]!;
  }
  return out;
}

export function registerUnsortedSegmentSum(): string {
  registerKernel({
    kernelName: UnsortedSegmentSum,
    backendName: "wasm",
    kernelFunc: unsortedSegmentSum as unknown as KernelFunc,
  });
  return UnsortedSegmentSum;
}
