/**
 * One run on the GPU machine for issue 10 (prepared by build.mjs into .device/):
 *
 *   source .device/prelude.sh; cd .device && node webgpu-check.mjs
 *
 * Phases, each a child process with its own time limit (all together under 8 minutes), each log
 * written to $OUT/webgpu-check/<phase>.log and scanned for Dawn error lines (pitfall 4: Dawn prints
 * errors and carries on with garbage):
 *   1. tests     packages/policy-pi0fast/test/webgpu.test.ts (bundled; webgpu vs cpu)
 *   2. train3b   20 steps of `paligemma_3b` at batch 8 on so101 (+ a synthetic 224² camera), no
 *                warm-up: loss finite at every step and lower at step 20 than at step 1
 *   3. tiny      the `tiny` preset's step at batch 8 (12 steps)
 *   4. matmul    fp32 matmul TFLOP/s at 1024² / 4096² / 8192²
 *   5. pytorch   the PyTorch twin (webgpu-twin.py, CUDA, fp32/TF32) of both presets, same shapes
 * then a table (step ms, × PyTorch, peak device memory) and summary.json under $OUT/webgpu-check.
 *
 * Flags: --dry (CPU machine: llvmpipe adapter accepted, shrunken presets, short limits),
 *        --only tests,train3b,… (a subset of phases).
 */
import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { pi0FastConfig } from "@craft/policy-pi0fast";

const here = dirname(fileURLToPath(import.meta.url));
const argv = process.argv.slice(2);
const DRY = argv.includes("--dry");
const only = argv.includes("--only") ? new Set(argv[argv.indexOf("--only") + 1].split(",")) : undefined;
const out = join(process.env.OUT ?? join(here, "out"), "webgpu-check");
mkdirSync(out, { recursive: true });
const so101 = process.env.SO101_ROOT ?? join(here, "data/so101-pick-orange-cube/");

/** Lines Dawn (or tfjs on its behalf) prints when a GPU operation failed. */
const DAWN_ERROR =
  /out of memory|OutOfMemory|GPUValidationError|validation error|Invalid (Buffer|BindGroup|CommandBuffer|ComputePipeline|ShaderModule)|device (was )?lost|Device lost|\[Dawn\].*error|Error while parsing WGSL|Uncaptured error|is larger than the maximum|^\s*validation:/i;

interface PhaseResult {
  readonly phase: string;
  readonly code: number | null;
  readonly timedOut: boolean;
  readonly seconds: number;
  readonly dawnErrorLines: string[];
  readonly json: Record<string, unknown>[];
}

function run(phase: string, command: string, args: string[], limitS: number): Promise<PhaseResult> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn(command, args, { cwd: here, env: { ...process.env, SO101_ROOT: so101 }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d;
      process.stdout.write(`[${phase}] ${d}`);
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d;
      process.stderr.write(`[${phase}] ${d}`);
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, limitS * 1000);
    child.on("close", (code) => {
      clearTimeout(timer);
      writeFileSync(join(out, `${phase}.log`), `$ ${command} ${args.join(" ")}\n--- stdout\n${stdout}\n--- stderr\n${stderr}`);
      const json = stdout
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .flatMap((l) => {
          try {
            return [JSON.parse(l) as Record<string, unknown>];
          } catch {
            return [];
          }
        });
      const dawnErrorLines = `${stdout}\n${stderr}`.split("\n").filter((l) => DAWN_ERROR.test(l) && !/^\s*(PASS|N\/A)/.test(l));
      resolve({ phase, code, timedOut, seconds: (performance.now() - t0) / 1000, dawnErrorLines, json });
    });
  });
}

const wanted = (p: string) => only === undefined || only.has(p);
const node = process.execPath;
const soft = DRY ? ["--allow-software"] : [];
const results: PhaseResult[] = [];

// Shrunken shapes for a dry run on llvmpipe (same code paths, CPU-sized).
const DRY_3B = JSON.stringify({ vision: { depth: 1, width: 32, mlp_dim: 64, heads: 2, image_size: 28 }, image_resolution: [28, 28], decoder: { depth: 1, width: 64, mlp_dim: 128, heads: 2, head_dim: 32, vocab_size: 4096 }, max_action_tokens: 48, chunk_size: 10, n_action_steps: 10 });
const DRY_TINY = JSON.stringify({ vision: { depth: 1, width: 32, mlp_dim: 64, heads: 2, image_size: 16 }, image_resolution: [16, 16], decoder: { depth: 1, width: 64, mlp_dim: 128, heads: 2, head_dim: 32 }, max_action_tokens: 32 });

