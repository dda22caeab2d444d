// Step time of baseline vs CRaFT (retention_freq 1 and 4), same batch size, same process.
// Uses the real tiny pi0-FAST policy when @craft/policy-pi0fast's build can make one from synthetic
// data (see real-policy.mjs); otherwise a synthetic 4.8M-parameter MLP policy doing real arithmetic.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { adamwStep, createAdamWState, decodeTrainConfig, namedGradientSpace, train, trainCraft } from "@craft/trainer";
import { craftStep, defaultCraftConfig, initialCraftState } from "@craft/craft-core";
import { makeBatchSource, makeSyntheticPolicy } from "./synthetic-policy.mjs";

// 9 steps, the first dropped: with retention_freq=4 the anchor gradient is computed at steps 0, 4, 8,
// so the 8 measured steps hold exactly 2 recomputations (1 in 4) and the mean is the fair figure.
const STEPS = 9;
const WARMUP = 1;
let ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const ROWS = Number(process.env.BENCH_ROWS ?? 16);

const nullIO = { write: async () => {}, read: async () => ({ tensors: {}, metadata: {} }) };
const quietStream = { write: () => true, isTTY: false };

const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const loadSetup = async () => {
  if (process.env.BENCH_SYNTHETIC !== "1") {
    try {
      const { makeRealSetup } = await import("./real-policy.mjs");
      const real = await makeRealSetup();
      if (real !== undefined) return real;
    } catch (error) {
      console.log(`real pi0-FAST policy unavailable (${error.message.split("\n")[0]}); using the synthetic policy`);
    }
  }
  const probe = makeSyntheticPolicy();
  return {
    name: `synthetic MLP policy, ${(probe.parameterCount / 1e6).toFixed(2)}M parameters, ${ROWS} rows per batch (plain JS matmuls)`,
    batchSize: ROWS,
    makePolicy: () => makeSyntheticPolicy(),
    taskSource: () => makeBatchSource({ rows: ROWS, seed: 1 }),
    anchorSource: () => makeBatchSource({ rows: ROWS, seed: 2 }),
  };
};

const measure = async (setup, label, craft) => {
  const outputDir = mkdtempSync(path.join(tmpdir(), "bench-trainer-"));
  const decoded = decodeTrainConfig({
    output_dir: outputDir,
    steps: STEPS,
    batch_size: setup.batchSize,
    log_freq: 1,
    save_freq: 1_000_000,
    seed: 1,
    optimizer: { lr: 1e-4 },
    craft: craft ?? {},
  });
  if (decoded._tag === "Left") throw new Error(decoded.left.join("\n"));
  const times = [];
  const cpuTimes = [];
  let lastCpu = process.cpuUsage();
  const policy = setup.makePolicy();
  const options = {
    config: decoded.right,
    policy,
    taskSource: setup.taskSource(),
    tensorIO: nullIO,
    progressStream: quietStream,
    onMetrics: (m) => {
      times.push(m.step_time_s);
      const cpu = process.cpuUsage(lastCpu);
      cpuTimes.push((cpu.user + cpu.system) / 1e6);
      lastCpu = process.cpuUsage();
    },
  };
  if (craft === undefined) await train(options);
  else await trainCraft({ ...options, anchorSource: setup.anchorSource() });
  rmSync(outputDir, { recursive: true, force: true });
  const steady = times.slice(WARMUP);
  const t = mean(steady);
  const cpu = mean(cpuTimes.slice(WARMUP));
  console.log(
    `  ${label.padEnd(24)} wall ${(t * 1000).toFixed(1)} ms/step, cpu ${(cpu * 1000).toFixed(1)} ms/step  (wall per step ${steady.map((x) => (x * 1000).toFixed(0)).join(", ")})`,
  );
  policy.dispose?.();
  return { wall: t, cpu };
};

const bareGradientTime = async (setup) => {
  const policy = setup.makePolicy();
  const source = setup.taskSource();
  await policy.computeGradients(await source.next());
  const ts = [];
  for (let i = 0; i < 3; i++) {
    const batch = await source.next();
    const t0 = performance.now();
    await policy.computeGradients(batch);
    ts.push((performance.now() - t0) / 1000);
  }
  policy.dispose?.();
  return median(ts);
};

/** The AdamW of commit 052b023 (one float64 JS loop per parameter), kept as the A of the A/B. */
function previousAdamW(config, state, params, grads, lr) {
  const [beta1, beta2] = config.betas;
  state.step += 1;
  const bc1 = 1 - beta1 ** state.step;
  const bc2Sqrt = Math.sqrt(1 - beta2 ** state.step);
  const stepSize = lr / bc1;
  for (const name of Object.keys(grads)) {
    const p = params[name];
    const g = grads[name];
    const m = (state.m[name] ??= new Float32Array(p.length));
    const v = (state.v[name] ??= new Float32Array(p.length));
    const decay = 1 - lr * config.weight_decay;
    for (let i = 0; i < p.length; i++) {
      const mi = beta1 * m[i] + (1 - beta1) * g[i];
      const vi = beta2 * v[i] + (1 - beta2) * g[i] * g[i];
      m[i] = mi;
      v[i] = vi;
      p[i] = p[i] * decay - (stepSize * mi) / (Math.sqrt(vi) / bc2Sqrt + config.eps);
    }
  }
}

