// Training step of the `tiny` (or `--preset small`) shapes: tfjs (this project's backend) vs PyTorch, same run.
// Usage (from packages/policy-pi0fast): npm run bench:step -- [--steps 6] [--modes all] [--preset small]
//   modes: "ours" (default: wasm + our kernels + OpenBLAS when built), "all" (adds stock wasm
//   and our kernels without BLAS, for the before/after table) or "kernels" (all but stock wasm).
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { syntheticInputs } from "./inputs.mjs";
import { importModelPackage } from "./model-package.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const packageDir = resolve(here, "../../../packages/policy-pi0fast");
const argv = process.argv.slice(2);
const arg = (name, fallback) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : fallback;
};
const STEPS = Number(arg("steps", "6"));
const PRESET = arg("preset", "tiny");
if (!["tiny", "small"].includes(PRESET)) throw new Error(`--preset: expected tiny | small, got ${PRESET}`);
/** The 2 cores' physical matmul limit the `small` row is held against (issue 17): ≈ 300 GFLOP/s. */
const PEAK_GFLOPS = 300;
const BATCH = Number(arg("batch", "8"));
/**
 * A row is "not comparable" when other work loaded the machine: the 1-minute load average above
 * this before it, or after it above this plus the row's own threads (the load average counts the
 * benchmark's own running threads too, so a 2-thread row lifts it towards 2 by itself).
 */
const IDLE_LOAD = 1.5;
/** Before each row, wait (at most SETTLE_MAX_S) for the previous row's load to decay below this. */
const SETTLE_LOAD = Number(arg("settle", "0.5"));
const SETTLE_MAX_S = 180;

/** Waits for the 1-minute load average to fall to SETTLE_LOAD (a previous row's threads decay with a 1-minute time constant). */
function settle() {
  const start = Date.now();
  while (loadavg()[0] > SETTLE_LOAD && Date.now() - start < SETTLE_MAX_S * 1000) {
    spawnSync("sleep", ["5"]);
  }
  return loadavg()[0];
}

const MODES = {
  "wasm stock": { patchKernels: "missing-only", nativeBlas: false, onnxruntime: false },
  "wasm + kernels": { nativeBlas: false, onnxruntime: false, perBatchWasm: true },
  "wasm + kernels + ONNX Runtime": { nativeBlas: false, perBatchWasm: true },
  "wasm + kernels + OpenBLAS": { nativeBlas: true, perBatchWasm: true },
};

function backendEntry() {
  if (process.env.PI0FAST_ENTRY) return process.env.PI0FAST_ENTRY;
  // Its own folder: the package's tsup config cleans the output folder.
  const out = join(here, "dist/backend");
  const r = spawnSync("npx", ["tsup", "src/backend-index.ts", "--format", "esm", "--out-dir", out, "--no-dts", "--target", "node20", "--silent"], {
    cwd: packageDir,
    stdio: "inherit",
  });
  if (r.status !== 0) throw new Error("tsup build of src/backend-index.ts failed");
  return join(out, "backend-index.js");
}

/**
 * The package's own model code on the tiny preset (pi0FastConfig + initParameters + actionLoss,
 * every parameter trained) with synthetic inputs of the same shapes, when its dist exports them.
 */
