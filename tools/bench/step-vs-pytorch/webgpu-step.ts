/**
 * The package's pi0-FAST training step on tfjs's WebGPU backend (Dawn), for a preset at a batch
 * size: the model's own `actionLoss` (`@craft/policy-pi0fast/model`), gradients with
 * tf.variableGrads, AdamW on the device (constant learning rate: no warm-up), the loss read back
 * every step. Prints one JSON line per step and a summary line.
 *
 * Bundled for the GPU machine by tools/device/webgpu-check/build.mjs (node webgpu-step.mjs …);
 * on a CPU machine it runs on Mesa's llvmpipe with --allow-software (tiny shapes only: slow).
 *
 *   --preset tiny|small|paligemma_3b   --batch 8   --steps 20   --warmup 0   --lr 1e-4
 *   --data so101   (state/action/task of 8 so101 frames from SO101_ROOT, plus a synthetic camera image)
 *   --override '{"decoder":{"depth":2}}'   (partial config merged over the preset)
 *   --allow-software   (accept llvmpipe & co.; for dry runs)
 *   --pool-bytes N     (WebGPU buffer pool budget)
 */
import "../../device/webgpu-check/modules";
import * as tf from "@tensorflow/tfjs-core";
import { fitFastTokenizer, pi0FastConfig, type PI0FastConfig } from "@craft/policy-pi0fast";
import { describeBackend, initBackend, resetWebGpuPeak, webgpuErrors, webgpuMemory } from "@craft/policy-pi0fast/backend";
import { actionLoss, byteLevelTokenizer, createProcessor, parameterShapes, type ModelInputs } from "@craft/policy-pi0fast/model";
import { loadSo101Actions, loadSo101Frames, normalisedChunks, so101Batch } from "../../../test-support/so101";

const argv = process.argv.slice(2);
const arg = (name: string, fallback: string): string => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < argv.length ? argv[i + 1] : fallback;
};
const flag = (name: string) => argv.includes(`--${name}`);

const preset = arg("preset", "tiny");
const BATCH = Number(arg("batch", "8"));
const STEPS = Number(arg("steps", "20"));
const WARMUP = Number(arg("warmup", "0"));
const LR = Number(arg("lr", "1e-4"));
const DATA = arg("data", "so101");
const override = JSON.parse(arg("override", "{}")) as Record<string, unknown>;

function deepMerge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    out[k] = v && typeof v === "object" && !Array.isArray(v) && typeof a[k] === "object" ? deepMerge(a[k] as Record<string, unknown>, v as Record<string, unknown>) : v;
  }
  return out;
}

/** xorshift32 uniform in [-1, 1). */
function uniform(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2147483648 - 1;
  };
}

/**
 * Parameters as tf.Variables: the layout of initParameters (biases and Gemma norm scales zero,
 * LayerNorm scales one), weights uniform with std 0.02 (a fast stand-in for its truncated normal:
 * 2.9 B Box–Muller samples in JS take minutes).
 */
function initVariables(config: PI0FastConfig): Record<string, tf.Variable> {
  const next = uniform(12345);
  const a = 0.02 * Math.sqrt(3);
  const out: Record<string, tf.Variable> = {};
  for (const [name, shape] of Object.entries(parameterShapes(config))) {
    const size = shape.reduce((x, y) => x * y, 1);
    const data = new Float32Array(size);
    if (/layer_norm\d?\.weight$|post_layernorm\.weight$/.test(name)) data.fill(1);
    else if (!name.endsWith(".bias") && shape.length > 1) for (let i = 0; i < size; i++) data[i] = a * next();
    out[name] = tf.variable(tf.tensor(data, shape), true, name);
  }
  return out;
}

async function inputsFor(config: PI0FastConfig): Promise<ModelInputs> {
  const [H, W] = config.image_resolution;
  const next = uniform(777);
  const pixels = new Uint8Array(BATCH * H * W * 3);
  for (let i = 0; i < pixels.length; i++) pixels[i] = Math.floor((next() + 1) * 127.99);
  if (DATA !== "so101") throw new Error(`--data: expected so101, got "${DATA}"`);
  const frames = await loadSo101Frames();
  const chunkSize = config.chunk_size;
  const fast = await fitFastTokenizer(normalisedChunks(await loadSo101Actions(), chunkSize, 5), { chunkSize, actionDim: 6, vocabSize: 256 });
  const indices = Array.from({ length: BATCH }, (_, b) => Math.floor(((b + 0.5) * frames.state.length) / BATCH));
  const base = so101Batch(frames, indices, chunkSize);
  const batch = { ...base, features: { ...base.features, "observation.images.front": { data: pixels, shape: [BATCH, H, W, 3] } } };
  const processor = createProcessor(
    { ...config, vocab_size: config.decoder.vocab_size },
    { stats: frames.stats as never, textTokenizer: byteLevelTokenizer(), fastTokenizer: fast, imageKeys: ["observation.images.front"] },
  );
  return processor.toModelInputs(batch as never);
}

