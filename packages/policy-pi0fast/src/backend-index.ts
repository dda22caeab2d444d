export { initBackend, describeBackend, registerWasmKernelPatches } from "./backend/index";
export type { BackendDevice, BackendInfo, BackendOptions } from "./backend/index";
export { loadNativeBlas } from "./backend/nativeBlas";
export type { NativeBlas, NativeBlasLoad } from "./backend/nativeBlas";
export { readSafetensors, writeSafetensors, encodeSafetensors, decodeSafetensors } from "./weights/safetensors";
export type { SafetensorsDtype, SafetensorsFile, SafetensorsTensor, SafetensorsInput } from "./weights/safetensors";
