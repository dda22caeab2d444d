import { fstatSync, writeSync } from "node:fs";
import { hostname } from "node:os";
import type { BroadcastBuffer, Communicator, RankProcess, ScalarReduction } from "./communicator.js";
import { checkRoot } from "./single.js";

/** Options of {@link initMpi}. */
export interface MpiOptions {
  /**
   * Seconds a collective may wait for its peers before this rank aborts the job with
   * `rank R: all-reduce did not complete in T s (a peer rank may have died)`. Counts from the moment
   * this rank enters the collective, so it must exceed the slowest rank's compute between collectives.
   */
  readonly timeoutS: number;
  /** Floats per MPI_Allreduce call (default {@link DEFAULT_BUCKET_FLOATS}). */
  readonly bucketFloats?: number;
  /** Library to load instead of probing (also `CRAFT_MPI_LIB`). */
  readonly library?: string;
  /** Launcher detected from the environment, to pick the library to probe first. */
  readonly preferOpenMpi?: boolean;
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

type Handle = number | bigint;

/** The ABI differences between MPI families: handles are ints in MPICH, pointers to globals in Open MPI. */
interface Abi {
  readonly family: "mpich" | "openmpi";
  readonly commWorld: Handle;
  readonly float: Handle;
  readonly double: Handle;
  readonly int: Handle;
  readonly byte: Handle;
  readonly sum: Handle;
  readonly max: Handle;
  readonly min: Handle;
  readonly prod: Handle;
  /** MPI_IN_PLACE: (void*)-1 in MPICH, (void*)1 in Open MPI. */
  readonly inPlace: Handle;
}

// Values from MPICH's mpi.h (/usr/include/x86_64-linux-gnu/mpich/mpi.h, MPICH 4.0).
const MPICH_ABI: Abi = {
  family: "mpich",
  commWorld: 0x44000000,
  float: 0x4c00040a,
  double: 0x4c00080b,
  int: 0x4c000405,
  byte: 0x4c00010d,
  sum: 0x58000003,
  max: 0x58000001,
  min: 0x58000002,
  prod: 0x58000004,
  inPlace: -1,
};

const MPI_THREAD_MULTIPLE = 3;
const MPI_THREAD_SERIALIZED = 2;

/* eslint-disable @typescript-eslint/no-explicit-any */
type KoffiFn = ((...args: any[]) => any) & { async: (...args: any[]) => void };
interface KoffiLib {
  func(definition: string): KoffiFn;
  symbol(name: string): bigint;
}
interface Koffi {
  load(path: string, options?: { global?: boolean }): KoffiLib;
  config(): Record<string, number>;
  config(settings: Record<string, number>): Record<string, number>;
}

/**
 * koffi runs asynchronous calls on a stack of its own, 128 KiB by default; MPICH's collectives need
 * more (a 2-rank MPI_Allreduce segfaults with the default), so asynchronous calls get 2 MiB like
 * synchronous ones (one call runs at a time here, so this costs 2 MiB in all).
 */
const ASYNC_STACK_BYTES = 2 << 20;

const configureKoffi = (koffi: Koffi): void => {
  const current = koffi.config();
  if ((current.async_stack_size ?? 0) >= ASYNC_STACK_BYTES) return;
  try {
    koffi.config({ ...current, async_stack_size: ASYNC_STACK_BYTES });
  } catch (error) {
    throw new Error(`distributed: cannot raise koffi's async_stack_size to ${ASYNC_STACK_BYTES} bytes (${String(error)}); MPI collectives would overflow koffi's 128 KiB default`);
  }
};
/* eslint-enable @typescript-eslint/no-explicit-any */

interface MpiFunctions {
  initialized: KoffiFn;
  finalized: KoffiFn;
  initThread: KoffiFn;
  commRank: KoffiFn;
  commSize: KoffiFn;
  allreduce: KoffiFn;
  reduceLocal: KoffiFn;
  bcast: KoffiFn;
  barrier: KoffiFn;
  abort: KoffiFn;
  finalize: KoffiFn;
}

const bind = (lib: KoffiLib): MpiFunctions => ({
  // Handles are declared intptr_t: an MPICH int handle and an Open MPI pointer handle both travel
  // in one integer register under the x86-64 and AArch64 calling conventions.
  initialized: lib.func("int MPI_Initialized(_Out_ int *flag)"),
  finalized: lib.func("int MPI_Finalized(_Out_ int *flag)"),
  initThread: lib.func("int MPI_Init_thread(void *argc, void *argv, int required, _Out_ int *provided)"),
  commRank: lib.func("int MPI_Comm_rank(intptr_t comm, _Out_ int *rank)"),
  commSize: lib.func("int MPI_Comm_size(intptr_t comm, _Out_ int *size)"),
  allreduce: lib.func("int MPI_Allreduce(intptr_t sendbuf, void *recvbuf, int count, intptr_t datatype, intptr_t op, intptr_t comm)"),
  reduceLocal: lib.func("int MPI_Reduce_local(void *inbuf, void *inoutbuf, int count, intptr_t datatype, intptr_t op)"),
  bcast: lib.func("int MPI_Bcast(void *buffer, int count, intptr_t datatype, int root, intptr_t comm)"),
  barrier: lib.func("int MPI_Barrier(intptr_t comm)"),
  abort: lib.func("int MPI_Abort(intptr_t comm, int errorcode)"),
  finalize: lib.func("int MPI_Finalize()"),
});

const hasSymbol = (lib: KoffiLib, name: string): boolean => {
  try {
    lib.symbol(name);
    return true;
  } catch {
    return false;
  }
};

const openMpiAbi = (lib: KoffiLib): Abi => {
  const sym = (name: string): bigint => {
    try {
      return lib.symbol(name);
    } catch (error) {
      throw new Error(`Open MPI: symbol ${name} not found in the loaded libmpi (${String(error)}); use MPICH (apt-get install mpich libmpich-dev)`);
    }
  };
  return {
    family: "openmpi",
    commWorld: sym("ompi_mpi_comm_world"),
    float: sym("ompi_mpi_float"),
    double: sym("ompi_mpi_double"),
    int: sym("ompi_mpi_int"),
    byte: sym("ompi_mpi_byte"),
    sum: sym("ompi_mpi_op_sum"),
    max: sym("ompi_mpi_op_max"),
    min: sym("ompi_mpi_op_min"),
    prod: sym("ompi_mpi_op_prod"),
    inPlace: 1,
  };
};

const MPICH_LIBS = ["libmpich.so.12", "libmpi.so.12"];
const OPENMPI_LIBS = ["libmpi.so.40"];

/**
 * UCX (the transport under Debian's MPICH, ch4:ucx, and under many Open MPI builds) patches libc's
 * mmap family at run time ("bistro" memory hooks) and installs its own SIGSEGV/SIGBUS handlers. In a
 * Node process they are harmful: with both on, about one 2-rank run in fifteen crashed here with a
 * SIGSEGV inside V8's compiler (none in 64 runs with both off), and a WebAssembly out-of-bounds
 * access, which V8 turns into a trap through its own SIGSEGV handler (the tfjs wasm backend relies
 * on it), killed the process instead of throwing. Neither is needed for host-memory collectives,
 * so both are turned off before the library is loaded, unless the user set them.
 */
export const UCX_DEFAULTS: Readonly<Record<string, string>> = {
  UCX_MEM_EVENTS: "no",
  UCX_MEM_MALLOC_HOOKS: "no",
  UCX_MEM_MMAP_HOOK_MODE: "none",
  UCX_ERROR_SIGNALS: "",
};

const applyUcxDefaults = (): void => {
  for (const [name, value] of Object.entries(UCX_DEFAULTS)) {
    if (process.env[name] === undefined) process.env[name] = value;
  }
};

/** Loads koffi and the first MPI library that opens; the error lists every attempt. */
const loadLibrary = async (options: MpiOptions): Promise<{ lib: KoffiLib; path: string; abi: Abi }> => {
  let koffi: Koffi;
  try {
    koffi = ((await import("koffi")) as unknown as { default: Koffi }).default;
  } catch (error) {
    throw new Error(`distributed: cannot load the koffi FFI package (${String(error)}); it is a dependency of @craft/trainer`);
  }
  configureKoffi(koffi);
  applyUcxDefaults();
  const explicit = options.library ?? process.env.CRAFT_MPI_LIB;
  const candidates = explicit !== undefined && explicit !== ""
    ? [explicit]
    : options.preferOpenMpi === true ? [...OPENMPI_LIBS, ...MPICH_LIBS] : [...MPICH_LIBS, ...OPENMPI_LIBS];
  const failures: string[] = [];
  for (const path of candidates) {
    let lib: KoffiLib;
    try {
      // RTLD_GLOBAL: Open MPI's plugins resolve libmpi's symbols through the global namespace.
      lib = koffi.load(path, { global: true });
    } catch (error) {
      failures.push(`${path}: ${String(error instanceof Error ? error.message : error)}`);
      continue;
    }
    const abi = hasSymbol(lib, "ompi_mpi_comm_world") ? openMpiAbi(lib) : MPICH_ABI;
    return { lib, path, abi };
  }
  throw new Error(
    `distributed: no MPI library could be loaded (tried ${failures.join("; ")}). ` +
      "Install MPICH (Debian/Ubuntu: apt-get install mpich libmpich-dev) or set CRAFT_MPI_LIB to the path of libmpich.so / libmpi.so",
  );
};

const check = (what: string, rc: number): void => {
  if (rc !== 0) throw new Error(`distributed: ${what} failed with MPI error code ${rc}`);
};

const callAsync = (fn: KoffiFn, args: readonly unknown[]): Promise<number> =>
  new Promise((resolve, reject) => {
    fn.async(...args, (err: unknown, rc: number) => (err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve(rc)));
  });

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

/**
 * MPICH's mpiexec (Hydra) hands each child a socket to its PMI server and names it in PMI_FD. A
 * launcher in between that closes inherited descriptors (npx and `npm exec` start the binary through
 * npm and a shell) leaves PMI_FD naming nothing, or an unrelated descriptor, and MPI_Init then dies
 * deep inside MPICH ("PMI_Get_appnum returned -1 … Unable to write to PMI_fd"). Checked here first,
 * so the user reads one line with the commands that work. Returns that line, or undefined when PMI
 * is reachable or not in use.
 */
export const unreachablePmi = (env: NodeJS.ProcessEnv = process.env): string | undefined => {
  const raw = env.PMI_FD;
  if (raw === undefined || raw === "") return undefined;
  const fd = Number(raw);
  let found: string;
  if (!Number.isInteger(fd) || fd < 0) {
    found = "is not a descriptor number";
  } else {
    try {
      if (fstatSync(fd).isSocket()) return undefined;
      found = "is open here but is not a socket";
    } catch (error) {
      found = `is not open in this process (${(error as NodeJS.ErrnoException).code ?? String(error)})`;
    }
  }
  const size = env.PMI_SIZE !== undefined && env.PMI_SIZE !== "" ? env.PMI_SIZE : "N";
  return (
    `distributed: mpiexec started this rank (PMI_RANK=${env.PMI_RANK ?? ""} PMI_SIZE=${env.PMI_SIZE ?? ""}) but its PMI connection PMI_FD=${raw} ${found}: ` +
    `a launcher in between (npx, npm exec, a shell script) closed it. Start the binary directly, \`mpiexec -n ${size} node_modules/.bin/craft …\`, ` +
    `or let MPICH connect over TCP, \`mpiexec -pmi-port -n ${size} npx craft …\``
  );
};

/** Initialises MPI (MPI_Init_thread) through koffi and returns MPI_COMM_WORLD as a Communicator. */
export const initMpi = async (options: MpiOptions): Promise<Communicator> => {
  if (!(Number.isFinite(options.timeoutS) && options.timeoutS > 0)) {
    throw new Error(`distributed: field \`timeoutS\`: expected a number of seconds > 0, got ${options.timeoutS}`);
  }
  const bucketFloats = options.bucketFloats ?? DEFAULT_BUCKET_FLOATS;
  if (!(Number.isInteger(bucketFloats) && bucketFloats > 0 && bucketFloats < 2 ** 29)) {
    throw new Error(`distributed: field \`bucketFloats\`: expected an integer in [1, 2^29), got ${bucketFloats}`);
  }
  const pmiProblem = unreachablePmi();
  if (pmiProblem !== undefined) throw new Error(pmiProblem);
  const { lib, path, abi } = await loadLibrary(options);
  let fns: MpiFunctions;
  try {
    fns = bind(lib);
  } catch (error) {
    throw new Error(`distributed: ${path} lacks an MPI function this binding needs (${String(error)})`);
  }
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
