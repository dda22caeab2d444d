/**
 * TensorFlow.js's WebGPU backend on Dawn in Node (npm `webgpu`, prebuilt dawn.node), both optional
 * dependencies: nothing here is imported statically, and any failure becomes a reason string.
 *
 * Adapter discovery: Dawn's default (Vulkan on Linux) first; when it offers no adapter, Dawn's
 * OpenGL ES backend, which runs on Mesa's llvmpipe on any CPU (Debian: libegl1 libegl-mesa0 libgles2
 * libgl1-mesa-dri; EGL_PLATFORM=surfaceless, set here when unset). The OpenGL ES backend only
 * exists at WebGPU's "compatibility" feature level, which tfjs does not ask for, so the
 * `navigator.gpu` handed to tfjs adds it to every requestAdapter call.
 *
 * Software adapters (llvmpipe, lavapipe, SwiftShader, anything calling itself a CPU) run the kernels
 * at a few GFLOP/s, far below wasm + BLAS: `auto` skips them; `--policy.device=webgpu` uses them
 * (that is how the WebGPU kernels are tested without a GPU).
 */
import * as tf from "@tensorflow/tfjs-core";
import { installBufferPool, poolBudgetFrom, type BufferPool, type BufferPoolStats, type TfjsBufferManager } from "./webgpuBufferPool";

/** What the chosen adapter is, as recorded in BackendInfo and train_config.json. */
export interface WebGpuAdapter {
  /** Human-readable: the device string, with the driver description in parentheses. */
  readonly name: string;
  readonly vendor: string;
  readonly architecture: string;
  readonly description: string;
  /** Dawn backend that produced it: "default" (Vulkan/Metal/D3D12) or "opengles". */
  readonly dawnBackend: "default" | "opengles";
  readonly featureLevel: "core" | "compatibility";
  /** A CPU rasteriser rather than a GPU (llvmpipe, lavapipe, SwiftShader, …). */
  readonly software: boolean;
  readonly features: string[];
  readonly limits: Record<string, number>;
}

export type WebGpuProbe =
  | { readonly ok: true; readonly adapter: WebGpuAdapter }
  | { readonly ok: false; readonly reason: string };

interface DawnAdapter {
  readonly info?: { vendor?: string; architecture?: string; device?: string; description?: string };
  readonly features: Iterable<string>;
  readonly limits: object;
}
interface DawnGpu {
  requestAdapter(options?: Record<string, unknown>): Promise<DawnAdapter | null>;
  getPreferredCanvasFormat?(): string;
  readonly wgslLanguageFeatures?: unknown;
}
interface DawnModule {
  create(flags: string[]): DawnGpu;
  globals: object;
}

/** Matches adapter strings of CPU implementations. */
const SOFTWARE_ADAPTER = /llvmpipe|lavapipe|softpipe|swiftshader|software|\bcpu\b|microsoft basic render/i;

/** Whether an adapter (by its info strings) is a software rasteriser rather than a GPU. */
export function isSoftwareAdapter(info: { vendor?: string; architecture?: string; device?: string; description?: string }): boolean {
  return [info.vendor, info.architecture, info.device, info.description].some((s) => typeof s === "string" && SOFTWARE_ADAPTER.test(s));
}

const PROVIDED = Symbol.for("craft.pi0fast.optionalModules");

/**
 * Hands already-imported optional packages to initBackend. A bundle (e.g. for the GPU machine,
 * which has no node_modules) cannot resolve the computed-name imports below, so its entry imports
 * `webgpu`, `@tensorflow/tfjs-backend-webgpu` and `@tensorflow/tfjs-backend-cpu` statically and
 * provides them here.
 */
export function provideOptionalModules(modules: Record<string, unknown>): void {
  const g = globalThis as Record<symbol, Record<string, unknown> | undefined>;
  g[PROVIDED] = { ...(g[PROVIDED] ?? {}), ...modules };
}

