import { existsSync, readdirSync } from "node:fs";
import * as tf from "@tensorflow/tfjs-core";
// Gradients are registered separately from tfjs-core's ops; training needs every one of them.
import "@tensorflow/tfjs-core/dist/register_all_gradients";
import { getKernel, UnsortedSegmentSum } from "@tensorflow/tfjs-core";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { registerBatchMatMul } from "./kernels/BatchMatMul";
import { registerFusedMatMul } from "./kernels/_FusedMatMul";
import { registerIdentity } from "./kernels/Identity";
import { registerUnsortedSegmentSum } from "./kernels/UnsortedSegmentSum";
import { matMulRouting } from "./matmulPaths";
import { moduleDirectory } from "./moduleLocation";
import { loadNativeBlas, type NativeBlasLoad } from "./nativeBlas";
import { loadOrtBlas } from "./ortBlas";
import { importOptional, probeWebGpu, startWebGpu } from "./webgpuBackend";

export {
  probeWebGpu,
  provideOptionalModules,
  webgpuMemory,
  webgpuErrors,
  setWebGpuPoolBudget,
  trimWebGpuPool,
  resetWebGpuPeak,
  isSoftwareAdapter,
  type WebGpuAdapter,
  type WebGpuProbe,
} from "./webgpuBackend";
export type { BufferPoolStats } from "./webgpuBufferPool";

export type BackendDevice = "auto" | "gpu" | "webgpu" | "wasm" | "cpu";

export interface BackendOptions {
  /** Use the OpenBLAS addon for wasm matmuls when it loads (default true). */
  readonly nativeBlas?: boolean;
  /**
   * Without the OpenBLAS addon, use ONNX Runtime's MLAS sgemm (the `onnxruntime-node` npm
   * package, no system packages) when it loads (default true; PI0FAST_ONNXRUNTIME=0 turns it off).
   */
  readonly onnxruntime?: boolean;
  /** Without BLAS, split batched matmuls into 2-D stock calls (default true). */
  readonly perBatchWasm?: boolean;
  /**
   * Register our wasm kernel patches (default true). "missing-only" registers just the kernels
   * wasm lacks (UnsortedSegmentSum), to measure the stock kernels on a model that needs them.
   */
  readonly patchKernels?: boolean | "missing-only";
  /**
   * WebGPU: bytes of released GPU buffers kept for reuse (default 2 GiB, or
   * PI0FAST_WEBGPU_POOL_BYTES); older ones beyond it are destroyed. tfjs alone keeps them all.
   */
  readonly webgpuPoolBytes?: number;
}

export interface BackendInfo {
  /** tfjs backend name in use: "tensorflow", "webgpu", "wasm" or "cpu". */
  readonly name: string;
  /** The device that was asked for. */
  readonly device: BackendDevice;
  /** Our patched kernels registered on that backend. */
  readonly kernels: string[];
  readonly threads?: number;
  /** BLAS library behind matmul, or null for the backend's own kernels. */
  readonly blas?: string | null;
  /** The WebGPU adapter (name, limits; features, Dawn backend and feature level when known). */
  readonly adapter?: {
    name: string;
    limits: Record<string, number>;
    features?: string[];
    dawnBackend?: "default" | "opengles";
    featureLevel?: "core" | "compatibility";
    software?: boolean;
  } | null;
  /** Why faster paths were not taken (e.g. the OpenBLAS addon is not built). */
  readonly notes?: string[];
}

type Attempt = { readonly ok: true; readonly info: BackendInfo } | { readonly ok: false; readonly reason: string };

// Optional peers are imported by a computed name so bundlers and tsc do not require them (or
// handed over by a bundle's entry: provideOptionalModules).
const dynamicImport = importOptional;

const BACKEND_PACKAGES: Record<Exclude<BackendDevice, "auto">, string> = {
  gpu: "@tensorflow/tfjs-node-gpu",
  webgpu: "webgpu + @tensorflow/tfjs-backend-webgpu",
  wasm: "@tensorflow/tfjs-backend-wasm",
  cpu: "@tensorflow/tfjs-backend-cpu",
};

async function activate(name: string): Promise<void> {
  const ok = await tf.setBackend(name);
  if (!ok) throw new Error(`tf.setBackend("${name}") returned false`);
  await tf.ready();
}

async function tryNodeGpu(): Promise<Attempt> {
  try {
    await dynamicImport("@tensorflow/tfjs-node-gpu");
    await activate("tensorflow");
    return { ok: true, info: { name: "tensorflow", device: "gpu", kernels: [], blas: null, adapter: null } };
  } catch (error) {
    return { ok: false, reason: `${BACKEND_PACKAGES.gpu}: ${(error as Error).message.split("\n")[0]}` };
  }
}