async function packagePolicy(tf) {
  // PI0FAST_MODEL: another build of the package (e.g. ab.mjs's dist/after/out/index.js).
  const dist = process.env.PI0FAST_MODEL ?? join(packageDir, "dist/index.js");
  if (!existsSync(dist)) return { reason: "packages/policy-pi0fast/dist not built" };
  const pkg = await importModelPackage(dist);
  const needed = ["pi0FastConfig", "initParameters", "parameterShapes", "actionLoss"].filter((n) => typeof pkg[n] !== "function");
  if (needed.length > 0) return { reason: `dist does not export ${needed.join(", ")}` };
  try {
    const config = pkg.pi0FastConfig({ preset: PRESET });
    const twin = await import(pathToFileURL(join(here, "tfjs-twin.mjs")).href);
    const shapes = pkg.parameterShapes(config);
    const values = pkg.initParameters(config, 0);
    const params = {};
    for (const [name, shape] of Object.entries(shapes)) params[name] = tf.variable(tf.tensor(values[name], shape), true, name);
    const inputs = syntheticInputs(config, BATCH);
    const adamw = twin.makeAdamW(params);
    const vars = Object.values(params);
    return {
      name: `package model (actionLoss, preset ${PRESET}: ${config.decoder.depth}×${config.decoder.width} decoder, ${inputs.promptLength} prompt + ${inputs.actionLength} action tokens)`,
      params: vars.reduce((s, v) => s + v.size, 0),
      flops: typeof pkg.modelFlops === "function" ? pkg.modelFlops(config, { batchSize: BATCH, cameras: 1, promptLength: inputs.promptLength, actionLength: inputs.actionLength }).trainingStep : null,
      step: () => {
        const { value, grads } = tf.variableGrads(() => pkg.actionLoss(params, config, inputs).loss, vars);
        adamw(grads);
        const l = value.dataSync()[0];
        tf.dispose([value, ...Object.values(grads)]);
        return l;
      },
    };
  } catch (error) {
    return { reason: `package model failed: ${error.message.split("\n")[0]}` };
  }
}


async function standalone(tf) {
  const twin = await import(pathToFileURL(join(here, "tfjs-twin.mjs")).href);
  const params = twin.initParams(0);
  const batch = twin.makeBatch(BATCH);
  const layout = twin.makeLayout((twin.VISION.image / twin.VISION.patch) ** 2);
  const adamw = twin.makeAdamW(params);
  const vars = Object.values(params);
  return {
    name: "stand-alone tfjs twin (tools/bench/step-vs-pytorch/tfjs-twin.mjs)",
    params: vars.reduce((s, v) => s + v.size, 0),
    step: () => {
      const { value, grads } = tf.variableGrads(() => twin.loss(params, batch, layout), vars);
      adamw(grads);
      const l = value.dataSync()[0];
      tf.dispose([value, ...Object.values(grads)]);
      return l;
    },
  };
}

async function child(mode) {
  const tf = await import("@tensorflow/tfjs-core");
  const backend = await import(pathToFileURL(process.env.PI0FAST_ENTRY).href);
  const info = await backend.initBackend("wasm", MODES[mode]);
  const fromPackage = await packagePolicy(tf);
  if (fromPackage.step === undefined && PRESET !== "tiny") throw new Error(`--preset ${PRESET} needs the package model: ${fromPackage.reason}`);
  const model = fromPackage.step !== undefined ? fromPackage : await standalone(tf);
  const times = [];
  const cpuTimes = [];
  const losses = [];
  let tensorsAfterWarmup = 0;
  for (let i = 0; i < STEPS + 2; i++) {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    losses.push(model.step());
    const dt = performance.now() - t0;
    const dc = process.cpuUsage(c0);
    if (i === 1) tensorsAfterWarmup = tf.memory().numTensors;
    if (i >= 2) {
      times.push(dt);
      cpuTimes.push((dc.user + dc.system) / 1000);
    }
  }
  times.sort((a, b) => a - b);
  cpuTimes.sort((a, b) => a - b);
  process.stdout.write(
    JSON.stringify({
      impl: `tfjs ${tf.version_core} ${mode}`,
      model: model.name,
      fallbackReason: fromPackage.reason ?? null,
      backend: backend.describeBackend(info),
      params: model.params,
      flops: model.flops ?? null,
      step_ms_median: times[Math.floor(times.length / 2)],
      step_ms_best: times[0],
      cpu_ms_median: cpuTimes[Math.floor(cpuTimes.length / 2)],
      peak_rss_mb: process.resourceUsage().maxRSS / 1024,
      tensor_leak: tf.memory().numTensors - tensorsAfterWarmup,
      loss_first: losses[0],
      loss_last: losses[losses.length - 1],
    }) + "\n",
  );
}