/** Optional dependencies are imported by a computed name so bundlers and tsc do not require them. */
export function importOptional(name: string): Promise<unknown> {
  const provided = (globalThis as Record<symbol, Record<string, unknown> | undefined>)[PROVIDED]?.[name];
  return provided !== undefined ? Promise.resolve(provided) : import(/* @vite-ignore */ name);
}
const dynamicImport = importOptional;

interface Session {
  readonly dawn: DawnModule;
  readonly gpu: DawnGpu;
  readonly compatibility: boolean;
  readonly adapter: WebGpuAdapter;
}

let session: Promise<WebGpuProbe & { session?: Session }> | undefined;
let activePool: BufferPool | undefined;
const deviceErrors: string[] = [];

function describeAdapter(adapter: DawnAdapter, dawnBackend: WebGpuAdapter["dawnBackend"], compatibility: boolean): WebGpuAdapter {
  const info = adapter.info ?? {};
  const str = (s: unknown) => (typeof s === "string" ? s : "");
  const device = str(info.device).replace(/-+$/, "");
  const description = str(info.description);
  const vendor = str(info.vendor);
  const head = device || vendor || "unknown adapter";
  const limits: Record<string, number> = {};
  for (const key in adapter.limits) {
    const value = (adapter.limits as Record<string, unknown>)[key];
    if (typeof value === "number") limits[key] = value;
  }
  return {
    name: description && description !== head ? `${head} (${description})` : head,
    vendor,
    architecture: str(info.architecture),
    description,
    dawnBackend,
    featureLevel: compatibility ? "compatibility" : "core",
    software: isSoftwareAdapter(info),
    features: [...adapter.features].sort(),
    limits,
  };
}

async function discover(): Promise<WebGpuProbe & { session?: Session }> {
  let dawn: DawnModule;
  try {
    dawn = (await dynamicImport("webgpu")) as DawnModule;
    if (typeof dawn.create !== "function") throw new Error("the module has no create()");
  } catch (error) {
    return { ok: false, reason: `npm package 'webgpu' (Dawn) did not load: ${(error as Error).message.split("\n")[0]}` };
  }
  const tried: string[] = [];
  const forced = process.env.PI0FAST_WEBGPU_BACKEND;
  if (forced !== undefined && forced !== "" && forced !== "default" && forced !== "opengles") {
    return { ok: false, reason: `PI0FAST_WEBGPU_BACKEND: expected "default" or "opengles", got "${forced}"` };
  }
  if (forced !== "opengles") {
    try {
      const gpu = dawn.create([]);
      const adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
      if (adapter) return { ok: true, adapter: describeAdapter(adapter, "default", false), session: { dawn, gpu, compatibility: false, adapter: describeAdapter(adapter, "default", false) } };
      tried.push("Dawn's default backend (Vulkan) offers no adapter");
    } catch (error) {
      tried.push(`Dawn's default backend failed: ${(error as Error).message.split("\n")[0]}`);
    }
  }
  if (forced !== "default") {
    // EGL must know there is no display before Dawn's OpenGL ES backend initialises it.
    if (!process.env.EGL_PLATFORM) process.env.EGL_PLATFORM = "surfaceless";
    try {
      const gpu = dawn.create(["backend=opengles"]);
      const adapter = await gpu.requestAdapter({ powerPreference: "high-performance", featureLevel: "compatibility" });
      if (adapter) {
        const described = describeAdapter(adapter, "opengles", true);
        return { ok: true, adapter: described, session: { dawn, gpu, compatibility: true, adapter: described } };
      }
      tried.push(
        "Dawn's OpenGL ES backend offers no adapter (needs EGL + Mesa: apt-get install libegl1 libegl-mesa0 libgles2 libgl1-mesa-dri, EGL_PLATFORM=surfaceless)",
      );
    } catch (error) {
      tried.push(`Dawn's OpenGL ES backend failed: ${(error as Error).message.split("\n")[0]}`);
    }
  }
  return { ok: false, reason: `no WebGPU adapter: ${tried.join("; ")}` };
}

