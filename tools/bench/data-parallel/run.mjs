// Data-parallel scaling of `craft train` (issue 9): samples/s of 2 MPI ranks against 1 process on
// the `tiny` preset, wasm backend, one thread each, interleaved in the same run; then the
// all-reduce bandwidth ratio (Node vs C MPI_Allreduce) from tools/bench/allreduce in the same run.
// A control, the same number of independent single processes at once, shows what the machine's
// free cores allow (on a shared machine the shortfall against 1.7× is mostly contention).
// Print-only, not a test. Needs MPICH (apt-get install -y mpich libmpich-dev) and built dists
// (packages/*/dist: the CLI binary runs them).
//
// Usage (from the repository root):
//   node tools/bench/data-parallel/run.mjs [--batch=8] [--steps=8] [--warmup=2] [--rounds=2]
//        [--ranks=2] [--allreduce_rounds=3] [--native_blas=1|0] [--skip_allreduce]
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../../..");
const bin = path.join(root, "packages", "cli", "bin", "craft.js");

const arg = (name, fallback) => {
  const hit = process.argv.find((a) => a.startsWith(`--${name}=`));
  return hit === undefined ? fallback : Number(hit.slice(name.length + 3));
};
const batch = arg("batch", 8); // per rank, as --batch_size
const steps = arg("steps", 8);
const warmup = arg("warmup", 2); // first steps compile kernels and warm caches: not timed
const rounds = arg("rounds", 2);
const ranks = arg("ranks", 2);
const allreduceRounds = arg("allreduce_rounds", 3);
const nativeBlas = arg("native_blas", 1);
const skipAllreduce = process.argv.includes("--skip_allreduce");
if (steps <= warmup) throw new Error(`--steps=${steps} must exceed --warmup=${warmup}`);

try {
  execFileSync("mpiexec", ["--version"], { stdio: "ignore" });
} catch {
  throw new Error("mpiexec not found: install MPICH (apt-get install -y mpich libmpich-dev)");
}
for (const pkg of ["cli", "trainer", "datasets", "policy-pi0fast", "craft-core"]) {
  if (!existsSync(path.join(root, "packages", pkg, "dist", "index.js"))) throw new Error(`packages/${pkg}/dist is missing: run npx tsup in packages/${pkg}`);
}

const work = mkdtempSync(path.join(tmpdir(), "bench-data-parallel-"));
process.on("exit", () => rmSync(work, { recursive: true, force: true }));
const { makeSyntheticDataset } = await import(path.join(root, "packages", "datasets", "dist", "index.js"));
const data = path.join(work, "reach");
// Enough frames that no epoch ends inside a timed window: 12 episodes (~580 frames).
await makeSyntheticDataset(data, { task: "reach", episodes: 12, seed: 0, imageSize: 64 });

/** One thread per process: OpenBLAS (the wasm backend's matmul path) and no launcher variables leaking in. */
const env = () => {
  const e = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(PMI_|PMIX_|OMPI_|SLURM_|HYDRA_|MPIR_|I_MPI_)/.test(k)) e[k] = v;
  return { ...e, OPENBLAS_NUM_THREADS: "1", OMP_NUM_THREADS: "1", PI0FAST_NATIVE_BLAS: nativeBlas ? "1" : "0" };
};

const exec = (command, args) =>
  new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(command, args, { env: env(), stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += String(d)));
    child.on("error", reject);
    child.on("close", (code) => {
      if (code !== 0) reject(new Error(`${command} ${args.join(" ")} exited ${code}:\n${stderr}`));
      else resolve({ seconds: (performance.now() - started) / 1000, stderr });
    });
  });

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