function runPython(threads) {
  const python = ["/usr/bin/python3", "python3"].find((p) => spawnSync(p, ["-c", "import torch"]).status === 0);
  if (python === undefined) return { error: "PyTorch not importable (apt-get install python3-torch libopenblas0-pthread)" };
  const r = spawnSync(python, [join(here, "step.py"), "--steps", String(STEPS), "--threads", String(threads), "--preset", PRESET, "--batch", String(BATCH)], { encoding: "utf8" });
  const line = r.stdout.split("\n").find((l) => l.startsWith("{"));
  return line === undefined ? { error: r.stderr.trim().split("\n").slice(-2).join(" ") } : JSON.parse(line);
}

if (argv[0] === "--child") {
  await child(argv[1]);
} else {
  const entry = backendEntry();
  const modesArg = arg("modes", "ours");
  const modes =
    modesArg === "all"
      ? Object.keys(MODES)
      : modesArg === "ours"
        ? ["wasm + kernels + OpenBLAS"]
        : modesArg === "kernels"
          ? Object.keys(MODES).filter((m) => m !== "wasm stock")
          : modesArg.split(",").map((m) => {
              if (!(m in MODES)) throw new Error(`--modes: expected all | ours | kernels | a comma list of ${Object.keys(MODES).join(" | ")}, got ${m}`);
              return m;
            });
  // Threads for PyTorch and OpenBLAS: the machine's cores, and 1 (on a loaded machine OpenMP and
  // OpenBLAS spin-waiting collapse with more threads than free cores; compare like with like).
  const threadCounts = [...new Set(arg("threads", `${cpus().length},1`).split(",").map(Number))];
  const rows = [];
  for (const threads of threadCounts) {
    const loadBefore = settle();
    const torch = runPython(threads);
    if (torch.error) console.log(`PyTorch: ${torch.error}`);
    else rows.push({ ...torch, impl: `${torch.impl} ${threads} thread(s)`, threads, loadBefore, loadAfter: loadavg()[0] });
  }
  const threaded = (mode) => mode.includes("OpenBLAS") || mode.includes("ONNX Runtime");
  const runs = modes.flatMap((mode) => (threaded(mode) ? threadCounts.map((t) => ({ mode, threads: t })) : [{ mode, threads: 1 }]));
  for (const { mode, threads } of runs) {
    const loadBefore = settle();
    const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), "--child", mode, "--steps", String(STEPS), "--preset", PRESET, "--batch", String(BATCH)], {
      encoding: "utf8",
      cwd: packageDir,
      env: { ...process.env, PI0FAST_ENTRY: entry, OPENBLAS_NUM_THREADS: String(threads), PI0FAST_ONNXRUNTIME_THREADS: String(threads) },
      maxBuffer: 1 << 24,
    });
    const line = r.stdout.split("\n").find((l) => l.startsWith("{"));
    if (line === undefined) {
      console.log(`${mode}: failed\n${r.stderr.trim().split("\n").slice(0, 8).join("\n")}`);
      continue;
    }
    const parsed = JSON.parse(line);
    if (threaded(mode)) parsed.impl += ` ${threads} thread(s)`;
    Object.assign(parsed, { threads, loadBefore, loadAfter: loadavg()[0] });
    console.log(`${parsed.impl}: ${parsed.backend}\n  model: ${parsed.model}${parsed.fallbackReason ? ` (package policy not used: ${parsed.fallbackReason})` : ""}`);
    rows.push(parsed);
  }
  printTable(rows);
}

/**
 * The comparison table. Wall-clock ratios hold only on an idle machine: a row loaded by other work
 * (see IDLE_LOAD) is marked "not comparable". The CPU-time column of
 * the 1-thread rows resists contention better (no thread waits for a core), and is the figure to
 * compare on a shared machine; it is still inflated by cache and memory-bandwidth sharing.
 */