const loadAtStart = (await import("node:os")).loadavg()[0];
const setup = await loadSetup();
// A real-policy step takes seconds on 2 CPU cores: one round unless asked for more.
if (setup.real && process.env.BENCH_ROUNDS === undefined) ROUNDS = 1;
console.log(`trainer step time: ${setup.name}`);
console.log(`${ROUNDS} rounds of (baseline, CRaFT rf=1, CRaFT rf=4) interleaved; each run ${STEPS} steps, first ${WARMUP} dropped`);
// BENCH_PART=own: only the trainer's own work (AdamW A/B, norm, craftStep), no training runs.
const ratios = { wall: { rf1: [], rf4: [] }, cpu: { rf1: [], rf4: [] } };
if (process.env.BENCH_PART !== "own") {
  const bare = await bareGradientTime(setup);
  console.log(`computeGradients alone: median ${(bare * 1000).toFixed(1)} ms`);
  for (let round = 1; round <= ROUNDS; round++) {
    console.log(`round ${round}`);
    const baseline = await measure(setup, "baseline", undefined);
    const rf1 = await measure(setup, "CRaFT retention_freq=1", { enable: true, retention_freq: 1 });
    const rf4 = await measure(setup, "CRaFT retention_freq=4", { enable: true, retention_freq: 4 });
    for (const kind of ["wall", "cpu"]) {
      ratios[kind].rf1.push(rf1[kind] / baseline[kind]);
      ratios[kind].rf4.push(rf4[kind] / baseline[kind]);
    }
  }
}
// The trainer's own work per step, measured alone in CPU time on the policy's parameter shapes.
{
  const policy = setup.makePolicy();
  const params = policy.getParameters();
  policy.dispose?.();
  const gradient = (k) => Object.fromEntries(Object.entries(params).map(([n, v]) => [n, Float32Array.from(v, (_, i) => Math.sin(i * k))]));
  const gTask = gradient(1);
  const gRetain = gradient(2);
  const cpuMs = (f, repeats = 3) => {
    const ts = [];
    for (let i = 0; i < repeats; i++) {
      const c = process.cpuUsage();
      f();
      const d = process.cpuUsage(c);
      ts.push((d.user + d.system) / 1000);
    }
    return median(ts);
  };
  const cfg = { lr: 1e-4, betas: [0.9, 0.95], eps: 1e-8, weight_decay: 0.01 };
  // A/B in this process, interleaved, median of 7: the fused SIMD AdamW (packages/trainer/src/adamw.ts)
  // against the per-element JS loop it replaced (float64 arithmetic, commit 052b023).
  const fused = createAdamWState();
  const previous = { step: 0, m: {}, v: {} };
  adamwStep(cfg, fused, params, gTask, 1e-4);
  previousAdamW(cfg, previous, params, gTask, 1e-4);
  const fusedMs = [];
  const previousMs = [];
  for (let i = 0; i < 7; i++) {
    fusedMs.push(cpuMs(() => adamwStep(cfg, fused, params, gTask, 1e-4), 1));
    previousMs.push(cpuMs(() => previousAdamW(cfg, previous, params, gTask, 1e-4), 1));
  }
  const adam = median(fusedMs);
  const count = Object.values(params).reduce((s, p) => s + p.length, 0);
  console.log(
    `AdamW over ${(count / 1e6).toFixed(2)}M parameters (CPU, median of 7, A/B interleaved): fused ${adam.toFixed(1)} ms ` +
      `(${((adam * 1e6) / count).toFixed(2)} ns/parameter), previous JS loop ${median(previousMs).toFixed(1)} ms, ` +
      `speed-up ${(median(previousMs) / adam).toFixed(2)}×`,
  );
  const norm = cpuMs(() => namedGradientSpace.dot(gTask, gTask));
  const step = craftStep(defaultCraftConfig, namedGradientSpace, 100);
  const craft = cpuMs(() => step(initialCraftState(defaultCraftConfig), { gTask, gRetain, retentionLoss: 0.5, step: 0 }));
  console.log(`trainer's own work per step (CPU): AdamW ${adam.toFixed(1)} ms, norm for clipping ${norm.toFixed(1)} ms, craftStep ${craft.toFixed(1)} ms`);
}
console.log(`load average at the start: ${loadAtStart.toFixed(2)}; at the end: ${(await import("node:os")).loadavg().map((x) => x.toFixed(2)).join(" ")} on ${(await import("node:os")).cpus().length} cores (wall-clock ratios are only meaningful on an idle machine; CPU-time ratios resist contention)`);
for (const kind of process.env.BENCH_PART === "own" ? [] : ["cpu", "wall"]) {
  const r1 = median(ratios[kind].rf1);
  const r4 = median(ratios[kind].rf4);
  const list = (xs) => xs.map((r) => r.toFixed(3)).join(", ");
  console.log(`${kind.padEnd(4)} ratio CRaFT rf=1 / baseline: ${r1.toFixed(3)}  (median of ${list(ratios[kind].rf1)}; target ≤ 2.1)  ${r1 <= 2.1 ? "PASS" : "FAIL"}`);
  console.log(`${kind.padEnd(4)} ratio CRaFT rf=4 / baseline: ${r4.toFixed(3)}  (median of ${list(ratios[kind].rf4)}; target ≤ 1.4)  ${r4 <= 1.4 ? "PASS" : "FAIL"}`);
}