/** Finds a WebGPU adapter (once per process; later calls return the same answer). */
export function probeWebGpu(): Promise<WebGpuProbe> {
  session ??= discover();
  return session.then((s) => (s.ok ? { ok: true, adapter: s.adapter } : s));
}

/** `navigator.gpu` for tfjs: the chosen Dawn instance, asking for compatibility adapters when needed. */
function navigatorGpu(s: Session): DawnGpu {
  return {
    requestAdapter: (options?: Record<string, unknown>) =>
      s.gpu.requestAdapter(s.compatibility ? { ...(options ?? {}), featureLevel: "compatibility" } : options),
    getPreferredCanvasFormat: () => s.gpu.getPreferredCanvasFormat?.() ?? "rgba8unorm",
    get wgslLanguageFeatures() {
      return s.gpu.wgslLanguageFeatures;
    },
  };
}

function installNavigatorGpu(gpu: DawnGpu): void {
  const g = globalThis as { navigator?: object };
  const nav = g.navigator;
  if (nav !== undefined && nav !== null && typeof nav === "object") {
    Object.defineProperty(nav, "gpu", { value: gpu, configurable: true, writable: true });
  } else {
    Object.defineProperty(globalThis, "navigator", { value: { gpu }, configurable: true, writable: true });
  }
}

interface TfjsWebGpuModule {
  WebGPUBackend: new (device: unknown, adapterInfo?: unknown) => tf.KernelBackend;
}

interface TfjsWebGpuBackend extends tf.KernelBackend {
  bufferManager: TfjsBufferManager;
  tensorMap: { get(dataId: object): { values?: unknown; dtype?: string } | undefined };
  device: {
    addEventListener?(type: string, listener: (event: { error?: { message?: string } }) => void): void;
    onuncapturederror?: ((event: { error?: { message?: string } }) => void) | null;
  };
}

export interface WebGpuStart {
  readonly adapter: WebGpuAdapter;
  readonly poolBudgetBytes: number;
}

/**
 * Activates tfjs's WebGPU backend on `s`. `navigator.gpu` and Dawn's globals (GPUBuffer,
 * GPUBufferUsage, …) are installed before tfjs-backend-webgpu is first evaluated: it registers the
 * backend at import time only when it sees `navigator.gpu`. If it was evaluated earlier without it,
 * the backend is registered here from its exported WebGPUBackend class.
 */
async function activate(s: Session, poolBytes: number | undefined): Promise<WebGpuStart> {
  const budget = poolBudgetFrom(poolBytes);
  Object.assign(globalThis, s.dawn.globals);
  installNavigatorGpu(navigatorGpu(s));
  let mod: TfjsWebGpuModule;
  try {
    mod = (await dynamicImport("@tensorflow/tfjs-backend-webgpu")) as TfjsWebGpuModule;
  } catch (error) {
    throw new Error(`npm package '@tensorflow/tfjs-backend-webgpu' did not load: ${(error as Error).message.split("\n")[0]}`);
  }
  if (tf.findBackendFactory("webgpu") === null || tf.findBackendFactory("webgpu") === undefined) {
    tf.registerBackend(
      "webgpu",
      async () => {
        const adapter = (await navigatorGpu(s).requestAdapter({ powerPreference: "high-performance" })) as
          | (DawnAdapter & { requestDevice(d: object): Promise<unknown> })
          | null;
        if (!adapter) throw new Error("WebGPU adapter vanished");
        const l = adapter.limits as Record<string, number>;
        const device = await adapter.requestDevice({
          requiredFeatures: [...adapter.features].filter((f) => f === "timestamp-query"),
          requiredLimits: {
            maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
            maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
            maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
            maxBufferSize: l.maxBufferSize,
            maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
            maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
          },
        });
        return new mod.WebGPUBackend(device, adapter.info);
      },
      3,
    );
  }
  const ok = await tf.setBackend("webgpu");
  if (!ok) throw new Error(`tf.setBackend("webgpu") returned false on adapter ${JSON.stringify(s.adapter.name)} (see the warning above)`);
  await tf.ready();
  const backend = tf.backend() as TfjsWebGpuBackend;
  activePool = installBufferPool(backend.bufferManager, budget);
  watchDeviceErrors(backend);
  explainSyncReads(backend);
  return { adapter: s.adapter, poolBudgetBytes: budget };
}

