import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { buildSync } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { detectLaunchEnvironment, initDistributed, singleProcessCommunicator } from "../src/distributed/index.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const packageDir = path.resolve(here, "..");
const fixtures = path.join(here, "fixtures", "distributed");
const MPI_VARS = /^(PMI_|PMIX_|OMPI_|SLURM_|HYDRA_|MPIR_|I_MPI_)/;

/** The environment of a process started without any MPI launcher. */
const plainEnv = (extra: Record<string, string>): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!MPI_VARS.test(k)) env[k] = v;
  return { ...env, ...extra };
};

let bundleDir = "";
let trainerBundleError: string | undefined;

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  seconds: number;
  results: Record<string, unknown>[];
}

const run = (command: string, args: string[], env: Record<string, string> = {}, killAfterS = 90): Promise<Run> =>
  new Promise((resolve, reject) => {
    const start = Date.now();
    const child = spawn(command, args, { env: plainEnv({ CRAFT_DISTRIBUTED_BUNDLE: bundleDir, ...env }), stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += String(d)));
    child.stderr.on("data", (d) => (stderr += String(d)));
    const timer = setTimeout(() => child.kill("SIGKILL"), killAfterS * 1000);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const results = stdout
        .split("\n")
        .filter((l) => l.startsWith("RESULT "))
        .map((l) => JSON.parse(l.slice(7)) as Record<string, unknown>)
        .sort((a, b) => Number(a.rank) - Number(b.rank));
      resolve({ code, signal, stdout, stderr, seconds: (Date.now() - start) / 1000, results });
    });
  });

const mpiexec = (n: number, script: string, args: string[], env: Record<string, string> = {}): Promise<Run> =>
  run("mpiexec", ["-n", String(n), process.execPath, path.join(fixtures, script), ...args], env);

/** Bundles a TypeScript entry of this package into one ESM file (koffi stays external). */
const bundle = (entry: string, outfile: string): void => {
  buildSync({
    entryPoints: [path.join(packageDir, entry)],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    external: ["koffi"],
    outfile,
    logLevel: "error",
  });
};

beforeAll(() => {
  const probe = spawnSync("mpiexec", ["--version"], { encoding: "utf8" });
  if (probe.error !== undefined || probe.status !== 0) {
    throw new Error(
      "mpiexec was not found: the distributed tests need MPICH. Install it with `apt-get install -y mpich libmpich-dev` (Debian/Ubuntu).",
    );
  }
  // Inside the package's node_modules so that the bundle resolves koffi like the package does.
  const cache = path.join(packageDir, "node_modules", ".cache");
  mkdirSync(cache, { recursive: true });
  bundleDir = mkdtempSync(path.join(cache, "distributed-test-"));
  bundle("src/distributed/index.ts", path.join(bundleDir, "distributed.js"));
  try {
    bundle("src/index.ts", path.join(bundleDir, "trainer.js"));
  } catch (error) {
    trainerBundleError = String(error);
  }
});

afterAll(() => {
  if (bundleDir !== "") rmSync(bundleDir, { recursive: true, force: true });
});

const knownVector = (rank: number, n: number): Float32Array =>
  Float32Array.from({ length: n }, (_, i) => Math.fround(Math.sin(i) * (rank + 1) + rank * 0.5));

describe("launcher detection", () => {
  it("reads MPICH hydra, Open MPI, PMIx and multi-task Slurm variables, and nothing else", () => {
    expect(detectLaunchEnvironment({ PMI_RANK: "1", PMI_SIZE: "4" })).toMatchObject({ launcher: "hydra", rank: 1, size: 4 });
    expect(detectLaunchEnvironment({ OMPI_COMM_WORLD_RANK: "2", OMPI_COMM_WORLD_SIZE: "3" })).toMatchObject({ launcher: "openmpi", rank: 2, size: 3 });
    expect(detectLaunchEnvironment({ PMIX_RANK: "0", SLURM_STEP_NUM_TASKS: "8" })).toMatchObject({ launcher: "pmix", rank: 0, size: 8 });
    expect(detectLaunchEnvironment({ SLURM_PROCID: "3", SLURM_STEP_NUM_TASKS: "4" })).toMatchObject({ launcher: "slurm", rank: 3, size: 4 });
    // A batch script's own shell (one task) and a plain shell are not MPI launches.
    expect(detectLaunchEnvironment({ SLURM_PROCID: "0", SLURM_STEP_NUM_TASKS: "1" }).launcher).toBe("none");
    expect(detectLaunchEnvironment({ HOME: "/root" }).launcher).toBe("none");
  });

  it("returns a single-process communicator for mode off and for auto without a launcher", async () => {
    for (const mode of ["off", "auto"] as const) {
      const comm = await initDistributed({ mode, env: {} });
      expect([comm.rank, comm.size, comm.backend, comm.isMainProcess]).toEqual([0, 1, "single", true]);
      const buf = Float32Array.from([1, 2]);
      expect(await comm.allreduceMean(buf)).toBe(buf);
      expect(Array.from(buf)).toEqual([1, 2]);
    }
    expect(await singleProcessCommunicator().allreduceScalars([3, 4], "sum")).toEqual([3, 4]);
    await expect(singleProcessCommunicator().broadcast(new Float32Array(1), 1)).rejects.toThrow(/root.*\[0, 1\)/);
  });

  it("rejects an unknown mode and an MPI library that does not exist, saying how to install MPICH", async () => {
    await expect(initDistributed({ mode: "nccl" as never })).rejects.toThrow(/field `mode`: expected mpi, auto or off, got nccl/);
    await expect(initDistributed({ mode: "mpi", library: "/nonexistent/libmpi.so.12" })).rejects.toThrow(
      /\/nonexistent\/libmpi\.so\.12.*apt-get install mpich libmpich-dev/s,
    );
    await expect(initDistributed({ mode: "mpi", timeoutS: 0 })).rejects.toThrow(/field `timeoutS`: expected a number of seconds > 0, got 0/);
    await expect(initDistributed({ mode: "mpi", env: { CRAFT_COLLECTIVE_TIMEOUT_S: "soon" } })).rejects.toThrow(
      /CRAFT_COLLECTIVE_TIMEOUT_S: expected a number of seconds > 0, got "soon"/,
    );
  });
});