let runId = 0;
const trainArgs = (out) => [
  bin,
  "train",
  "--policy.type=pi0_fast",
  "--policy.preset=tiny",
  "--policy.device=wasm",
  `--dataset.root=${data}`,
  `--batch_size=${batch}`,
  `--steps=${steps}`,
  "--log_freq=1",
  `--save_freq=${steps * 10}`,
  `--output_dir=${out}`,
];
const timedStepS = (out) => {
  const rows = readFileSync(path.join(out, "metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
  return median(rows.filter((r) => r.step > warmup).map((r) => r.step_time_s));
};

/** One training run on `world` processes; samples/s of the global batch over the timed steps. */
async function trainRun(world) {
  const out = path.join(work, `run-${runId++}`);
  const args = trainArgs(out);
  const { seconds, stderr } =
    world === 1
      ? await exec(process.execPath, [...args, "--distributed=off"])
      : await exec("mpiexec", ["-n", String(world), process.execPath, ...args, "--distributed=mpi"]);
  const backend = /\[craft\] backend: (.*)/.exec(stderr)?.[1] ?? "?";
  const stepS = timedStepS(out);
  rmSync(out, { recursive: true, force: true });
  return { world, stepS, samplesPerS: (batch * world) / stepS, wallS: seconds, backend };
}

/**
 * Control: `count` independent single-process runs at the same time (no MPI, no all-reduce). Their
 * summed samples/s is what this machine's free cores allow; on an idle machine it is `count` × one
 * process, on a shared one it shows how much of a shortfall is contention rather than data parallelism.
 */
async function independentRuns(count) {
  const outs = Array.from({ length: count }, () => path.join(work, `run-${runId++}`));
  const started = performance.now();
  await Promise.all(outs.map((out) => exec(process.execPath, [...trainArgs(out), "--distributed=off"])));
  const samplesPerS = outs.map((out) => batch / timedStepS(out)).reduce((a, b) => a + b, 0);
  for (const out of outs) rmSync(out, { recursive: true, force: true });
  return { samplesPerS, wallS: (performance.now() - started) / 1000 };
}

console.log(
  `data-parallel craft train: tiny preset, wasm backend, 1 thread per process (OPENBLAS_NUM_THREADS=1, PI0FAST_NATIVE_BLAS=${nativeBlas ? 1 : 0}), ` +
    `batch ${batch} per process, ${steps} steps (first ${warmup} untimed), ${rounds} interleaved rounds; ${cpus().length} CPUs, load average ${loadavg()
      .map((x) => x.toFixed(2))
      .join(" ")}`,
);
const results = { 1: [], [ranks]: [] };
const control = [];
for (let r = 0; r < rounds; r++) {
  for (const world of [1, ranks]) {
    const res = await trainRun(world);
    results[world].push(res);
    console.log(
      `  round ${r + 1}: ${world} process${world > 1 ? "es" : ""}: median step ${(res.stepS * 1e3).toFixed(0)} ms, ${res.samplesPerS.toFixed(2)} samples/s (run wall ${res.wallS.toFixed(1)} s)`,
    );
    if (r === 0 && world === 1) console.log(`  backend: ${res.backend}`);
  }
  const c = await independentRuns(ranks);
  control.push(c.samplesPerS);
  console.log(`  round ${r + 1}: control, ${ranks} independent processes at once (no MPI): ${c.samplesPerS.toFixed(2)} samples/s together (wall ${c.wallS.toFixed(1)} s)`);
}
const best = (world) => Math.max(...results[world].map((x) => x.samplesPerS));
const med = (world) => median(results[world].map((x) => x.samplesPerS));
console.log(`1 process:  best ${best(1).toFixed(2)} samples/s, median ${med(1).toFixed(2)}`);
console.log(`${ranks} ranks:    best ${best(ranks).toFixed(2)} samples/s, median ${med(ranks).toFixed(2)} (global batch ${batch * ranks})`);
console.log(`ratio ${ranks} ranks / 1 process samples/s: best ${(best(ranks) / best(1)).toFixed(3)}, median ${(med(ranks) / med(1)).toFixed(3)} (target ≥ 1.7)`);
console.log(
  `control: ${ranks} independent processes ${median(control).toFixed(2)} samples/s (median), ${(median(control) / med(1)).toFixed(3)}× one process: the most this machine's free cores allow; ` +
    `${ranks} ranks reach ${(med(ranks) / median(control)).toFixed(3)} of it`,
);

if (!skipAllreduce) {
  console.log("");
  console.log(`all-reduce (tools/bench/allreduce, ${allreduceRounds} rounds):`);
  const out = execFileSync(process.execPath, [path.join(root, "tools", "bench", "allreduce", "run.mjs"), `--rounds=${allreduceRounds}`, `--ranks=${ranks}`], {
    encoding: "utf8",
    env: env(),
  });
  process.stdout.write(out.replace(/^/gm, "  "));
}
console.log(`load average at the end: ${loadavg().map((x) => x.toFixed(2)).join(" ")}`);
