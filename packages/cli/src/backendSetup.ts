import { describeBackend, initBackend, type BackendInfo, type PI0FastConfig } from "@craft/policy-pi0fast";

/**
 * `CRAFT_WASM_KERNELS=stock` runs wasm with only the kernels it lacks (no matmul patches, no
 * OpenBLAS): the "before" of the speed comparisons in the policy package's README.
 */
export async function startBackend(device: PI0FastConfig["device"], quiet = false): Promise<BackendInfo> {
  const stock = process.env.CRAFT_WASM_KERNELS === "stock";
  const info = await initBackend(device, stock ? { patchKernels: "missing-only", nativeBlas: false, onnxruntime: false, perBatchWasm: false } : {});
  if (!quiet) console.error(`[craft] backend: ${describeBackend(info)}`);
  return info;
}