/**
 * Whether this Linux machine exposes a GPU at all (NVIDIA device nodes or a DRM render node). Without
 * one, `auto` does not probe WebGPU: Dawn would only find a software rasteriser, which auto skips
 * anyway, after printing its driver warnings into the user's run.
 */
function hasGpuDeviceNode(): boolean {
  if (process.platform !== "linux") return true;
  try {
    const dev = readdirSync("/dev");
    if (dev.some((name) => /^nvidia\d+$/.test(name))) return true;
    return existsSync("/dev/dri") && readdirSync("/dev/dri").some((name) => name.startsWith("renderD"));
  } catch {
    return true;
  }
}

async function tryWebGpu(device: BackendDevice, options: BackendOptions): Promise<Attempt> {
  if (device === "auto" && !hasGpuDeviceNode()) {
    return { ok: false, reason: "webgpu: no GPU device node (/dev/nvidia*, /dev/dri/renderD*) on this machine" };
  }
  try {
    // auto never picks a software rasteriser (llvmpipe & co. are slower than wasm); asking for
    // webgpu explicitly does (that is how the WebGPU kernels are tested on CPU-only machines).
    const started = await startWebGpu({ allowSoftware: device === "webgpu", poolBytes: options.webgpuPoolBytes });
    const a = started.adapter;
    const notes = [`webgpu buffer pool budget ${started.poolBudgetBytes} bytes`];
    if (a.software) notes.push(`software adapter on Dawn's ${a.dawnBackend} backend: for tests, not for training speed`);
    return {
      ok: true,
      info: {
        name: "webgpu",
        device,
        kernels: [],
        blas: null,
        adapter: {
          name: a.name,
          limits: a.limits,
          features: a.features,
          dawnBackend: a.dawnBackend,
          featureLevel: a.featureLevel,
          software: a.software,
        },
        notes,
      },
    };
  } catch (error) {
    return { ok: false, reason: `${BACKEND_PACKAGES.webgpu}: ${(error as Error).message.split("\n")[0]}` };
  }
}

/** Directory of tfjs-backend-wasm's dist, where its .wasm binaries live, with a trailing slash. */
function wasmBinaryDirectory(): string | undefined {
  try {
    // Resolved from this module, not the working directory, so the package's own copy is found.
    const require = createRequire(join(moduleDirectory(), "noop.js"));
    return join(dirname(require.resolve("@tensorflow/tfjs-backend-wasm")), "/");
  } catch {
    return undefined;
  }
}

let patchedKernels: string[] | undefined;

/**
 * Replaces the wasm backend's slow or missing kernels with ours (idempotent). Call before or
 * after the wasm backend initialises; the stock setup functions are kept.
 */
export function registerWasmKernelPatches(options: { blas: NativeBlasLoad; perBatchWasm: boolean }): string[] {
  matMulRouting.blas = options.blas._tag === "Loaded" ? options.blas.blas : null;
  matMulRouting.perBatchWasm = options.perBatchWasm;
  if (patchedKernels === undefined) {
    patchedKernels = [registerBatchMatMul(), registerFusedMatMul(), registerIdentity()];
    if (getKernel(UnsortedSegmentSum, "wasm") === undefined) registerUnsortedSegmentSum();
    patchedKernels.push(UnsortedSegmentSum);
  }
  return [...patchedKernels];
}

/** Only the kernels tfjs-backend-wasm 4.22 lacks, leaving its own matmuls in place. */
export function registerMissingWasmKernels(): string[] {
  if (patchedKernels !== undefined) return [...patchedKernels];
  if (getKernel(UnsortedSegmentSum, "wasm") === undefined) registerUnsortedSegmentSum();
  return [UnsortedSegmentSum];
}