function printTable(rows) {
  const comparable = (r) => r.loadBefore <= IDLE_LOAD && r.loadAfter <= IDLE_LOAD + r.threads;
  const fastest = (rs) => (rs.length > 0 ? rs.reduce((a, b) => (a.step_ms_median <= b.step_ms_median ? a : b)) : undefined);
  const torchRows = rows.filter((r) => r.impl.startsWith("pytorch"));
  const torchRow = fastest(torchRows);
  const torchCpu1 = torchRows.find((r) => r.threads === 1);
  const pad = (s, n) => String(s).padEnd(n);
  console.log(`\npreset ${PRESET}, batch ${BATCH}, ${STEPS} timed steps after 2 warm-up, ${cpus().length} cores; × PyTorch is against its fastest row (${torchRow?.impl ?? "none"})`);
  console.log(pad("implementation", 50) + pad("params", 10) + pad("median ms", 11) + pad("best ms", 9) + pad("× PyTorch", 11) + pad("cpu ms", 8) + pad("cpu × PT 1t", 13) + pad("load", 12) + pad("RSS MB", 8) + "loss first→last");
  for (const r of rows) {
    const ratio = torchRow ? (r.step_ms_median / torchRow.step_ms_median).toFixed(2) : "-";
    const cpuRatio = r.threads === 1 && torchCpu1?.cpu_ms_median ? (r.cpu_ms_median / torchCpu1.cpu_ms_median).toFixed(2) : "-";
    console.log(
      pad(r.impl, 50) + pad(r.params ?? "?", 10) + pad(r.step_ms_median.toFixed(0), 11) + pad(r.step_ms_best.toFixed(0), 9) +
        pad(comparable(r) && comparable(torchRow) ? ratio : `(${ratio})`, 11) + pad(r.cpu_ms_median?.toFixed(0) ?? "-", 8) + pad(cpuRatio, 13) +
        pad(`${r.loadBefore.toFixed(1)}→${r.loadAfter.toFixed(1)}`, 12) + pad(r.peak_rss_mb.toFixed(0), 8) +
        `${r.loss_first.toFixed(3)}→${r.loss_last.toFixed(3)}` + (r.tensor_leak ? `  LEAK ${r.tensor_leak} tensors/step` : "") +
        (comparable(r) ? "" : "  not comparable (load > 1.5)"),
    );
  }
  // Achieved matmul rate against the 2 cores' physical limit (the reference issue 17 names for `small`).
  const flops = rows.find((r) => r.flops)?.flops;
  if (flops) {
    for (const r of rows) {
      const gflops = flops / (r.step_ms_median / 1000) / 1e9;
      console.log(`GFLOP/s ${r.impl}: ${gflops.toFixed(1)} of the model's ${(flops / 1e9).toFixed(1)} GFLOP a step (matmuls, analytic), ${((100 * gflops) / PEAK_GFLOPS).toFixed(0)}% of ≈ ${PEAK_GFLOPS} GFLOP/s${comparable(r) ? "" : " (not comparable: load > 1.5)"}`);
    }
  }
  // Threads: only the BLAS matmuls (and PyTorch's own kernels) use a second core; every other wasm
  // kernel (elementwise, softmax, norms, transposes, gathers) runs on Node's main thread.
  const byImpl = new Map();
  for (const r of rows) {
    const key = r.impl.replace(/ \d+ thread\(s\)$/, "");
    byImpl.set(key, [...(byImpl.get(key) ?? []), r]);
  }
  for (const [impl, rs] of byImpl) {
    const one = rs.find((r) => r.threads === 1);
    const many = rs.find((r) => r.threads > 1);
    if (one === undefined || many === undefined) continue;
    const note = comparable(one) && comparable(many) ? "" : " (not comparable: load > 1.5)";
    console.log(`threads ${impl}: 1 → ${many.threads} threads, median ${one.step_ms_median.toFixed(0)} → ${many.step_ms_median.toFixed(0)} ms, speed-up ${(one.step_ms_median / many.step_ms_median).toFixed(2)}×${note}`);
  }
}