const info = await initBackend("webgpu", { webgpuPoolBytes: argv.includes("--pool-bytes") ? Number(arg("pool-bytes", "0")) : undefined });
console.error(`[webgpu-step] ${describeBackend(info)}`);
if (info.adapter?.software && !flag("allow-software")) {
  throw new Error(`adapter ${JSON.stringify(info.adapter.name)} is a software rasteriser; pass --allow-software for a dry run`);
}
const config = pi0FastConfig(deepMerge({ preset, image_keys: ["observation.images.front"], max_state_dim: 32, scheduler_warmup_steps: 0 }, override));
const t0 = performance.now();
const params = initVariables(config);
const vars = Object.values(params);
const nParams = vars.reduce((s, v) => s + v.size, 0);
const inputs = await inputsFor(config);
console.error(`[webgpu-step] ${preset}: ${nParams} parameters, batch ${BATCH}, prompt ${inputs.promptLength} + action ${inputs.actionLength} tokens; init ${((performance.now() - t0) / 1000).toFixed(1)} s`);

// AdamW (betas 0.9/0.95, eps 1e-8, wd 0.01 on rank ≥ 2), on the device.
const m = vars.map((v) => tf.variable(tf.zerosLike(v), false));
const s = vars.map((v) => tf.variable(tf.zerosLike(v), false));
function adamw(grads: Record<string, tf.Tensor>, t: number): void {
  const c1 = 1 - 0.9 ** t;
  const c2 = 1 - 0.95 ** t;
  vars.forEach((v, i) => {
    const g = grads[v.name];
    tf.tidy(() => {
      m[i].assign(tf.add(tf.mul(m[i], 0.9), tf.mul(g, 0.1)));
      s[i].assign(tf.add(tf.mul(s[i], 0.95), tf.mul(tf.square(g), 0.05)));
      const update = tf.div(tf.div(m[i], c1), tf.add(tf.sqrt(tf.div(s[i], c2)), 1e-8));
      const decayed = v.rank >= 2 ? tf.mul(v, 1 - LR * 0.01) : v;
      v.assign(tf.sub(decayed, tf.mul(update, LR)));
    });
  });
}

const losses: number[] = [];
const times: number[] = [];
let peak = 0;
for (let step = 1; step <= WARMUP + STEPS; step++) {
  if (step === WARMUP + 1) resetWebGpuPeak();
  const start = performance.now();
  const { value, grads } = tf.variableGrads(() => actionLoss(params, config, inputs).loss, vars);
  adamw(grads, step);
  const loss = (await value.data())[0];
  const ms = performance.now() - start;
  tf.dispose([value, ...Object.values(grads)]);
  const mem = webgpuMemory();
  peak = Math.max(peak, mem?.peakAllocatedBytes ?? 0);
  if (step > WARMUP) {
    losses.push(loss);
    times.push(ms);
  }
  console.log(JSON.stringify({ step, loss, ms: Math.round(ms), allocated_gb: (mem?.allocatedBytes ?? 0) / 1e9, errors: webgpuErrors().length }));
  if (webgpuErrors().length > 0) {
    // Dawn carries on with garbage after an error (out of memory, invalid buffer): stop here.
    console.error(`[webgpu-step] Dawn error at step ${step}, stopping: ${webgpuErrors().slice(0, 3).join(" | ")}`);
    console.log(JSON.stringify({ summary: { preset, batch: BATCH, params: nParams, stopped_at_step: step, peak_device_gb: peak / 1e9, dawn_errors: webgpuErrors() } }));
    process.exit(1);
  }
}
const sorted = [...times].sort((a, b) => a - b);
// Step 1 compiles every shader; the median is over the later steps.
const timed = sorted.length > 2 ? [...times.slice(1)].sort((a, b) => a - b) : sorted;
const summary = {
  impl: `tfjs ${tf.version_core} webgpu`,
  preset,
  batch: BATCH,
  params: nParams,
  adapter: info.adapter?.name ?? null,
  steps: losses.length,
  step_ms_first: times[0],
  step_ms_median: timed[Math.floor(timed.length / 2)],
  step_ms_best: sorted[0],
  peak_device_gb: peak / 1e9,
  loss_first: losses[0],
  loss_last: losses[losses.length - 1],
  all_finite: losses.every(Number.isFinite),
  decreased: losses[losses.length - 1] < losses[0],
  dawn_errors: webgpuErrors(),
};
console.log(JSON.stringify({ summary }));
process.exit(summary.all_finite && summary.dawn_errors.length === 0 ? 0 : 1);
