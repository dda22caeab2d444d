/**
 * A byte budget for tfjs-backend-webgpu's buffer pool.
 *
 * tfjs 4.22's `BufferManager` keeps every released GPUBuffer in a free list keyed by
 * `${size}_${usage}` and never destroys one until the whole backend is disposed. A training step
 * that allocates buffers of many distinct sizes (activations, gradients, optimiser temporaries)
 * therefore holds its peak plus every size it ever freed: on an H200, 139 one-GiB tensors made and
 * disposed left 152.7 GB allocated and the next 1 GiB buffer failed. This patch bounds the bytes
 * held in the free lists: after every release, the oldest pooled buffers are destroyed until the
 * pool holds at most `budgetBytes`; a buffer larger than the budget is destroyed at once. Reuse of
 * recent same-size buffers (most of a step's small tensors) is kept.
 *
 * Destroying a released buffer is safe: tfjs releases a buffer only after the command buffer that
 * uses it has been submitted, and WebGPU keeps a destroyed buffer alive until submitted work that
 * uses it completes.
 */

/** The parts of tfjs-backend-webgpu's BufferManager (4.22) this patch relies on. */
export interface TfjsBufferManager {
  freeBuffers: Map<string, GPUBufferLike[]>;
  numFreeBuffers: number;
  numBytesUsed: number;
  numBytesAllocated: number;
  acquireBuffer(size: number, usage: number, mappedAtCreation?: boolean, reuse?: boolean): GPUBufferLike;
  releaseBuffer(buffer: GPUBufferLike, reuse?: boolean): void;
}

export interface GPUBufferLike {
  readonly size: number;
  readonly usage: number;
  destroy(): void;
}

export interface BufferPoolStats {
  /** Bytes of buffers owned by live tensors (and in-flight uniforms/staging). */
  readonly inUseBytes: number;
  /** Bytes of released buffers kept for reuse. */
  readonly pooledBytes: number;
  /** inUse + pooled: what tfjs holds on the device. */
  readonly allocatedBytes: number;
  readonly budgetBytes: number;
  /** Buffers destroyed by the budget since the patch was installed. */
  readonly evictedBuffers: number;
  readonly evictedBytes: number;
  /** Acquisitions served from the pool / by a new allocation since the patch was installed. */
  readonly reused: number;
  readonly created: number;
  /** Highest allocatedBytes seen since the patch was installed or the last resetPeak(). */
  readonly peakAllocatedBytes: number;
}

export interface BufferPool {
  stats(): BufferPoolStats;
  setBudget(bytes: number): void;
  /** Destroy pooled buffers until at most `keepBytes` remain (default 0: empty the pool). */
  trim(keepBytes?: number): void;
  resetPeak(): void;
}

const PATCHED = Symbol.for("craft.pi0fast.webgpuBufferPool");

/** Default pool budget: 2 GiB, or PI0FAST_WEBGPU_POOL_BYTES (a byte count, or with a K/M/G suffix). */
export const DEFAULT_POOL_BUDGET_BYTES = 2 * 1024 ** 3;

