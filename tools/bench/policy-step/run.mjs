// Training-step and decoding benchmark of @craft/policy-pi0fast (tiny preset) on the wasm backend.
// Run from packages/policy-pi0fast: `npm run build && npm run bench`.
// Prints: step time, analytic model FLOPs per step, achieved GFLOP/s, ratio to a plain 1024² tf.matMul
// measured in the same process (target ≥ 0.35), and selectAction latency with / without KV cache
// (target: cache ≥ 3× faster).
import * as tf from "@tensorflow/tfjs-core";
import {
  createPi0FastPolicy,
  fitFastTokenizer,
  initBackend,
  describeBackend,
  modelFlops,
} from "@craft/policy-pi0fast";

const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, "").split("=")));
const device = args.device ?? "wasm";
const B = Number(args.batch ?? 8);
const steps = Number(args.steps ?? 3);

const info = await initBackend(device);
console.log(`backend: ${describeBackend(info)}`);

// Deterministic synthetic so101-shaped data: 6-D state/action, one 64×64 camera.
let seed = 12345;
const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
const D = 6;
const T = 10;
const stats = {
  "observation.state": { q01: Array(D).fill(-100), q99: Array(D).fill(100), mean: Array(D).fill(0), std: Array(D).fill(50) },
  action: { q01: Array(D).fill(-100), q99: Array(D).fill(100), mean: Array(D).fill(0), std: Array(D).fill(50) },
};
const smoothChunk = () => {
  const c = new Float32Array(T * D);
  for (let d = 0; d < D; d++) {
    const a = rand() * 2 - 1;
    const b = (rand() * 2 - 1) * 0.3;
    for (let t = 0; t < T; t++) c[t * D + d] = Math.max(-1, Math.min(1, a + (b * t) / T));
  }
  return c;
};
const fast = fitFastTokenizer(Array.from({ length: 200 }, smoothChunk), { chunkSize: T, actionDim: D, vocabSize: 512 });
const imageKey = "observation.images.front";
const makeBatch = (size) => {
  const state = new Float32Array(size * D).map(() => rand() * 160 - 80);
  const action = new Float32Array(size * T * D);
  for (let b = 0; b < size; b++) action.set(smoothChunk().map((v) => v * 100), b * T * D);
  const image = new Uint8Array(size * 64 * 64 * 3).map(() => Math.floor(rand() * 256));
  return {
    size,
    task: Array(size).fill("pick up the orange cube"),
    features: {
      "observation.state": { data: state, shape: [size, D] },
      action: { data: action, shape: [size, T, D] },
      action_is_pad: { data: new Uint8Array(size * T), shape: [size, T] },
      [imageKey]: { data: image, shape: [size, 64, 64, 3] },
    },
  };
};

const policy = createPi0FastPolicy({ config: { preset: "tiny", max_state_dim: 32 }, stats, fastTokenizer: fast, imageKeys: [imageKey], seed: 0 });
const cfg = policy.config;
console.log(`tiny preset: ${(policy.numParameters / 1e6).toFixed(2)}M parameters, batch ${B}, prompt ${cfg.tokenizer_max_length}, action block ${cfg.max_action_tokens}`);

// AdamW over named Float32Arrays, as the trainer does it (plain JS).
const m = {};
const v = {};
let t = 0;
function adamw(params, grads, lr = 1e-4) {
  t++;
  const [b1, b2] = cfg.optimizer_betas;
  const out = {};
  for (const [name, g] of Object.entries(grads)) {
    const p = params[name];
    const mm = (m[name] ??= new Float32Array(g.length));
    const vv = (v[name] ??= new Float32Array(g.length));
    const wd = policy.noWeightDecay(name) ? 0 : cfg.optimizer_weight_decay;
    const c1 = 1 - b1 ** t;
    const c2 = 1 - b2 ** t;
    for (let i = 0; i < g.length; i++) {
      mm[i] = b1 * mm[i] + (1 - b1) * g[i];
      vv[i] = b2 * vv[i] + (1 - b2) * g[i] * g[i];
      p[i] = p[i] * (1 - lr * wd) - (lr * (mm[i] / c1)) / (Math.sqrt(vv[i] / c2) + cfg.optimizer_eps);
    }
    out[name] = p;
  }
  return out;
}

const batch = makeBatch(B);
const inputs = policy.modelInputs(batch);
const flops = modelFlops(cfg, { batchSize: B, cameras: 1, promptLength: inputs.promptLength, actionLength: inputs.actionLength });

const timings = [];
for (let i = 0; i <= steps; i++) {
  const t0 = performance.now();
  const { grads } = policy.gradientsOf(inputs);
  const t1 = performance.now();
  policy.setParameters(adamw(policy.getParameters(), grads));
  const t2 = performance.now();
  if (i > 0) timings.push({ total: t2 - t0, grad: t1 - t0, opt: t2 - t1 });
}
const best = timings.reduce((a, b) => (b.total < a.total ? b : a));

const a = tf.randomNormal([1024, 1024]);
const bm = tf.randomNormal([1024, 1024]);
tf.matMul(a, bm).dispose();
let mmBest = Infinity;
for (let i = 0; i < 4; i++) {
  const t0 = performance.now();
  const c = tf.matMul(a, bm);
  c.dataSync();
  c.dispose();
  mmBest = Math.min(mmBest, performance.now() - t0);
}
a.dispose();
bm.dispose();
const mmGflops = (2 * 1024 ** 3) / (mmBest / 1000) / 1e9;
const stepGflops = flops.trainingStep / (best.total / 1000) / 1e9;

console.log(`training step (forward + backward + AdamW), best of ${steps}: ${best.total.toFixed(0)} ms (gradients ${best.grad.toFixed(0)} ms, AdamW + parameter copy ${best.opt.toFixed(0)} ms)`);
console.log(`model FLOPs per step: ${(flops.trainingStep / 1e9).toFixed(2)} GFLOP (forward ${(flops.forward / 1e9).toFixed(2)}: vision ${(flops.vision / 1e9).toFixed(2)}, decoder ${(flops.decoder / 1e9).toFixed(2)}, lm head ${(flops.lmHead / 1e9).toFixed(2)}; backward = 2× forward)`);
console.log(`achieved: ${stepGflops.toFixed(2)} GFLOP/s; tf.matMul 1024×1024: ${mmBest.toFixed(1)} ms = ${mmGflops.toFixed(1)} GFLOP/s; ratio ${(stepGflops / mmGflops).toFixed(3)} (target ≥ 0.35)`);

const one = makeBatch(1);
const decodeSteps = Number(args.decode_steps ?? cfg.max_decoding_steps);
const timeDecode = async (useKvCache) => {
  await policy.selectAction(one, { useKvCache, maxDecodingSteps: 4 });
  let bestMs = Infinity;
  let tokens = 0;
  for (let i = 0; i < 2; i++) {
    const t0 = performance.now();
    const r = await policy.selectAction(one, { useKvCache, maxDecodingSteps: decodeSteps });
    bestMs = Math.min(bestMs, performance.now() - t0);
    tokens = r.tokens[0].length;
  }
  return { ms: bestMs, tokens };
};
const cached = await timeDecode(true);
const plain = await timeDecode(false);
console.log(`selectAction (batch 1, ${cached.tokens} tokens): KV cache ${cached.ms.toFixed(0)} ms/chunk, no cache ${plain.ms.toFixed(0)} ms/chunk (${plain.tokens} tokens); speed-up ${(plain.ms / cached.ms).toFixed(2)}× (target ≥ 3×)`);
policy.dispose();