async function tryWasm(device: BackendDevice, options: BackendOptions): Promise<Attempt> {
  try {
    const wasm = (await dynamicImport("@tensorflow/tfjs-backend-wasm")) as {
      setWasmPaths: (prefix: string) => void;
      getThreadsCount: () => number;
    };
    const dir = wasmBinaryDirectory();
    if (dir !== undefined && typeof process !== "undefined" && process.versions?.node !== undefined) wasm.setWasmPaths(dir);
    const notes: string[] = [];
    const openBlas: NativeBlasLoad =
      options.nativeBlas === false ? { _tag: "Unavailable", reason: "disabled by options" } : loadNativeBlas();
    if (openBlas._tag === "Unavailable") notes.push(`OpenBLAS addon: ${openBlas.reason}`);
    const ortBlas: NativeBlasLoad | null =
      openBlas._tag === "Loaded" ? null : options.onnxruntime === false ? { _tag: "Unavailable", reason: "disabled by options" } : loadOrtBlas();
    if (ortBlas?._tag === "Unavailable") notes.push(`ONNX Runtime sgemm: ${ortBlas.reason}`);
    const blas = ortBlas ?? openBlas;
    const kernels =
      options.patchKernels === false
        ? []
        : options.patchKernels === "missing-only"
          ? registerMissingWasmKernels()
          : registerWasmKernelPatches({ blas, perBatchWasm: options.perBatchWasm ?? true });
    await activate("wasm");
    const inUse = blas._tag === "Loaded" && (options.patchKernels ?? true) === true ? blas.blas : null;
    return {
      ok: true,
      info: {
        name: "wasm",
        device,
        kernels,
        threads: inUse !== null ? inUse.threads() : wasm.getThreadsCount(),
        blas: inUse !== null ? inUse.config() : null,
        adapter: null,
        notes,
      },
    };
  } catch (error) {
    return { ok: false, reason: `${BACKEND_PACKAGES.wasm}: ${(error as Error).message.split("\n")[0]}` };
  }
}

async function tryCpu(device: BackendDevice): Promise<Attempt> {
  try {
    await dynamicImport("@tensorflow/tfjs-backend-cpu");
    await activate("cpu");
    return { ok: true, info: { name: "cpu", device, kernels: [], threads: 1, blas: null, adapter: null } };
  } catch (error) {
    return { ok: false, reason: `${BACKEND_PACKAGES.cpu}: ${(error as Error).message.split("\n")[0]}` };
  }
}

/**
 * Picks and initialises the tfjs backend. "auto": tfjs-node-gpu > WebGPU (Dawn, a hardware
 * adapter only) > wasm (+ our kernels, + OpenBLAS when built) > cpu. An explicit device that cannot start is an error naming
 * it, why, and what is available.
 */
export async function initBackend(device: BackendDevice, options: BackendOptions = {}): Promise<BackendInfo> {
  const order: Record<BackendDevice, Array<() => Promise<Attempt>>> = {
    auto: [tryNodeGpu, () => tryWebGpu("auto", options), () => tryWasm("auto", options), () => tryCpu("auto")],
    gpu: [tryNodeGpu],
    webgpu: [() => tryWebGpu("webgpu", options)],
    wasm: [() => tryWasm("wasm", options)],
    cpu: [() => tryCpu("cpu")],
  };
  const failures: string[] = [];
  for (const attempt of order[device]) {
    const result = await attempt();
    if (result.ok) return { ...result.info, device };
    failures.push(result.reason);
  }
  const available = device === "auto" ? [] : await probeAvailable(device);
  throw new Error(
    `policy.device=${device}: backend unavailable (${failures.join("; ")}). ` +
      `Available: ${available.length > 0 ? available.join(", ") : "none"}.`,
  );
}

/** Which other devices could start, without switching the active backend for good. */
async function probeAvailable(except: BackendDevice): Promise<string[]> {
  const found: string[] = [];
  const checks: Array<[BackendDevice, string]> = [
    ["gpu", "@tensorflow/tfjs-node-gpu"],
    ["webgpu", "webgpu"],
    ["wasm", "@tensorflow/tfjs-backend-wasm"],
    ["cpu", "@tensorflow/tfjs-backend-cpu"],
  ];
  for (const [device, pkg] of checks) {
    if (device === except) continue;
    if (device === "webgpu") {
      if ((await probeWebGpu()).ok) found.push(device);
      continue;
    }
    try {
      await dynamicImport(pkg);
      found.push(device);
    } catch {
      // not installed
    }
  }
  return found;
}

/** One line for logs and train_config.json. */
export function describeBackend(info: BackendInfo): string {
  const parts = [`backend=${info.name}`, `device=${info.device}`];
  parts.push(`kernels=${info.kernels.length > 0 ? info.kernels.join(",") : "stock"}`);
  if (info.blas !== undefined) parts.push(`blas=${info.blas === null ? "none" : JSON.stringify(info.blas)}`);
  if (info.threads !== undefined) parts.push(`threads=${info.threads}`);
  if (info.adapter) {
    parts.push(`adapter=${JSON.stringify(info.adapter.name)}`);
    const l = info.adapter.limits;
    if (l.maxStorageBufferBindingSize !== undefined) parts.push(`maxStorageBufferBindingSize=${l.maxStorageBufferBindingSize}`);
    if (l.maxBufferSize !== undefined) parts.push(`maxBufferSize=${l.maxBufferSize}`);
    if (info.adapter.features?.includes("shader-f16")) parts.push("shader-f16");
  }
  for (const note of info.notes ?? []) parts.push(`note=${JSON.stringify(note)}`);
  return parts.join(" ");
}
