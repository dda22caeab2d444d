import { writeSync } from "node:fs";
import { hostname } from "node:os";
import type { BroadcastBuffer, Communicator, RankProcess, ScalarReduction } from "./communicator.js";
import {
  MPI_THREAD_MULTIPLE,
  MPI_THREAD_SERIALIZED,
  callAsync,
  check,
  loadMpi,
  type Abi,
  type KoffiFn,
  type LibraryChoice,
  type MpiFunctions,
} from "./mpiLibrary.js";
import { checkRoot } from "./single.js";

/** Options of {@link initMpi}. */
export interface MpiOptions extends LibraryChoice {
  /**
   * Seconds a collective may wait for its peers before this rank aborts the job with
   * `rank R: all-reduce did not complete in T s (a peer rank may have died)`. Counts from the moment
   * this rank enters the collective, so it must exceed the slowest rank's compute between collectives.
   */
  readonly timeoutS: number;
  /** Floats per MPI_Allreduce call (default {@link DEFAULT_BUCKET_FLOATS}). */
  readonly bucketFloats?: number;
  /** Rank 0 prints the rank → pid/host table on stderr at start-up (default true). */
  readonly announce?: boolean;
}

/**
 * 8 Mi floats = 32 MiB per MPI_Allreduce, close to DDP's 25 MiB buckets. Each bucket costs two
 * thread hand-offs (main → koffi worker → main); on an oversubscribed machine each hand-off waits for
 * a time slice, and 4 MiB buckets made the tiny model's 18 MiB all-reduce 3× slower than one C call
 * (tools/bench/allreduce), while 32 MiB buckets keep it within 0.8–0.9× of C.
 */
export const DEFAULT_BUCKET_FLOATS = 1 << 23;

const EMPTY = new Float32Array(0);

/** Floats scaled per MPI_Reduce_local call: 1 Mi (a 4 MiB operand of 1/size, mostly cache-resident). */
const SCALE_CHUNK_FLOATS = 1 << 20;

/** How long a rank waits between printing why it aborts and calling MPI_Abort. */
const ABORT_GRACE_MS = 500;

/** Blocks the calling thread (no event loop needed: abort may run from an exit handler). */
const pause = (ms: number): void => {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
};

const HOST_CHARS = 64;

/** Every rank's pid and host name, exchanged with one MPI_Allreduce (MPI_SUM on MPI_INT) at start-up. */
const exchangeProcesses = (fns: MpiFunctions, abi: Abi, rank: number, size: number): RankProcess[] => {
  const stride = 1 + HOST_CHARS;
  const table = new Int32Array(size * stride);
  table[rank * stride] = process.pid;
  const host = hostname().slice(0, HOST_CHARS);
  for (let i = 0; i < host.length; i++) table[rank * stride + 1 + i] = host.charCodeAt(i);
  check("MPI_Allreduce (rank table)", fns.allreduce(abi.inPlace, table, table.length, abi.int, abi.sum, abi.commWorld));
  return Array.from({ length: size }, (_, r) => {
    const codes = Array.from(table.subarray(r * stride + 1, (r + 1) * stride)).filter((c) => c !== 0);
    return { rank: r, pid: table[r * stride]!, host: String.fromCharCode(...codes) };
  });
};

/** `rank 0: pid 123 on host-a, rank 1: pid 456 on host-a` */
export const describeProcesses = (processes: readonly RankProcess[]): string =>
  processes.map((p) => `rank ${p.rank}: pid ${p.pid} on ${p.host}`).join(", ");

/** Peers on this host whose process no longer exists. */
const deadLocalPeers = (processes: readonly RankProcess[], self: number): RankProcess[] => {
  const host = hostname().slice(0, HOST_CHARS);
  return processes.filter((p) => {
    if (p.rank === self || p.host !== host) return false;
    try {
      process.kill(p.pid, 0);
      return false;
    } catch (error) {
      return (error as NodeJS.ErrnoException).code === "ESRCH";
    }
  });
};

class MpiCommunicator implements Communicator {
  readonly isMainProcess: boolean;
  private queue: Promise<unknown> = Promise.resolve();
  private finalizing = false;
  /** MPI calls running on worker threads right now. */
  private active = 0;
  private done = false;
  private readonly onExit = (code: number): void => this.exitHook(code);

  constructor(
    private readonly fns: MpiFunctions,
    private readonly abi: Abi,
    readonly rank: number,
    readonly size: number,
    private readonly threadLevel: number,
    private readonly timeoutS: number,
    private readonly bucketFloats: number,
    /** Every rank's pid and host. */
    readonly processes: readonly RankProcess[],
  ) {
    this.isMainProcess = rank === 0;
    process.on("exit", this.onExit);
  }