const EXPLAINED = Symbol.for("craft.pi0fast.webgpuSyncReads");

/**
 * tfjs's WebGPU readSync copies through an OffscreenCanvas, which Node lacks: without this, a
 * dataSync() on a GPU-resident tensor dies with "OffscreenCanvas is not defined". Say what to do.
 */
function explainSyncReads(backend: TfjsWebGpuBackend): void {
  const b = backend as TfjsWebGpuBackend & Record<symbol, boolean>;
  if (b[EXPLAINED] || typeof (globalThis as { OffscreenCanvas?: unknown }).OffscreenCanvas !== "undefined") return;
  b[EXPLAINED] = true;
  const readSync = backend.readSync.bind(backend);
  backend.readSync = (dataId: object) => {
    const data = backend.tensorMap.get(dataId);
    if (data !== undefined && data.values == null && data.dtype !== "string" && data.dtype !== "complex64") {
      throw new Error(
        "WebGPU backend in Node: a GPU tensor cannot be read synchronously (dataSync/arraySync/bufferSync need OffscreenCanvas); read it with `await tensor.data()`",
      );
    }
    return readSync(dataId);
  };
}

const WATCHED = Symbol.for("craft.pi0fast.webgpuErrors");

/** Dawn reports validation and out-of-memory errors asynchronously and carries on; keep them. */
function watchDeviceErrors(backend: TfjsWebGpuBackend): void {
  const device = backend.device as Record<symbol, boolean> & TfjsWebGpuBackend["device"];
  if (device[WATCHED]) return;
  device[WATCHED] = true;
  const record = (event: { error?: { message?: string } }) => {
    const message = event?.error?.message ?? String(event);
    if (deviceErrors.length < 100) deviceErrors.push(message.split("\n")[0]);
  };
  if (typeof device.addEventListener === "function") device.addEventListener("uncapturederror", record);
  else device.onuncapturederror = record;
}

/**
 * Starts the WebGPU backend. `allowSoftware: false` (what `auto` passes) refuses llvmpipe-like
 * adapters with a reason instead of starting them.
 */
export async function startWebGpu(options: { readonly allowSoftware: boolean; readonly poolBytes?: number }): Promise<WebGpuStart> {
  session ??= discover();
  const found = await session;
  if (!found.ok || found.session === undefined) throw new Error(found.ok ? "no WebGPU session" : found.reason);
  if (found.adapter.software && !options.allowSoftware) {
    throw new Error(
      `adapter ${JSON.stringify(found.adapter.name)} is a software rasteriser (slower than wasm); not chosen by auto — ask for --policy.device=webgpu to use it`,
    );
  }
  return activate(found.session, options.poolBytes);
}

/** Counters of the active WebGPU buffer pool, or null when the WebGPU backend was never started. */
export function webgpuMemory(): BufferPoolStats | null {
  return activePool ? activePool.stats() : null;
}

/** Changes the pool budget of the active WebGPU backend (bytes of released buffers kept for reuse). */
export function setWebGpuPoolBudget(bytes: number): void {
  if (!activePool) throw new Error("setWebGpuPoolBudget: the WebGPU backend has not been started (initBackend(\"webgpu\"))");
  activePool.setBudget(poolBudgetFrom(bytes));
}

/** Destroys pooled (released) WebGPU buffers down to `keepBytes` (default 0), e.g. between phases. */
export function trimWebGpuPool(keepBytes = 0): void {
  activePool?.trim(keepBytes);
}

/** Restarts the peak counter of webgpuMemory().peakAllocatedBytes (e.g. after a warm-up step). */
export function resetWebGpuPeak(): void {
  activePool?.resetPeak();
}

/** Dawn errors reported on the device since start (validation, out of memory, …), first line each. */
export function webgpuErrors(): readonly string[] {
  return [...deviceErrors];
}