if (wanted("tests")) results.push(await run("tests", node, ["webgpu-tests.mjs"], DRY ? 300 : 120));
if (wanted("train3b")) {
  const args = ["webgpu-step.mjs", "--preset", "paligemma_3b", "--batch", DRY ? "2" : "8", "--steps", DRY ? "4" : "20", "--warmup", "0", "--data", "so101", ...soft];
  if (DRY) args.push("--override", DRY_3B);
  results.push(await run("train3b", node, args, DRY ? 300 : 210));
}
if (wanted("tiny")) {
  const args = ["webgpu-step.mjs", "--preset", "tiny", "--batch", DRY ? "2" : "8", "--steps", DRY ? "3" : "12", "--data", "so101", ...soft];
  if (DRY) args.push("--override", DRY_TINY);
  results.push(await run("tiny", node, args, DRY ? 180 : 45));
}
if (wanted("matmul")) results.push(await run("matmul", node, ["webgpu-matmul.mjs", "--sizes", DRY ? "128,256" : "1024,4096,8192", "--reps", DRY ? "3" : "10", ...soft], DRY ? 120 : 30));
if (wanted("pytorch")) {
  for (const preset of ["tiny", "paligemma_3b"] as const) {
    const c = pi0FastConfig({ preset });
    const file = join(out, `${preset}.json`);
    writeFileSync(file, JSON.stringify({ vision: c.vision, decoder: c.decoder, tokenizer_max_length: c.tokenizer_max_length, max_action_tokens: c.max_action_tokens }));
    const args = ["webgpu-twin.py", "--config", file, "--batch", "8", "--steps", preset === "tiny" ? "10" : "6", "--device", DRY ? "cpu" : "cuda"];
    if (DRY && preset === "paligemma_3b") continue; // 3B on a CPU: not a dry-run matter
    results.push(await run(`pytorch-${preset}`, "python3", args, DRY ? 120 : 60));
  }
}

const summaryOf = (phase: string) => results.find((r) => r.phase === phase)?.json.find((j) => "summary" in j)?.summary as Record<string, number | string | boolean | string[]> | undefined;
const torchOf = (phase: string) => results.find((r) => r.phase === phase)?.json.find((j) => "impl" in j) as Record<string, number | string> | undefined;
const checks: Array<[string, boolean]> = [];
for (const r of results) {
  checks.push([`${r.phase}: exit 0${r.timedOut ? " (timed out)" : ""}`, r.code === 0 && !r.timedOut]);
  checks.push([`${r.phase}: no Dawn error lines (${r.dawnErrorLines.length})`, r.dawnErrorLines.length === 0]);
}
const t3b = summaryOf("train3b");
if (wanted("train3b")) {
  const steps = results.find((r) => r.phase === "train3b")?.json.filter((j) => typeof j.step === "number") ?? [];
  checks.push([`train3b: ${steps.length} steps ran`, steps.length === (DRY ? 4 : 20)]);
  checks.push(["train3b: loss finite at every step", steps.length > 0 && steps.every((s) => Number.isFinite(s.loss as number))]);
  checks.push(["train3b: loss at the last step < loss at step 1", t3b !== undefined && (t3b.loss_last as number) < (t3b.loss_first as number)]);
}

const table: string[] = [];
const pad = (s: unknown, n: number) => String(s).padEnd(n);
table.push(pad("preset", 14) + pad("tfjs webgpu ms", 16) + pad("PyTorch ms", 12) + pad("× PyTorch", 11) + pad("target", 9) + pad("tfjs peak GB", 14) + "PyTorch peak GB");
for (const [preset, phase, target] of [["tiny", "tiny", 5], ["paligemma_3b", "train3b", 6]] as const) {
  const tfjs = summaryOf(phase);
  const torch = torchOf(`pytorch-${preset}`);
  const num = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v : undefined);
  const tfjsMs = num(tfjs?.step_ms_median);
  const torchMs = num(torch?.step_ms_median);
  const ratio = tfjsMs !== undefined && torchMs !== undefined ? tfjsMs / torchMs : undefined;
  const tfjsCell = tfjsMs !== undefined ? tfjsMs.toFixed(0) : tfjs?.stopped_at_step !== undefined ? `Dawn error @${tfjs.stopped_at_step}` : "-";
  table.push(
    pad(preset, 14) + pad(tfjsCell, 16) + pad(torchMs !== undefined ? torchMs.toFixed(1) : "-", 12) +
      pad(ratio !== undefined ? ratio.toFixed(2) : "-", 11) + pad(`≤ ${target}`, 9) + pad(num(tfjs?.peak_device_gb)?.toFixed(1) ?? "-", 14) +
      (torch?.peak_device_gb !== undefined && torch.peak_device_gb !== null ? Number(torch.peak_device_gb).toFixed(1) : "-"),
  );
}
const matmul = results.find((r) => r.phase === "matmul")?.json ?? [];
for (const m of matmul) table.push(`matmul ${m.matmul}²: ${Number(m.tflops).toFixed(2)} TFLOP/s (${Number(m.ms_each).toFixed(1)} ms)${m.matmul === 8192 ? "  target ≥ 27" : ""}`);

console.log("\n" + table.join("\n"));
for (const [what, ok] of checks) console.log(`${ok ? "OK  " : "FAIL"} ${what}`);
const summary = {
  dry: DRY,
  checks: Object.fromEntries(checks),
  table,
  phases: results.map((r) => ({ phase: r.phase, code: r.code, timedOut: r.timedOut, seconds: r.seconds, dawnErrorLines: r.dawnErrorLines.slice(0, 20), json: r.json.filter((j) => !("step" in j)) })),
};
writeFileSync(join(out, "summary.json"), JSON.stringify(summary, null, 2));
process.exit(checks.every(([, ok]) => ok) ? 0 : 1);
