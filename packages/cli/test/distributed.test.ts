import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { readSafetensors } from "@craft/policy-pi0fast";
import { beforeAll, describe, expect, it } from "vitest";
import { MICRO_POLICY, syntheticPair, tempDir } from "./helpers.js";

/**
 * Data-parallel training through the real CLI binary under MPICH's `mpiexec` (issue 9): two
 * ranks on batch B must train exactly like one process on batch 2B, and a dead rank must stop the
 * job. MPICH is required: without `mpiexec` these tests fail (CI installs `mpich libmpich-dev`).
 */

const here = fileURLToPath(new URL(".", import.meta.url));
const BIN = resolve(here, "..", "bin", "craft.js");
const MPIEXEC = process.env.CRAFT_TEST_MPIEXEC ?? "mpiexec";
const MPI_VARS = /^(PMI_|PMIX_|OMPI_|SLURM_|HYDRA_|MPIR_|I_MPI_)/;

interface Run {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly seconds: number;
}

/** A child's environment: no launcher variables inherited, one BLAS thread per process (two ranks on two cores, and the same summation order in every run). */
const childEnv = (extra: Record<string, string>): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!MPI_VARS.test(k)) env[k] = v;
  return { ...env, OPENBLAS_NUM_THREADS: "1", ...extra };
};

function start(command: string, args: string[], env: Record<string, string>, killAfterS: number, onStderr?: (text: string) => void) {
  const began = Date.now();
  const child = spawn(command, args, { env: childEnv(env), stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += String(d)));
  child.stderr.on("data", (d) => {
    stderr += String(d);
    onStderr?.(stderr);
  });
  const done = new Promise<Run>((resolvePromise, reject) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), killAfterS * 1000);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code, signal, stdout, stderr, seconds: (Date.now() - began) / 1000 });
    });
  });
  return { child, done };
}

const craftSingle = (args: string[], env: Record<string, string> = {}) => start(process.execPath, [BIN, ...args, "--distributed=off"], env, 120).done;
const craftMpi = (n: number, args: string[], env: Record<string, string> = {}, killAfterS = 120, onStderr?: (text: string) => void) =>
  start(MPIEXEC, ["-n", String(n), process.execPath, BIN, ...args, "--distributed=mpi"], env, killAfterS, onStderr);

interface Dump {
  readonly tensors: Record<string, Float32Array>;
  readonly metadata: Record<string, string>;
}

const readDump = async (dir: string, rank: number): Promise<Dump> => {
  const file = await readSafetensors(join(dir, `rank-${rank}.safetensors`));
  const tensors: Record<string, Float32Array> = {};
  for (const [name, t] of Object.entries(file.tensors)) tensors[name] = t.data as Float32Array;
  return { tensors, metadata: (file.metadata ?? {}) as Record<string, string> };
};

interface Difference {
  readonly max: number;
  readonly where: string;
  readonly count: number;
  readonly above: number;
  readonly total: number;
}

/** Element-wise |a − b| over every parameter: the largest, and how many exceed `tol`. */
function difference(a: Dump, b: Dump, tol: number): Difference {
  expect(Object.keys(b.tensors).sort()).toEqual(Object.keys(a.tensors).sort());
  let max = 0;
  let where = "";
  let above = 0;
  let total = 0;
  for (const [name, x] of Object.entries(a.tensors)) {
    const y = b.tensors[name];
    expect(y.length, name).toBe(x.length);
    for (let i = 0; i < x.length; i++) {
      const d = Math.abs(x[i] - y[i]);
      if (!(d <= tol)) above++;
      if (!(d <= max)) {
        max = d;
        where = `${name}[${i}]`;
      }
    }
    total += x.length;
  }
  return { max, where, count: Object.keys(a.tensors).length, above, total };
}