/** Parses a byte count such as "2147483648", "512M", "2G" or "1.5GiB". */
export function parseByteSize(text: string, where: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(k|m|g|t)?(?:i?b)?\s*$/i.exec(text);
  if (!m) throw new Error(`${where}: expected a byte count such as 2147483648, 512M or 2G, got "${text}"`);
  const scale = { k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[(m[2] ?? "").toLowerCase() as "k"] ?? 1;
  return Math.floor(Number(m[1]) * scale);
}

/** The budget from options, else the environment, else the default. */
export function poolBudgetFrom(option: number | undefined, env: Record<string, string | undefined> = process.env): number {
  if (option !== undefined) {
    if (!Number.isFinite(option) || option < 0) throw new Error(`BackendOptions.webgpuPoolBytes: expected a byte count ≥ 0, got ${option}`);
    return Math.floor(option);
  }
  const text = env.PI0FAST_WEBGPU_POOL_BYTES;
  return text === undefined || text === "" ? DEFAULT_POOL_BUDGET_BYTES : parseByteSize(text, "PI0FAST_WEBGPU_POOL_BYTES");
}

/**
 * Installs the budget on a tfjs WebGPU BufferManager (idempotent: a second call only changes the
 * budget) and returns a handle to read its counters and change it.
 */
export function installBufferPool(manager: TfjsBufferManager, budgetBytes: number): BufferPool {
  const existing = (manager as unknown as Record<symbol, BufferPool | undefined>)[PATCHED];
  if (existing) {
    existing.setBudget(budgetBytes);
    return existing;
  }
  if (typeof manager.acquireBuffer !== "function" || typeof manager.releaseBuffer !== "function" || !(manager.freeBuffers instanceof Map)) {
    throw new Error("tfjs-backend-webgpu BufferManager: expected acquireBuffer, releaseBuffer and a freeBuffers Map (tfjs 4.22 layout)");
  }
  let budget = budgetBytes;
  // Pooled buffers in release order (oldest first); entries reused in the meantime are skipped.
  const order: GPUBufferLike[] = [];
  let head = 0;
  const pooled = new Set<GPUBufferLike>();
  let pooledBytes = 0;
  let evictedBuffers = 0;
  let evictedBytes = 0;
  let reused = 0;
  let created = 0;
  let peak = manager.numBytesAllocated;
  // Buffers that were pooled before the patch (none in practice: installed right after creation).
  manager.freeBuffers.forEach((list) => {
    for (const b of list) {
      pooled.add(b);
      order.push(b);
      pooledBytes += b.size;
    }
  });

  const key = (b: GPUBufferLike) => `${b.size}_${b.usage}`;

  const evict = (b: GPUBufferLike) => {
    const list = manager.freeBuffers.get(key(b));
    const i = list ? list.indexOf(b) : -1;
    if (list && i >= 0) {
      list.splice(i, 1);
      manager.numFreeBuffers--;
    }
    pooled.delete(b);
    pooledBytes -= b.size;
    manager.numBytesAllocated -= b.size;
    evictedBuffers++;
    evictedBytes += b.size;
    b.destroy();
  };

  const enforce = (limit: number) => {
    while (pooledBytes > limit && head < order.length) {
      const b = order[head++];
      if (pooled.has(b)) evict(b);
    }
    // Compact the queue now and then so it does not grow without bound.
    if (head > 1024 && head * 2 > order.length) {
      order.splice(0, head);
      head = 0;
    }
  };

  const acquire = manager.acquireBuffer.bind(manager);
  const release = manager.releaseBuffer.bind(manager);
  manager.acquireBuffer = (size, usage, mappedAtCreation = false, reuse = true) => {
    const buffer = acquire(size, usage, mappedAtCreation, reuse);
    if (pooled.delete(buffer)) {
      pooledBytes -= buffer.size;
      reused++;
    } else {
      created++;
      if (manager.numBytesAllocated > peak) peak = manager.numBytesAllocated;
    }
    return buffer;
  };
  manager.releaseBuffer = (buffer, reuse = true) => {
    const before = manager.numFreeBuffers;
    release(buffer, reuse);
    if (manager.numFreeBuffers > before) {
      pooled.add(buffer);
      order.push(buffer);
      pooledBytes += buffer.size;
      enforce(budget);
    }
  };

  const pool: BufferPool = {
    stats: () => ({
      inUseBytes: manager.numBytesUsed,
      pooledBytes,
      allocatedBytes: manager.numBytesAllocated,
      budgetBytes: budget,
      evictedBuffers,
      evictedBytes,
      reused,
      created,
      peakAllocatedBytes: peak,
    }),
    setBudget: (bytes) => {
      budget = bytes;
      enforce(budget);
    },
    trim: (keepBytes = 0) => enforce(keepBytes),
    resetPeak: () => {
      peak = manager.numBytesAllocated;
    },
  };
  Object.defineProperty(manager, PATCHED, { value: pool, enumerable: false });
  return pool;
}
