// All-reduce bandwidth from Node (koffi → libmpich, @craft/trainer's Communicator.allreduceMean)
// against MPI_Allreduce of the same bytes from C, both under `mpiexec -n 2` in the same run.
// Usage (from the repository root): node tools/bench/allreduce/run.mjs [--floats=4800000] [--iterations=20] [--rounds=7] [--ranks=2] [--bucket=8388608]
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../../..");
const trainerDir = path.join(root, "packages", "trainer");

const arg = (name, fallback) => {
  const hit = process.argv.find((a) => a.startsWith(`--${name}=`));
  return hit === undefined ? fallback : Number(hit.slice(name.length + 3));
};
const floats = arg("floats", 4_800_000); // the tiny preset's trainable parameters, rounded
const iterations = arg("iterations", 20);
const rounds = arg("rounds", 7);
const ranks = arg("ranks", 2);
const bucketFloats = arg("bucket", 1 << 23); // the layer's default (DEFAULT_BUCKET_FLOATS)

const need = (cmd) => {
  try {
    execFileSync(cmd, ["--version"], { stdio: "ignore" });
  } catch {
    throw new Error(`${cmd} not found: install MPICH (apt-get install -y mpich libmpich-dev)`);
  }
};
need("mpiexec");
need("mpicc");

const work = mkdtempSync(path.join(tmpdir(), "bench-allreduce-"));
const cBinary = path.join(work, "allreduce");
execFileSync("mpicc", ["-O2", "-o", cBinary, path.join(here, "allreduce.c")], { stdio: "inherit" });

// The distributed layer, bundled from packages/trainer/src (so the figures are those of the current
// source, whatever state dist/ is in) into packages/trainer/node_modules, where it resolves koffi
// like the package does.
const cache = path.join(trainerDir, "node_modules", ".cache");
mkdirSync(cache, { recursive: true });
const bundleDir = mkdtempSync(path.join(cache, "bench-allreduce-"));
process.on("exit", () => rmSync(bundleDir, { recursive: true, force: true }));
const bundle = path.join(bundleDir, "distributed.js");
const { buildSync } = await import("esbuild");
buildSync({ entryPoints: [path.join(trainerDir, "src/distributed/index.ts")], bundle: true, platform: "node", format: "esm", target: "node20", external: ["koffi"], outfile: bundle, logLevel: "error" });

const mpiexec = (args) => execFileSync("mpiexec", ["-n", String(ranks), ...args], { encoding: "utf8" });
const parse = (out, tag) => {
  const m = new RegExp(`^${tag} ([0-9.e-]+)$`, "m").exec(out);
  if (m === null) throw new Error(`no "${tag}" line in:\n${out}`);
  return Number(m[1]);
};

const bytes = floats * 4;
const times = { c: [], sum: [], mean: [] };
const node = (op) => parse(mpiexec([process.execPath, path.join(here, "node-worker.mjs"), bundle, String(floats), String(iterations), String(bucketFloats), op]), "NODE");
// Interleaved rounds, so that load from other processes hits all three alike.
for (let r = 0; r < rounds; r++) {
  times.c.push(parse(mpiexec([cBinary, String(floats), String(iterations)]), "C"));
  times.sum.push(node("sum"));
  times.mean.push(node("mean"));
}
rmSync(work, { recursive: true, force: true });

const sorted = (xs) => [...xs].sort((a, b) => a - b);
const median = (xs) => sorted(xs)[Math.floor(xs.length / 2)];
const best = (xs) => sorted(xs)[0];
const gbps = (s) => (bytes / s / 1e9).toFixed(2);
const ms = (s) => (s * 1e3).toFixed(2);
const rows = [
  ["C    MPI_Allreduce, one call", times.c],
  [`Node allreduceSum (koffi, ${bucketFloats}-float buckets)`, times.sum],
  ["Node allreduceMean (the reduceGradients hook: + ×1/size)", times.mean],
];
console.log(`all-reduce of ${floats} float32 (${(bytes / 2 ** 20).toFixed(1)} MiB) on ${ranks} ranks, ${iterations} calls per round, ${rounds} interleaved rounds`);
console.log(`${"".padEnd(58)} ${"best ms".padStart(9)} ${"GB/s".padStart(6)} ${"median ms".padStart(10)} ${"GB/s".padStart(6)}`);
for (const [name, xs] of rows) {
  console.log(`${name.padEnd(58)} ${ms(best(xs)).padStart(9)} ${gbps(best(xs)).padStart(6)} ${ms(median(xs)).padStart(10)} ${gbps(median(xs)).padStart(6)}`);
}
for (const [name, key] of [["allreduceSum", "sum"], ["allreduceMean", "mean"]]) {
  console.log(`ratio Node ${name}/C bandwidth: best ${(best(times.c) / best(times[key])).toFixed(3)}, median ${(median(times.c) / median(times[key])).toFixed(3)} (target ≥ 0.8)`);
}