/**
 * "Equal to 1e-5" for two float32 Adam trajectories that sum the same global batch in a different
 * order (one batch of 2B vs two batches of B averaged): every parameter within 1e-5 except at most
 * one in 100 000, and none beyond 1e-4 (the micro policy at lr 1e-3 moves every weight by ~5e-3 in
 * 5 steps, far beyond the tolerance). The exception exists because Adam divides by √v + ε: where
 * a gradient entry is ~0 by cancellation (an embedding row barely used), its float32 rounding noise
 * is normalised to a sizeable step (measured: 1 of 4.8 M entries at 3e-5 after 5 steps, the rest
 * < 4e-6). A wrong reduction (e.g. averaging token means without weighting by token counts) is off
 * by ~1e-3 in thousands of entries.
 */
function expectTrainsLikeOneProcess(distributed: Dump, single: Dump): void {
  const d = difference(distributed, single, 1e-5);
  expect(d.max, `largest difference at ${d.where}`).toBeLessThanOrEqual(1e-4);
  expect(d.above, `${d.above} of ${d.total} parameters differ by more than 1e-5 (largest ${d.max} at ${d.where})`).toBeLessThanOrEqual(Math.floor(d.total / 100_000));
}

const metrics = (dir: string) =>
  readFileSync(join(dir, "metrics.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Record<string, number | null>);

let data: { reach: string; push: string };

let mpiexecChecked = false;
/** Fails the calling test (no skip) when MPICH's launcher is missing. */
function requireMpiexec(): void {
  if (mpiexecChecked) return;
  const probe = spawnSync(MPIEXEC, ["--version"], { encoding: "utf8" });
  if (probe.error !== undefined || probe.status !== 0) {
    throw new Error(
      `${MPIEXEC} was not found or failed (${probe.error?.message ?? `exit ${probe.status}`}): the distributed CLI tests need MPICH. ` +
        "Install it with `apt-get install -y mpich libmpich-dev` (Debian/Ubuntu).",
    );
  }
  mpiexecChecked = true;
}

beforeAll(async () => {
  if (!existsSync(join(here, "..", "dist", "index.js"))) throw new Error("packages/cli/dist is missing: run `npx tsup` in packages/cli first (the test runs bin/craft.js)");
  data = await syntheticPair();
}, 120_000);

describe("craft train --distributed=mpi (2 ranks) against one process on the concatenated batch", () => {
  it("train: after 5 steps both ranks hold identical weights, equal to one process on batch 8", async () => {
    requireMpiexec();
    const common = [...MICRO_POLICY, `--dataset.root=${data.reach}`, "--steps=5", "--log_freq=1", "--seed=3"];
    const one = tempDir("dp-single");
    const two = tempDir("dp-mpi");
    const single = await craftSingle(["train", ...common, "--batch_size=8", `--output_dir=${join(one, "run")}`], { CRAFT_DEBUG_DUMP_WEIGHTS: join(one, "dump") });
    expect(single.code, single.stderr).toBe(0);
    const mpi = await craftMpi(2, ["train", ...common, "--batch_size=4", `--output_dir=${join(two, "run")}`], { CRAFT_DEBUG_DUMP_WEIGHTS: join(two, "dump") }).done;
    expect(mpi.code, mpi.stderr).toBe(0);

    // One rank table, one log (rank 0's), one checkpoint directory written by rank 0.
    expect(mpi.stderr).toMatch(/distributed: 2 ranks over MPICH \(.*\): rank 0: pid \d+ on \S+, rank 1: pid \d+ on \S+/);
    expect(mpi.stderr.match(/\[craft\] train: /g)).toHaveLength(1);
    expect(mpi.stderr).toContain("5 steps of batch 4 × 2 ranks");
    expect(JSON.parse(readFileSync(join(two, "run", "train_config.json"), "utf8")).world_size).toBe(2);
    expect(existsSync(join(two, "run", "checkpoints", "000005", "pretrained_model", "model.safetensors"))).toBe(true);

    const [r0, r1, s] = await Promise.all([readDump(join(two, "dump"), 0), readDump(join(two, "dump"), 1), readDump(join(one, "dump"), 0)]);
    expect(r0.metadata.world_size).toBe("2");
    expect(r1.metadata.rank).toBe("1");
    expect(s.metadata.world_size).toBe("1");
    const ranks = difference(r0, r1, 0);
    expect(ranks.max, `rank 0 and rank 1 differ at ${ranks.where}`).toBe(0); // bit-identical
    expectTrainsLikeOneProcess(r0, s);

    // The logged loss is the global batch's: the same as the single process's at every step.
    const lossD = metrics(join(two, "run")).map((m) => m.loss as number);
    const lossS = metrics(join(one, "run")).map((m) => m.loss as number);
    expect(lossD).toHaveLength(5);
    lossD.forEach((l, i) => expect(Math.abs(l - lossS[i]), `step ${i + 1}`).toBeLessThan(1e-5 * Math.abs(lossS[i])));
  });

  it("train-craft: identical weights, λ and ε on both ranks, equal to one process on batch 8", async () => {
    requireMpiexec();
    const common = [
      ...MICRO_POLICY,
      `--dataset.root=${data.push}`,
      `--craft.anchor_dataset_path=${data.reach}`,
      "--craft.initial_lambda=1.0",
      "--craft.epsilon_start=1.0",
      "--craft.epsilon_end=0.1",
      "--steps=5",
      "--log_freq=1",
      "--seed=5",
    ];
    const one = tempDir("dpc-single");
    const two = tempDir("dpc-mpi");
    const single = await craftSingle(["train-craft", ...common, "--batch_size=8", `--output_dir=${join(one, "run")}`], {
      CRAFT_DEBUG_DUMP_WEIGHTS: join(one, "dump"),
    });
    expect(single.code, single.stderr).toBe(0);
    const mpi = await craftMpi(2, ["train-craft", ...common, "--batch_size=4", `--output_dir=${join(two, "run")}`], { CRAFT_DEBUG_DUMP_WEIGHTS: join(two, "dump") }).done;
    expect(mpi.code, mpi.stderr).toBe(0);

    const [r0, r1, s] = await Promise.all([readDump(join(two, "dump"), 0), readDump(join(two, "dump"), 1), readDump(join(one, "dump"), 0)]);
    expect(difference(r0, r1, 0).max).toBe(0);
    expectTrainsLikeOneProcess(r0, s);

    // λ (the full dual state) and ε: identical across ranks, equal to the single process's.
    expect(r1.metadata.craft_state).toBe(r0.metadata.craft_state);
    expect(r1.metadata.metrics).toBe(r0.metadata.metrics);
    const state = (d: Dump) => JSON.parse(d.metadata.craft_state) as { lambda: { lambda: number; ema: number | null } };
    const last = (d: Dump) => JSON.parse(d.metadata.metrics) as { lambda: number; epsilon: number };
    expect(state(r0).lambda.lambda).not.toBe(1); // λ moved: the update ran on the averaged retention loss
    expect(state(r0).lambda.lambda).toBeCloseTo(state(s).lambda.lambda, 5);
    expect(last(r0).epsilon).toBe(last(s).epsilon);
    expect(last(r0).lambda).toBeCloseTo(last(s).lambda, 5);
    const md = metrics(join(two, "run"));
    const ms = metrics(join(one, "run"));
    md.forEach((m, i) => {
      expect(m.retention_loss as number).toBeCloseTo(ms[i].retention_loss as number, 4);
      expect(m.lambda as number).toBeCloseTo(ms[i].lambda as number, 5);
      expect(m.epsilon).toBe(ms[i].epsilon);
    });
  });

  it("a rank killed mid-run stops the job within 60 s, non-zero, naming the dead rank's pid from the rank table", async () => {
    requireMpiexec();
    const out = tempDir("dp-kill");
    let pids: { rank0: number; rank1: number } | undefined;
    let killedAt = 0;
    let killed: (() => void) | undefined;
    const killedPromise = new Promise<void>((r) => (killed = r));
    const job = craftMpi(
      2,
      ["train", ...MICRO_POLICY, `--dataset.root=${data.reach}`, "--batch_size=4", "--steps=100", "--log_freq=1", "--save_freq=1000000", `--output_dir=${join(out, "run")}`],
      {},
      120,
      (stderr) => {
        const table = /rank 0: pid (\d+) on \S+, rank 1: pid (\d+) on/.exec(stderr);
        if (table !== null && pids === undefined) pids = { rank0: Number(table[1]), rank1: Number(table[2]) };
        // Kill once training is under way (two steps done: the ranks are between all-reduces).
        if (pids !== undefined && killedAt === 0 && /step 2\/100 /.test(stderr)) {
          killedAt = Date.now();
          process.kill(pids.rank1, "SIGKILL");
          killed?.();
        }
      },
    );
    const r = await job.done;
    expect(killedAt, `the job ended before rank 1 could be killed:\n${r.stderr}`).toBeGreaterThan(0);
    await killedPromise;
    const seconds = (Date.now() - killedAt) / 1000;
    expect(seconds, r.stderr).toBeLessThan(60);
    expect(r.code === 0 && r.signal === null, `exit code ${r.code}, signal ${r.signal}`).toBe(false);
    // MPICH names the dead process; the rank table rank 0 printed at start-up maps it to rank 1.
    expect(r.stdout + r.stderr).toMatch(new RegExp(`BAD TERMINATION OF ONE OF YOUR APPLICATION PROCESSES[\\s\\S]*PID ${pids!.rank1} RUNNING AT`));
    expect(r.stderr).toContain(`rank 1: pid ${pids!.rank1} on`);
    // Nothing is left behind: rank 0 is gone too.
    expect(() => process.kill(pids!.rank0, 0)).toThrow();
  });
});

describe("craft train --distributed=mpi with --eval_freq and --env.type", () => {
  it("only rank 0 evaluates, rank 1 waits for it without deadlock, and both train exactly as without evaluation", async () => {
    requireMpiexec();
    const common = [...MICRO_POLICY, `--dataset.root=${data.reach}`, "--steps=2", "--log_freq=1", "--seed=3", "--batch_size=4"];
    const plain = tempDir("dp-noeval");
    const evaluated = tempDir("dp-eval");
    const without = await craftMpi(2, ["train", ...common, `--output_dir=${join(plain, "run")}`], { CRAFT_DEBUG_DUMP_WEIGHTS: join(plain, "dump") }).done;
    expect(without.code, without.stderr).toBe(0);
    const withEval = await craftMpi(
      2,
      ["train", ...common, "--env.type=reach", "--eval_freq=1", "--eval.n_episodes=1", `--output_dir=${join(evaluated, "run")}`],
      { CRAFT_DEBUG_DUMP_WEIGHTS: join(evaluated, "dump") },
      300,
    ).done;
    expect(withEval.code, withEval.stderr).toBe(0);
    // One evaluation per step, written once (by rank 0): one eval_info.json each, one eval line each.
    expect(withEval.stderr.match(/step 1\/2 {2}eval\/success/g)).toHaveLength(1);
    expect(metrics(join(evaluated, "run")).filter((m) => "eval/success" in m).map((m) => m.step)).toEqual([1, 2]);
    expect(existsSync(join(evaluated, "run", "eval", "eval_step_000002", "eval_info.json"))).toBe(true);
    const [e0, e1, p0] = await Promise.all([readDump(join(evaluated, "dump"), 0), readDump(join(evaluated, "dump"), 1), readDump(join(plain, "dump"), 0)]);
    expect(difference(e0, e1, 0).max).toBe(0);
    expect(difference(e0, p0, 0).max).toBe(0);
  });
});
