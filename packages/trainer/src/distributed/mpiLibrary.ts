import { fstatSync } from "node:fs";

/**
 * The MPI library side of the binding: which shared library to open (MPICH or Open MPI), the ABI
 * tables of each family, the koffi signatures of the functions the communicator calls, and the
 * checks that must pass before MPI_Init is entered (UCX hooks off, PMI reachable). The communicator
 * over MPI_COMM_WORLD lives in mpi.ts.
 */

export type Handle = number | bigint;

/** The ABI differences between MPI families: handles are ints in MPICH, pointers to globals in Open MPI. */
export interface Abi {
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

export const MPI_THREAD_MULTIPLE = 3;
export const MPI_THREAD_SERIALIZED = 2;

/* eslint-disable @typescript-eslint/no-explicit-any */
export type KoffiFn = ((...args: any[]) => any) & { async: (...args: any[]) => void };
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

/** Which MPI library {@link loadMpi} opens. */
export interface LibraryChoice {
  /** Library to load instead of probing (also `CRAFT_MPI_LIB`). */
  readonly library?: string;
  /** Launcher detected from the environment, to pick the library to probe first. */
  readonly preferOpenMpi?: boolean;
}


export interface MpiFunctions {
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
const loadLibrary = async (options: LibraryChoice): Promise<{ lib: KoffiLib; path: string; abi: Abi }> => {
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


export const check = (what: string, rc: number): void => {
  if (rc !== 0) throw new Error(`distributed: ${what} failed with MPI error code ${rc}`);
};

export const callAsync = (fn: KoffiFn, args: readonly unknown[]): Promise<number> =>
  new Promise((resolve, reject) => {
    fn.async(...args, (err: unknown, rc: number) => (err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve(rc)));
  });

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

/** An opened MPI library: its path, its family's ABI and its bound functions (MPI not yet initialised). */
export interface MpiLibrary {
  readonly path: string;
  readonly abi: Abi;
  readonly fns: MpiFunctions;
}

/**
 * Checks that MPI_Init can succeed (PMI reachable), then opens and binds the first MPI library that
 * loads. Every failure is one line naming what to install or how to launch.
 */
export const loadMpi = async (choice: LibraryChoice): Promise<MpiLibrary> => {
  const pmiProblem = unreachablePmi();
  if (pmiProblem !== undefined) throw new Error(pmiProblem);
  const { lib, path, abi } = await loadLibrary(choice);
  try {
    return { path, abi, fns: bind(lib) };
  } catch (error) {
    throw new Error(`distributed: ${path} lacks an MPI function this binding needs (${String(error)})`);
  }
};
