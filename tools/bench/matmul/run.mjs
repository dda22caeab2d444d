// Matmul throughput on the wasm backend for each routing of our BatchMatMul kernel.
// Usage: node tools/bench/matmul/run.mjs  (from packages/policy-pi0fast: npm run bench:matmul)
// Each routing runs in its own process (kernel registration is per process).
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const packageDir = resolve(here, "../../../packages/policy-pi0fast");
const entry = process.env.PI0FAST_ENTRY ?? (await backendEntry());

/**
 * A fresh bundle of src/backend-index.ts (the backend under test), built here with tsup so the
 * bench does not depend on the package's dist being current.
 */
async function backendEntry() {
  const out = join(here, "dist");
  const built = join(out, "backend-index.js");
  if (process.argv[2] !== "--child") {
    const r = spawnSync("npx", ["tsup", "src/backend-index.ts", "--format", "esm", "--out-dir", out, "--no-dts", "--target", "node20", "--silent"], {
      cwd: packageDir,
      stdio: "inherit",
    });
    if (r.status !== 0) throw new Error("tsup build of src/backend-index.ts failed");
  }
  return built;
}

const MODES = {
  stock: { patchKernels: false, nativeBlas: false, onnxruntime: false },
  transposes: { nativeBlas: false, onnxruntime: false, perBatchWasm: false },
  "per-batch": { nativeBlas: false, onnxruntime: false, perBatchWasm: true },
  onnxruntime: { nativeBlas: false, perBatchWasm: false },
  openblas: { nativeBlas: true, perBatchWasm: false },
};

const CASES = [
  { label: "1024² · 1024²", a: [1024, 1024], b: [1024, 1024] },
  { label: "1408×256 · 256×1024", a: [1408, 256], b: [256, 1024] },
  { label: "  transposeA", a: [256, 1408], b: [256, 1024], tA: true },
  { label: "  transposeB", a: [1408, 256], b: [1024, 256], tB: true },
  { label: "attn QKᵀ [8,4,112,64]·[8,4,64,112]", a: [8, 4, 112, 64], b: [8, 4, 112, 64], tB: true },
  { label: "attn PV [8,4,112,112]·[8,4,112,64]", a: [8, 4, 112, 112], b: [8, 4, 112, 64] },
  { label: "attn grad [8,4,112,64]ᵀ·[8,4,112,112]", a: [8, 4, 112, 64], b: [8, 4, 112, 112], tA: true },
];

async function child(mode) {
  const tf = await import("@tensorflow/tfjs-core");
  const pkg = await import(pathToFileURL(entry).href);
  if (typeof pkg.initBackend !== "function") throw new Error(`${entry} does not export initBackend`);
  const info = await pkg.initBackend("wasm", MODES[mode]);
  const rows = [];
  for (const c of CASES) {
    const a = tf.randomNormal(c.a);
    const b = tf.randomNormal(c.b);
    const run = () => tf.tidy(() => tf.matMul(a, b, c.tA ?? false, c.tB ?? false)).dataSync();
    const shapeOut = tf.tidy(() => tf.matMul(a, b, c.tA ?? false, c.tB ?? false).shape);
    const k = c.tA ? c.a[c.a.length - 2] : c.a[c.a.length - 1];
    const flops = 2 * shapeOut.reduce((x, y) => x * y, 1) * k;
    run();
    let best = Infinity;
    const deadline = Date.now() + 3000;
    for (let i = 0; i < 8 && (i < 2 || Date.now() < deadline); i++) {
      const t0 = performance.now();
      run();
      best = Math.min(best, performance.now() - t0);
    }
    tf.dispose([a, b]);
    rows.push({ label: c.label, ms: best, gflops: flops / best / 1e6 });
  }
  process.stdout.write(JSON.stringify({ mode, backend: pkg.describeBackend(info), rows }) + "\n");
}

if (process.argv[2] === "--child") {
  await child(process.argv[3]);
} else {
  if (!existsSync(entry)) {
    console.error(`${entry} not found: build the package first (npx tsup) or set PI0FAST_ENTRY`);
    process.exit(1);
  }
  const results = [];
  for (const mode of Object.keys(MODES)) {
    const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), "--child", mode], {
      encoding: "utf8",
      cwd: packageDir,
      env: { ...process.env, PI0FAST_ENTRY: entry },
    });
    const line = r.stdout.split("\n").find((l) => l.startsWith("{"));
    if (r.status !== 0 || line === undefined) {
      console.log(`${mode}: failed\n${(r.stderr || r.stdout).trim().split("\n").slice(0, 6).join("\n")}`);
      continue;
    }
    const parsed = JSON.parse(line);
    console.log(`${mode}: ${parsed.backend}`);
    results.push(parsed);
  }
  const pad = (s, n) => String(s).padEnd(n);
  console.log("\n" + pad("case", 40) + results.map((r) => pad(r.mode, 22)).join(""));
  for (let i = 0; i < CASES.length; i++) {
    const cells = results.map((r) => pad(`${r.rows[i].ms.toFixed(1)} ms ${r.rows[i].gflops.toFixed(1)} GF/s`, 22));
    console.log(pad(CASES[i].label, 40) + cells.join(""));
  }
  const stock = results.find((r) => r.mode === "stock");
  if (stock !== undefined) {
    console.log("\nspeed-up over stock wasm:");
    for (const r of results) {
      if (r === stock) continue;
      console.log(`  ${pad(r.mode, 12)} ` + r.rows.map((row, i) => `${(stock.rows[i].ms / row.ms).toFixed(1)}×`).join("  "));
    }
  }
}
