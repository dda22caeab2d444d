/**
 * `@craft/policy-pi0fast/backend`: the tfjs backend layer for benchmarks and device checks —
 * backend choice, the wasm kernel patches, the OpenBLAS addon, and WebGPU's buffer pool and errors.
 */
export {
  initBackend,
  describeBackend,
  registerWasmKernelPatches,
  provideOptionalModules,
  webgpuMemory,
  webgpuErrors,
  resetWebGpuPeak,
  type BackendDevice,
  type BackendInfo,
  type BackendOptions,
} from "./backend/index";
export { loadNativeBlas, type NativeBlas, type NativeBlasLoad } from "./backend/nativeBlas";
export { loadOrtBlas, fusedMatMulModel } from "./backend/ortBlas";
