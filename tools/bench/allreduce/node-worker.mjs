// One rank of the Node side of run.mjs:
// `mpiexec -n 2 node node-worker.mjs <bundle.js> <floats> <iterations> <bucketFloats> <sum|mean>`.
// Rank 0 prints "NODE <seconds per call>" (allreduceSum: the same operation as the C program;
// allreduceMean: the trainer's reduceGradients hook, which also scales by 1/size).
import { pathToFileURL } from "node:url";

const [bundle, floats, iterations, bucketFloats, op] = process.argv.slice(2);
const { initDistributed } = await import(pathToFileURL(bundle).href);
const comm = await initDistributed({ mode: "mpi", timeoutS: 120, announce: false, bucketFloats: Number(bucketFloats) });
const n = Number(floats);
const buf = new Float32Array(n);
for (let i = 0; i < n; i++) buf[i] = (i % 97) * 1e-3;
const reduce = op === "sum" ? (b) => comm.allreduceSum(b) : (b) => comm.allreduceMean(b);
// Warm-up: the JIT and the GC threads are busy right after start-up; let them settle first.
for (let i = 0; i < 10; i++) await reduce(buf);
await new Promise((resolve) => setTimeout(resolve, 200));
await comm.barrier();
const t0 = process.hrtime.bigint();
for (let i = 0; i < Number(iterations); i++) await reduce(buf);
const dt = Number(process.hrtime.bigint() - t0) / 1e9 / Number(iterations);
if (comm.rank === 0) process.stdout.write(`NODE ${dt.toFixed(9)}\n`);
await comm.finalize();