  get backend(): "mpich" | "openmpi" {
    return this.abi.family;
  }

  /** Runs collectives one at a time, in call order: every rank issues them in the same order. */
  private exclusive<T>(op: () => Promise<T>): Promise<T> {
    if (this.done || this.finalizing) return Promise.reject(new Error(`rank ${this.rank}: distributed: collective called after finalize()`));
    const run = this.queue.then(op, op);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** One blocking MPI call on a worker thread, under the watchdog. */
  private async collective(name: string, fn: KoffiFn, args: readonly unknown[]): Promise<void> {
    const timer = setTimeout(() => {
      const dead = deadLocalPeers(this.processes, this.rank);
      const which = dead.length > 0 ? `; no longer running: ${describeProcesses(dead)}` : "";
      this.abort(1, `${name} did not complete in ${this.timeoutS} s (a peer rank may have died)${which}`);
    }, this.timeoutS * 1000);
    this.active++;
    try {
      check(name, await callAsync(fn, args));
    } finally {
      this.active--;
      clearTimeout(timer);
    }
  }

  /** 1/size repeated, the second operand of the MPI_PROD that scales reduced buckets (at most 4 MiB). */
  private reciprocal: Float32Array = EMPTY;

  /**
   * ×1/size on one reduced bucket. With MPI_THREAD_MULTIPLE this is MPI_Reduce_local(MPI_PROD)
   * against a chunk of 1/size — compiled C, up to twice as fast as a JS loop on an idle machine —
   * and it runs while the worker thread reduces the next bucket.
   */
  private scale(bucket: Float32Array): void {
    if (bucket.length === 0) return;
    if (this.threadLevel >= MPI_THREAD_MULTIPLE) {
      if (this.reciprocal.length === 0) this.reciprocal = new Float32Array(Math.min(this.bucketFloats, SCALE_CHUNK_FLOATS)).fill(1 / this.size);
      const chunk = this.reciprocal.length;
      for (let offset = 0; offset < bucket.length; offset += chunk) {
        const part = bucket.subarray(offset, Math.min(bucket.length, offset + chunk));
        check("MPI_Reduce_local", this.fns.reduceLocal(this.reciprocal, part, part.length, this.abi.float, this.abi.prod));
      }
    } else {
      const s = 1 / this.size;
      for (let i = 0; i < bucket.length; i++) bucket[i] = bucket[i]! * s;
    }
  }

  private checkFloat32(buf: Float32Array, what: string): void {
    if (!(buf instanceof Float32Array)) {
      throw new Error(`rank ${this.rank}: ${what}: expected a Float32Array, got ${Object.prototype.toString.call(buf)}`);
    }
  }

  /** In-place MPI_Allreduce (MPI_SUM, MPI_FLOAT) bucket by bucket; `after` runs on each reduced bucket while the next one is reduced. */
  private reduceBuckets(buf: Float32Array, after: ((bucket: Float32Array) => void) | undefined): Promise<Float32Array> {
    return this.exclusive(async () => {
      let previous: Float32Array = EMPTY;
      for (let offset = 0; offset < buf.length; offset += this.bucketFloats) {
        const bucket = buf.subarray(offset, Math.min(buf.length, offset + this.bucketFloats));
        const reduced = this.collective("all-reduce", this.fns.allreduce, [this.abi.inPlace, bucket, bucket.length, this.abi.float, this.abi.sum, this.abi.commWorld]);
        // Overlap: finish the previous bucket on the main thread while this one is reduced on a worker thread.
        if (after !== undefined) after(previous);
        await reduced;
        previous = bucket;
      }
      if (after !== undefined) after(previous);
      return buf;
    });
  }

  async allreduceMean(buf: Float32Array): Promise<Float32Array> {
    this.checkFloat32(buf, "allreduceMean");
    return this.reduceBuckets(buf, (bucket) => this.scale(bucket));
  }

  async allreduceSum(buf: Float32Array): Promise<Float32Array> {
    this.checkFloat32(buf, "allreduceSum");
    return this.reduceBuckets(buf, undefined);
  }

  async allreduceScalars(values: readonly number[], reduction: ScalarReduction = "mean"): Promise<number[]> {
    const op = { mean: this.abi.sum, sum: this.abi.sum, max: this.abi.max, min: this.abi.min }[reduction];
    if (op === undefined) throw new Error(`rank ${this.rank}: allreduceScalars: field \`reduction\`: expected mean, sum, max or min, got ${String(reduction)}`);
    return this.exclusive(async () => {
      const buf = Float64Array.from(values);
      if (buf.length > 0) await this.collective("all-reduce", this.fns.allreduce, [this.abi.inPlace, buf, buf.length, this.abi.double, op, this.abi.commWorld]);
      return Array.from(buf, (v) => (reduction === "mean" ? v / this.size : v));
    });
  }

  async broadcast<T extends BroadcastBuffer>(buf: T, root = 0): Promise<T> {
    checkRoot(root, this.size);
    return this.exclusive(async () => {
      const bytes = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
      const chunk = this.bucketFloats * 4;
      for (let offset = 0; offset < bytes.length; offset += chunk) {
        const part = bytes.subarray(offset, Math.min(bytes.length, offset + chunk));
        await this.collective("broadcast", this.fns.bcast, [part, part.length, this.abi.byte, root, this.abi.commWorld]);
      }
      return buf;
    });
  }

  barrier(): Promise<void> {
    return this.exclusive(() => this.collective("barrier", this.fns.barrier, [this.abi.commWorld]));
  }

  abort(code: number, message: string): never {
    writeSync(2, `rank ${this.rank}: ${message}\n`);
    this.done = true;
    // The launcher relays stderr through a pipe and kills every rank on MPI_Abort; give it time to
    // relay the message first (it was lost about one time in five on a loaded machine without this).
    pause(ABORT_GRACE_MS);
    if (this.threadLevel >= MPI_THREAD_MULTIPLE || !this.inCollective()) {
      // Kills every rank of the job (the launcher reports "application called MPI_Abort").
      this.fns.abort(this.abi.commWorld, code);
    }
    // MPI_Abort does not return; if the library could not be entered, exiting non-zero makes the
    // launcher tear the job down.
    process.exit(code === 0 ? 1 : code);
  }

  private inCollective(): boolean {
    return this.active > 0;
  }

  async finalize(): Promise<void> {
    if (this.done || this.finalizing) return;
    this.finalizing = true;
    await this.queue;
    check("MPI_Finalize", await callAsync(this.fns.finalize, []));
    this.done = true;
    process.off("exit", this.onExit);
  }

  /** Process exit without finalize(): finalize on a clean exit, abort the job on a failing one. */
  private exitHook(code: number): void {
    if (this.done) return;
    this.done = true;
    if (code === 0) {
      this.fns.finalize();
    } else {
      writeSync(2, `rank ${this.rank}: exiting with code ${code}; aborting the MPI job\n`);
      pause(ABORT_GRACE_MS);
      this.fns.abort(this.abi.commWorld, code);
    }
  }
}

/** Initialises MPI (MPI_Init_thread) through koffi and returns MPI_COMM_WORLD as a Communicator. */
export const initMpi = async (options: MpiOptions): Promise<Communicator> => {
  if (!(Number.isFinite(options.timeoutS) && options.timeoutS > 0)) {
    throw new Error(`distributed: field \`timeoutS\`: expected a number of seconds > 0, got ${options.timeoutS}`);
  }
  const bucketFloats = options.bucketFloats ?? DEFAULT_BUCKET_FLOATS;
  if (!(Number.isInteger(bucketFloats) && bucketFloats > 0 && bucketFloats < 2 ** 29)) {
    throw new Error(`distributed: field \`bucketFloats\`: expected an integer in [1, 2^29), got ${bucketFloats}`);
  }
  const { fns, abi, path } = await loadMpi(options);
  const flag = new Int32Array(1);
  check("MPI_Finalized", fns.finalized(flag));
  if (flag[0] !== 0) throw new Error("distributed: MPI was already finalized in this process; it cannot be initialised again");
  check("MPI_Initialized", fns.initialized(flag));
  const provided = new Int32Array([MPI_THREAD_MULTIPLE]);
  if (flag[0] === 0) check("MPI_Init_thread", fns.initThread(null, null, MPI_THREAD_MULTIPLE, provided));
  if (provided[0]! < MPI_THREAD_SERIALIZED) {
    fns.abort(abi.commWorld, 1);
    throw new Error(`distributed: ${path} provides thread level ${provided[0]}; koffi's asynchronous calls need at least MPI_THREAD_SERIALIZED`);
  }
  const out = new Int32Array(1);
  check("MPI_Comm_rank", fns.commRank(abi.commWorld, out));
  const rank = out[0]!;
  check("MPI_Comm_size", fns.commSize(abi.commWorld, out));
  const size = out[0]!;
  const processes = exchangeProcesses(fns, abi, rank, size);
  if (rank === 0 && options.announce !== false) {
    // One line, so that a launcher's "BAD TERMINATION ... PID p RUNNING AT host" names a rank.
    writeSync(2, `distributed: ${size} ranks over ${abi.family === "mpich" ? "MPICH" : "Open MPI"} (${path}): ${describeProcesses(processes)}\n`);
  }
  return new MpiCommunicator(fns, abi, rank, size, provided[0]!, options.timeoutS, bucketFloats, processes);
};
