/** How scalars are combined across ranks by {@link Communicator.allreduceScalars}. */
export type ScalarReduction = "mean" | "sum" | "max" | "min";

/** A typed array that {@link Communicator.broadcast} can send (it moves raw bytes). */
export type BroadcastBuffer = Float32Array | Float64Array | Int32Array | Uint32Array | Uint8Array;

/** Where a rank runs: launchers report a dead process by pid and host; this maps it to its rank. */
export interface RankProcess {
  readonly rank: number;
  readonly pid: number;
  readonly host: string;
}

/**
 * The data-parallel group this process belongs to (MPI_COMM_WORLD, or a group of one).
 * Every collective must be called by every rank, in the same order.
 */
export interface Communicator {
  /** This process's rank in [0, size). */
  readonly rank: number;
  /** Number of processes (1 without MPI). */
  readonly size: number;
  /** `single` (no MPI loaded), `mpich` (MPICH ABI: MPICH, Intel MPI, Cray MPICH) or `openmpi`. */
  readonly backend: "single" | "mpich" | "openmpi";
  /** True on rank 0: the only rank that logs, shows progress and writes checkpoints. */
  readonly isMainProcess: boolean;
  /** Every rank's pid and host, indexed by rank. */
  readonly processes: readonly RankProcess[];
  /**
   * Averages `buf` over all ranks in place (MPI_Allreduce, MPI_SUM on MPI_FLOAT in buckets, then
   * ×1/size) and returns it. Identity in a single process.
   */
  allreduceMean(buf: Float32Array): Promise<Float32Array>;
  /** Sums `buf` over all ranks in place (the same buckets, without the ×1/size) and returns it. */
  allreduceSum(buf: Float32Array): Promise<Float32Array>;
  /** Combines a few numbers (losses, counters) across ranks in float64. */
  allreduceScalars(values: readonly number[], reduction?: ScalarReduction): Promise<number[]>;
  /** Overwrites `buf` on every rank with root's contents (in place) and returns it. */
  broadcast<T extends BroadcastBuffer>(buf: T, root?: number): Promise<T>;
  barrier(): Promise<void>;
  /**
   * Prints `rank R: message` to stderr and stops the whole job (MPI_Abort on MPI_COMM_WORLD).
   * In a single process it exits the process with `code`.
   */
  abort(code: number, message: string): never;
  /** MPI_Finalize (waits for every rank). Idempotent; a no-op in a single process. */
  finalize(): Promise<void>;
}
