/** Which launcher (if any) started this process, read from its environment variables. */
export interface LaunchEnvironment {
  /** `hydra` (MPICH/Intel mpiexec: PMI_RANK/PMI_SIZE), `openmpi` (OMPI_COMM_WORLD_*), `pmix` (PMIX_RANK, e.g. srun --mpi=pmix), `slurm` (an srun step of several tasks), or `none`. */
  readonly launcher: "hydra" | "openmpi" | "pmix" | "slurm" | "none";
  /** Rank and size the launcher announced, when it did. */
  readonly rank?: number;
  readonly size?: number;
  /** The variables that decided it, for messages. */
  readonly evidence: string;
}

const intOf = (env: NodeJS.ProcessEnv, name: string): number | undefined => {
  const raw = env[name];
  if (raw === undefined || raw === "") return undefined;
  const n = Number(raw);
  return Number.isInteger(n) ? n : undefined;
};

/** Detects an MPI launch from environment variables; never loads an MPI library. */
export const detectLaunchEnvironment = (env: NodeJS.ProcessEnv = process.env): LaunchEnvironment => {
  const ompiSize = intOf(env, "OMPI_COMM_WORLD_SIZE");
  if (ompiSize !== undefined) {
    return { launcher: "openmpi", rank: intOf(env, "OMPI_COMM_WORLD_RANK"), size: ompiSize, evidence: `OMPI_COMM_WORLD_SIZE=${ompiSize}` };
  }
  const pmiSize = intOf(env, "PMI_SIZE");
  const pmiRank = intOf(env, "PMI_RANK");
  if (pmiSize !== undefined || pmiRank !== undefined) {
    return { launcher: "hydra", rank: pmiRank, size: pmiSize, evidence: `PMI_RANK=${env.PMI_RANK ?? ""} PMI_SIZE=${env.PMI_SIZE ?? ""}` };
  }
  const pmixRank = intOf(env, "PMIX_RANK");
  if (pmixRank !== undefined) {
    return { launcher: "pmix", rank: pmixRank, size: intOf(env, "SLURM_STEP_NUM_TASKS"), evidence: `PMIX_RANK=${pmixRank}` };
  }
  const slurmRank = intOf(env, "SLURM_PROCID");
  const slurmSize = intOf(env, "SLURM_STEP_NUM_TASKS");
  if (slurmRank !== undefined && slurmSize !== undefined && slurmSize > 1) {
    return { launcher: "slurm", rank: slurmRank, size: slurmSize, evidence: `SLURM_PROCID=${slurmRank} SLURM_STEP_NUM_TASKS=${slurmSize}` };
  }
  return { launcher: "none", evidence: "no MPI launcher variables (PMI_RANK, PMI_SIZE, OMPI_COMM_WORLD_SIZE, PMIX_RANK, SLURM_PROCID with SLURM_STEP_NUM_TASKS>1)" };
};