describe("MPI collectives under mpiexec -n 2", () => {
  it("allreduceMean averages known vectors in place over several buckets; scalars, broadcast and barrier agree", async () => {
    const r = await mpiexec(2, "collectives.mjs", ["mean"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.results).toHaveLength(2);
    const expected = knownVector(0, 1000).map((v, i) => (v + knownVector(1, 1000)[i]!) / 2);
    const expectedSums = knownVector(0, 1000).map((v, i) => v + knownVector(1, 1000)[i]!);
    for (const res of r.results) {
      expect(res).toMatchObject({ size: 2, backend: "mpich", inPlace: true });
      const values = res.values as number[];
      expect(values).toHaveLength(1000);
      for (let i = 0; i < 1000; i++) expect(Math.abs(values[i]! - expected[i]!)).toBeLessThan(1e-6);
      // With 2 ranks the sum of two float32 is exact in float32, and the mean is exactly half of it.
      expect(res.sums).toEqual(Array.from(expectedSums));
      expect(values).toEqual(Array.from(expectedSums, (v) => v / 2));
      expect(res.scalars).toEqual({ mean: [1.5, 5], sum: [3, 0.5], max: [2], min: [-1] });
      expect(res.bcast).toEqual([1.5, 7]);
    }
    expect(r.results[0]!.values).toEqual(r.results[1]!.values);
    // Rank 0 announces the rank → pid table.
    expect(r.stderr).toMatch(/distributed: 2 ranks over MPICH \(libmpich\.so\.12\): rank 0: pid \d+ on \S+, rank 1: pid \d+ on \S+/);
  });

  it("averages a 16 MiB buffer exactly", async () => {
    const r = await mpiexec(2, "collectives.mjs", ["large"]);
    expect(r.code, r.stderr).toBe(0);
    const n = 4 * 1024 * 1024;
    // mean over ranks 0, 1 of (i % 1021)·(r+1) − r = 1.5·(i % 1021) − 0.5
    let sum = 0;
    for (let i = 0; i < n; i++) sum += Math.fround(1.5 * (i % 1021) - 0.5);
    const tail = Array.from({ length: 5 }, (_, k) => Math.fround(1.5 * ((n - 5 + k) % 1021) - 0.5));
    for (const res of r.results) {
      expect(res.sum).toBe(sum);
      expect(res.tail).toEqual(tail);
      expect(res.sample).toEqual([-0.5, 1.5 * 1020 - 0.5, -0.5, 1.5 * (3_000_001 % 1021) - 0.5]);
    }
    expect(r.results).toHaveLength(2);
  });

  it("WebAssembly bounds traps still work in a rank (UCX's SIGSEGV handler is kept out)", async () => {
    const r = await mpiexec(2, "collectives.mjs", ["wasm"]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.results).toEqual([0, 1].map((rank) => ({ rank, trap: "RuntimeError: memory access out of bounds", inBounds: 0, values: [0.5, 1] })));
  });

  it("a rank killed by SIGKILL stops the job within 60 s, and the output maps the dead pid to its rank", async () => {
    const r = await mpiexec(2, "collectives.mjs", ["kill"]);
    expect(r.code).not.toBe(0);
    expect(r.seconds).toBeLessThan(60);
    const dead = /PID (\d+) RUNNING AT/.exec(r.stdout + r.stderr);
    expect(dead, r.stdout + r.stderr).not.toBeNull();
    expect(r.stderr, r.stdout + r.stderr).toContain(`rank 1: pid ${dead![1]} on`);
    expect(r.stdout + r.stderr).toMatch(/Killed \(signal 9\)/);
  });

  it("a rank that throws aborts the job with a message naming it", async () => {
    const r = await mpiexec(2, "collectives.mjs", ["throw"]);
    expect(r.code).not.toBe(0);
    expect(r.seconds).toBeLessThan(60);
    expect(r.stderr).toContain("rank 1: failed: Error: synthetic failure at step 3");
    // MPICH's own "application called MPI_Abort" line races with the teardown; ours is printed first.
  });

  it("a rank that exits non-zero without finalizing aborts the job with its exit code", async () => {
    const r = await mpiexec(2, "collectives.mjs", ["exit"]);
    expect(r.code).toBe(3);
    expect(r.seconds).toBeLessThan(60);
    expect(r.stderr).toContain("rank 1: exiting with code 3; aborting the MPI job");
  });

  it("a rank stuck outside the collective trips the watchdog of the waiting rank", async () => {
    const r = await mpiexec(2, "collectives.mjs", ["hang"], { CRAFT_COLLECTIVE_TIMEOUT_S: "2" });
    expect(r.code).not.toBe(0);
    expect(r.seconds).toBeLessThan(30);
    expect(r.stderr).toContain("rank 0: all-reduce did not complete in 2 s (a peer rank may have died)");
  });
});

describe("single process", () => {
  it("auto mode without launcher variables trains alone and never loads koffi or libmpi", async () => {
    const r = await run(process.execPath, [path.join(fixtures, "collectives.mjs"), "single"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.results).toEqual([
      { rank: 0, size: 1, backend: "single", isMainProcess: true, values: [1.5, -2, 3], scalars: [4, 5], mpiLoaded: false, koffiLoaded: false },
    ]);
  });

  it("mode mpi without a launcher runs as an MPI singleton (libmpich loaded, size 1)", async () => {
    const r = await run(process.execPath, [path.join(fixtures, "collectives.mjs"), "single"], { CRAFT_MODE: "mpi" });
    expect(r.code, r.stderr).toBe(0);
    expect(r.results).toMatchObject([{ rank: 0, size: 1, backend: "mpich", values: [1.5, -2, 3], scalars: [4, 5], mpiLoaded: true, koffiLoaded: true }]);
  });
});

describe("trainer on 2 ranks equals one process on the concatenated batch", () => {
  const closeTo = (a: number[], b: number[], tol: number): void => {
    expect(a).toHaveLength(b.length);
    for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - b[i]!), `index ${i}: ${a[i]} vs ${b[i]}`).toBeLessThan(tol);
  };

  for (const kind of ["baseline", "craft"] as const) {
    it(`${kind}: 5 steps, identical weights on both ranks, equal to a single process to 1e-5`, async () => {
      expect(trainerBundleError, "bundling packages/trainer/src/index.ts").toBeUndefined();
      const out = mkdtempSync(path.join(bundleDir, `${kind}-`));
      const [dist, single] = await Promise.all([
        mpiexec(2, "train-equivalence.mjs", [kind, out]),
        run(process.execPath, [path.join(fixtures, "train-equivalence.mjs"), kind, out]),
      ]);
      expect(dist.code, dist.stderr).toBe(0);
      expect(single.code, single.stderr).toBe(0);
      const [r0, r1] = dist.results as Array<{ step: number; parameters: Record<string, number[]>; lambda: number | null; metrics: Array<Record<string, number | null>> }>;
      const [s] = single.results as Array<{ size: number; parameters: Record<string, number[]>; lambda: number | null; metrics: Array<Record<string, number | null>> }>;
      expect(s!.size).toBe(1);
      expect(r0!.step).toBe(5);
      // Every rank takes the same optimizer step: bit-identical weights.
      expect(r1!.parameters).toEqual(r0!.parameters);
      for (const name of Object.keys(s!.parameters)) closeTo(r0!.parameters[name]!, s!.parameters[name]!, 1e-5);
      // The weights moved (a reduce that did nothing would still agree across ranks, not with the single run).
      expect(r0!.metrics).toHaveLength(5);
      closeTo(r0!.metrics.map((m) => m.loss!), s!.metrics.map((m) => m.loss!), 1e-5);
      if (kind === "craft") {
        expect(r0!.lambda).not.toBeNull();
        expect(r1!.lambda).toBe(r0!.lambda);
        expect(Math.abs(r0!.lambda! - s!.lambda!)).toBeLessThan(1e-5);
        expect(r0!.lambda).not.toBe(0.5); // λ was updated
        expect(r1!.metrics.map((m) => [m.lambda, m.epsilon])).toEqual(r0!.metrics.map((m) => [m.lambda, m.epsilon]));
        closeTo(r0!.metrics.map((m) => m.lambda!), s!.metrics.map((m) => m.lambda!), 1e-5);
        closeTo(r0!.metrics.map((m) => m.epsilon!), s!.metrics.map((m) => m.epsilon!), 1e-7);
      }
    });
  }
});
