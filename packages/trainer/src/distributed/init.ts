import type { Communicator } from "./communicator.js";
import { detectLaunchEnvironment } from "./detect.js";
import { initMpi } from "./mpi.js";
import { singleProcessCommunicator } from "./single.js";

/** `mpi`: always MPI; `auto`: MPI when a launcher's variables are set; `off`: one process. */
export type DistributedMode = "mpi" | "auto" | "off";

export interface DistributedOptions {
  readonly mode: DistributedMode;
  /**
   * Collective watchdog in seconds: a rank waiting longer aborts the job, naming itself. Default:
   * the CRAFT_COLLECTIVE_TIMEOUT_S environment variable, else 300.
   */
  readonly timeoutS?: number;
  /** Floats per MPI_Allreduce bucket (default 8 Mi floats = 32 MiB). */
  readonly bucketFloats?: number;
  /** MPI library to load (default: libmpich.so.12, then libmpi.so.12, then libmpi.so.40; or CRAFT_MPI_LIB). */
  readonly library?: string;
  /** Rank 0 prints the rank → pid/host table on stderr at start-up (default true). */
  readonly announce?: boolean;
  /** Environment to detect a launcher from (default process.env). */
  readonly env?: NodeJS.ProcessEnv;
}

export const DEFAULT_COLLECTIVE_TIMEOUT_S = 300;

const timeoutFromEnv = (env: NodeJS.ProcessEnv): number => {
  const raw = env.CRAFT_COLLECTIVE_TIMEOUT_S;
  if (raw === undefined || raw === "") return DEFAULT_COLLECTIVE_TIMEOUT_S;
  const value = Number(raw);
  if (!(Number.isFinite(value) && value > 0)) {
    throw new Error(`distributed: environment variable CRAFT_COLLECTIVE_TIMEOUT_S: expected a number of seconds > 0, got ${JSON.stringify(raw)}`);
  }
  return value;
};

/**
 * Joins the data-parallel job this process was launched into. Without an MPI launcher (`auto`) or
 * with `off`, returns a single-process communicator and loads no MPI library.
 */
export const initDistributed = async (options: DistributedOptions): Promise<Communicator> => {
  const mode = options.mode;
  if (mode !== "mpi" && mode !== "auto" && mode !== "off") {
    throw new Error(`distributed: field \`mode\`: expected mpi, auto or off, got ${String(mode)}`);
  }
  if (mode === "off") return singleProcessCommunicator();
  const launch = detectLaunchEnvironment(options.env ?? process.env);
  if (mode === "auto" && launch.launcher === "none") return singleProcessCommunicator();
  const comm = await initMpi({
    timeoutS: options.timeoutS ?? timeoutFromEnv(options.env ?? process.env),
    ...(options.bucketFloats !== undefined ? { bucketFloats: options.bucketFloats } : {}),
    ...(options.library !== undefined ? { library: options.library } : {}),
    preferOpenMpi: launch.launcher === "openmpi",
    ...(options.announce !== undefined ? { announce: options.announce } : {}),
  });
  if (launch.size !== undefined && launch.size !== comm.size) {
    comm.abort(1, `distributed: the launcher announced ${launch.size} processes (${launch.evidence}) but MPI_COMM_WORLD has ${comm.size}; the MPI library does not match the launcher (e.g. Open MPI's mpirun with MPICH's library)`);
  }
  return comm;
};

/**
 * Runs `body` on this rank; if it throws, prints `rank R: <error>` and aborts the whole job, so no
 * peer hangs in a collective. Finalizes MPI when `body` succeeds.
 */
export const runDistributed = async <T>(comm: Communicator, body: (comm: Communicator) => Promise<T>): Promise<T> => {
  let result: T;
  try {
    result = await body(comm);
  } catch (error) {
    const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
    return comm.abort(1, `failed: ${text}`);
  }
  await comm.finalize();
  return result;
};
