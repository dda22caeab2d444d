import * as tf from "@tensorflow/tfjs-core";
import type { PI0FastConfig } from "../config";
import type { ModelInputs } from "../inputs";
import { maskBias, ropeTables, sequenceLayout, type SequenceLayout } from "./attention";
import { decoderStack, embedTokens, lmHead, type LayerCache } from "./decoder";
import { visionTower, type Params } from "./vision";
import { withTransposedWeights } from "./ops";

/**
 * pi0-FAST forward, loss and greedy decoding (LeRobot `PI0FastPytorch.forward`,
 * `sample_actions_fast`, `sample_actions_fast_kv_cache`) as functions of a parameter map, so
 * gradients can be taken with respect to any subset of it.
 */

export type ModelConfig = Pick<PI0FastConfig, "vision" | "decoder"> & { readonly scale_decoder_inputs?: boolean };

/**
 * An extra factor on every decoder input (image features and token embeddings), applied only with
 * `scale_decoder_inputs: true`: LeRobot's PiGemma multiplied its inputs by √width until the
 * transformers 5.4 bump (May 2026). Current LeRobot (pi_gemma.py, modeling_pi0_fast.py) scales
 * token embeddings by √width once (Gemma's scaled embedding, our embedTokens) and leaves image
 * features as the projector gives them, as openpi does, so the default is no extra factor.
 */
const inputScale = (config: ModelConfig): number => (config.scale_decoder_inputs === true ? Math.sqrt(config.decoder.width) : 1);

/**
 * Teacher outputs for the distillation retention loss: at each action position the teacher's `k`
 * most likely tokens as (token id, log-prob) pairs, [B, La − 1, k, 2] (ids stored as float32, exact
 * below 2^24). The full distribution would be [B, La − 1, vocab] — 516 KB per sample for the tiny
 * preset (vocab 2048, 64 action tokens), 263 MB for PaliGemma's 257152 × 256 — so only the head is
 * kept, and the tail is one "rest" bucket (see actionLoss); with k ≥ vocab it is the exact KL.
 */
export interface DistillTargets {
  readonly topLogProbs: Float32Array;
  readonly k: number;
}

/**
 * Image tokens [B, cams·patches, width] and their validity, or null without cameras. A camera that
 * is empty in every sample of the batch is left out of the sequence: its tokens would be masked
 * as keys and never be targets, so dropping them changes no output (positions count valid tokens
 * only) and saves the vision tower and the attention over them.
 */
function embedImages(params: Params, config: ModelConfig, inputs: ModelInputs): { embs: tf.Tensor | null; valid: Uint8Array; count: number } {
  const [B, nCams, H, W] = inputs.imageShape;
  const cams = Array.from({ length: nCams }, (_, c) => c).filter((c) => {
    for (let b = 0; b < B; b++) if (inputs.imageMask[b * nCams + c]) return true;
    return false;
  });
  if (cams.length === 0) return { embs: null, valid: new Uint8Array(0), count: 0 };
  const per = H * W * 3;
  let pixels = inputs.images;
  if (cams.length !== nCams) {
    pixels = new Float32Array(B * cams.length * per);
    for (let b = 0; b < B; b++) {
      cams.forEach((c, k) => pixels.set(inputs.images.subarray((b * nCams + c) * per, (b * nCams + c + 1) * per), (b * cams.length + k) * per));
    }
  }
  const images = tf.tensor4d(pixels, [B * cams.length, H, W, 3]);
  const feats = visionTower(params, config.vision, config.decoder, images);
  const perCam = feats.shape[1] as number;
  const count = cams.length * perCam;
  const valid = new Uint8Array(B * count);
  for (let b = 0; b < B; b++) {
    cams.forEach((c, k) => {
      if (inputs.imageMask[b * nCams + c]) valid.fill(1, b * count + k * perCam, b * count + (k + 1) * perCam);
    });
  }
  return { embs: tf.reshape(feats, [B, count, config.decoder.width]), valid, count };
}

/** Embeddings of [images | prompt | action block] and the matching layout. */
function embedSequence(
  params: Params,
  config: ModelConfig,
  inputs: ModelInputs,
  imageEmbs?: { embs: tf.Tensor | null; valid: Uint8Array; count: number },
): { x: tf.Tensor; layout: SequenceLayout } {
  const B = inputs.batchSize;
  const Lp = inputs.promptLength;
  const La = inputs.actionLength;
  const images = imageEmbs ?? embedImages(params, config, inputs);
  const Ni = images.count;
  const ids = new Int32Array(B * (Lp + La));
  const prefixValid = new Uint8Array(B * (Ni + Lp));
  for (let b = 0; b < B; b++) {
    ids.set(inputs.promptTokens.subarray(b * Lp, (b + 1) * Lp), b * (Lp + La));
    ids.set(inputs.actionTokens.subarray(b * La, (b + 1) * La), b * (Lp + La) + Lp);
    prefixValid.set(images.valid.subarray(b * Ni, (b + 1) * Ni), b * (Ni + Lp));
    prefixValid.set(inputs.promptMask.subarray(b * Lp, (b + 1) * Lp), b * (Ni + Lp) + Ni);
  }
  const D = config.decoder.width;
  const text = tf.reshape(embedTokens(params, config.decoder, tf.tensor1d(ids, "int32")), [B, Lp + La, D]);
  const joined = images.embs ? tf.concat([images.embs, text], 1) : text;
  const scale = inputScale(config);
  const x = scale === 1 ? joined : tf.mul(joined, scale);
  const layout = sequenceLayout(B, prefixValid, Ni + Lp, inputs.actionMask, La);
  return { x: tf.reshape(x, [B * layout.length, D]), layout };
}

function runDecoder(params: Params, config: ModelConfig, x: tf.Tensor, layout: SequenceLayout): { hidden: tf.Tensor; caches: LayerCache[] } {
  const rope = ropeTables(layout.positions, layout.batchSize, layout.length, config.decoder.head_dim);
  const bias = maskBias(layout.allowed, layout.batchSize, layout.length, layout.length);
  return decoderStack(params, config.decoder, x, layout.batchSize, layout.length, rope, bias);
}

/**
 * Hidden states at the action positions that predict a target: position j − 1 predicts action
 * token j, so positions 0 … La − 2 → [B·(La − 1), width].
 */
function actionHidden(hidden: tf.Tensor, layout: SequenceLayout, width: number, actionLength: number): tf.Tensor {
  const B = layout.batchSize;
  const h3 = tf.reshape(hidden, [B, layout.length, width]);
  const sliced = tf.slice(h3, [0, layout.prefixLength, 0], [B, actionLength - 1, width]);
  return tf.reshape(sliced, [B * (actionLength - 1), width]);
}

/** Targets (action tokens 1 … La − 1) and their weights lossMask / Σ lossMask. */
function targetsAndWeights(inputs: ModelInputs): { targets: Int32Array; weights: Float32Array; count: number } {
  const B = inputs.batchSize;
  const La = inputs.actionLength;
  const targets = new Int32Array(B * (La - 1));
  const weights = new Float32Array(B * (La - 1));
  let count = 0;
  for (let b = 0; b < B; b++) {
    for (let j = 1; j < La; j++) {
      targets[b * (La - 1) + j - 1] = inputs.actionTokens[b * La + j];
      if (inputs.lossMask[b * La + j]) {
        weights[b * (La - 1) + j - 1] = 1;
        count++;
      }
    }
  }
  const denom = Math.max(count, 1);
  for (let i = 0; i < weights.length; i++) weights[i] /= denom;
  return { targets, weights, count };
}

/** Logits and log-softmax at the action positions 0 … La − 2: [B·(La − 1), vocab]. */
export function actionLogSoftmax(params: Params, config: ModelConfig, inputs: ModelInputs): { logits: tf.Tensor; logProbs: tf.Tensor } {
  if (inputs.actionLength < 2) throw new Error(`ModelInputs.actionLength: expected ≥ 2 (BOS and a target), got ${inputs.actionLength}`);
  const { x, layout } = embedSequence(params, config, inputs);
  const { hidden } = runDecoder(params, config, x, layout);
  const h = actionHidden(hidden, layout, config.decoder.width, inputs.actionLength);
  const logits = lmHead(params, h);
  return { logits, logProbs: tf.logSoftmax(logits) };
}

export interface LossOutput {
  readonly loss: tf.Scalar;
  /**
   * Argmax of the logits at each target position [B·(La − 1)] (for accuracy), read synchronously
   * on first access (not possible on the WebGPU backend in Node: read `predicted` with data()).
   */
  readonly predictions: Int32Array;
  /** The same argmax as an int32 tensor [B·(La − 1)], disposed with the enclosing scope. */
  readonly predicted: tf.Tensor1D;
  readonly targets: Int32Array;
  readonly weights: Float32Array;
}

/**
 * Mean cross-entropy over the action tokens under `lossMask` (LeRobot: logits[:, i] predict
 * targets[:, i + 1]). With `distill`, the loss is instead the masked mean KL(teacher ‖ student)
 * (see distillLoss).
 */
export function actionLoss(params: Params, config: ModelConfig, inputs: ModelInputs, distill?: DistillTargets): LossOutput {
  const { logits, logProbs } = actionLogSoftmax(params, config, inputs);
  const { targets, weights } = targetsAndWeights(inputs);
  const predicted = tf.argMax(logits, -1) as tf.Tensor1D;
  const vocab = config.decoder.vocab_size;
  let loss: tf.Scalar;
  if (distill) {
    loss = distillLoss(logProbs, distill, weights, vocab);
  } else {
    // The weighted one-hot is built here rather than with tf.oneHot, whose wasm kernel ignores
    // the float32 dtype (tfjs 4.22 writes int32 bits).
    const picked = new Float32Array(targets.length * vocab);
    for (let i = 0; i < targets.length; i++) if (weights[i] > 0) picked[i * vocab + targets[i]] = weights[i];
    loss = tf.neg(tf.sum(tf.mul(logProbs, tf.tensor2d(picked, [targets.length, vocab])))) as tf.Scalar;
  }
  let predictions: Int32Array | undefined;
  return {
    loss,
    predicted,
    get predictions() {
      return (predictions ??= (predicted.dataSync() as Int32Array).slice());
    },
    targets,
    weights,
  };
}

/**
 * Σ_n w_n · KL(p_n ‖ q_n) between the teacher p and the student q = softmax(logits), both coarsened
 * to the teacher's top-k tokens plus one bucket for every other token:
 * KL_n = Σ_k p_k (log p_k − log q_k) + p_rest (log p_rest − log q_rest), p_rest = 1 − Σ_k p_k,
 * log q_rest = logsumexp of the student's log-probs outside the top k. A KL between distributions
 * (≥ 0, 0 iff they agree on the buckets); the teacher's terms are constants for the gradient.
 */
function distillLoss(logProbs: tf.Tensor, distill: DistillTargets, weights: Float32Array, vocab: number): tf.Scalar {
  const N = weights.length;
  const { topLogProbs: pairs, k } = distill;
  if (!Number.isInteger(k) || k < 1 || pairs.length !== N * k * 2) {
    throw new Error(`teacher top log-probs: expected ${N} positions × k × 2 values [B, La − 1, k, (id, log-prob)], got ${pairs.length} with k=${k}`);
  }
  const picked = new Float32Array(N * vocab);
  const restBias = k < vocab ? new Float32Array(N * vocab) : null;
  const restWeight = new Float32Array(N);
  let constant = 0;
  for (let n = 0; n < N; n++) {
    const w = weights[n];
    if (!(w > 0)) continue;
    let mass = 0;
    for (let j = 0; j < k; j++) {
      const id = pairs[(n * k + j) * 2];
      const lp = pairs[(n * k + j) * 2 + 1];
      if (!Number.isInteger(id) || id < 0 || id >= vocab) throw new Error(`teacher top log-probs: token id ${id} at position ${n} is not in 0..${vocab - 1} (the student's vocab_size)`);
      if (restBias) restBias[n * vocab + id] = -1e4;
      const p = Math.exp(lp);
      if (p === 0) continue;
      picked[n * vocab + id] += w * p;
      constant += w * p * lp;
      mass += p;
    }
    const rest = restBias ? 1 - mass : 0;
    if (rest > 0) {
      restWeight[n] = w * rest;
      constant += w * rest * Math.log(rest);
    }
  }
  let cross = tf.sum(tf.mul(logProbs, tf.tensor2d(picked, [N, vocab])));
  if (restBias) {
    // −1e4 on the top-k entries leaves only the tail in the logsumexp (exp(−1e4) is 0 in float32).
    const logRest = tf.logSumExp(tf.add(logProbs, tf.tensor2d(restBias, [N, vocab])), -1);
    cross = tf.add(cross, tf.sum(tf.mul(logRest, tf.tensor1d(restWeight))));
  }
  return tf.sub(tf.scalar(constant), cross) as tf.Scalar;
}

/** Masked accuracy of argmax predictions. */
export function tokenAccuracy(out: Pick<LossOutput, "predictions" | "targets" | "weights">): number {
  let hit = 0;
  let total = 0;
  for (let i = 0; i < out.targets.length; i++) {
    if (out.weights[i] > 0) {
      total++;
      if (out.predictions[i] === out.targets[i]) hit++;
    }
  }
  return total > 0 ? hit / total : 0;
}

/**
 * A grammar over the generated tokens, applied as a logits mask before each pick: per batch row,
 * the ids that may come next. It is stateful for one decode; the model knows nothing of what it
 * encodes (the FAST grammar lives in fast/grammar.ts).
 */
export interface DecodeConstraint {
  /** Row `b` starts generating (called once per row before the first step). */
  start(b: number): void;
  /** The ids row `b` may emit next, in ascending order; null when any id may. */
  allowed(b: number): Int32Array | null;
  /** Row `b` emitted `token`. */
  advance(b: number, token: number): void;
}

export interface DecodeOptions {
  readonly maxSteps: number;
  readonly eosId: number;
  readonly useKvCache: boolean;
  /** 0 = greedy (argmax); > 0 samples with a seeded generator. */
  readonly temperature?: number;
  readonly random?: () => number;
  /** Logits outside `constraint.allowed(b)` are set to −Infinity before row b's argmax or sampling. */
  readonly constraint?: DecodeConstraint;
}

function lastValidIndex(mask: Uint8Array, b: number, length: number): number {
  for (let j = length - 1; j >= 0; j--) if (mask[b * length + j]) return j;
  return 0;
}

/**
 * Sets every logit outside each unfinished row's allowed ids to −Infinity, in place. Returns the
 * allowed lists (null: unconstrained) so a row whose allowed logits are all −Infinity or NaN still
 * gets an allowed id.
 */
function maskLogits(logits: Float32Array, vocab: number, constraint: DecodeConstraint, done: readonly boolean[]): (Int32Array | null)[] {
  return done.map((finished, b) => {
    if (finished) return null;
    const allowed = constraint.allowed(b);
    if (allowed === null) return null;
    const row = logits.subarray(b * vocab, (b + 1) * vocab);
    const kept = new Float32Array(allowed.length);
    for (let i = 0; i < allowed.length; i++) kept[i] = row[allowed[i]];
    row.fill(-Infinity);
    for (let i = 0; i < allowed.length; i++) row[allowed[i]] = kept[i];
    return allowed;
  });
}

function pickTokens(logits: Float32Array, batchSize: number, vocab: number, options: DecodeOptions, done: readonly boolean[]): Int32Array {
  const allowed = options.constraint ? maskLogits(logits, vocab, options.constraint, done) : null;
  const out = pickUnmasked(logits, batchSize, vocab, options);
  if (allowed) {
    allowed.forEach((ids, b) => {
      if (ids !== null && ids.length > 0 && !(logits[b * vocab + out[b]] > -Infinity)) out[b] = ids[0];
    });
  }
  return out;
}

function pickUnmasked(logits: Float32Array, batchSize: number, vocab: number, options: DecodeOptions): Int32Array {
  const out = new Int32Array(batchSize);
  const temperature = options.temperature ?? 0;
  for (let b = 0; b < batchSize; b++) {
    const row = logits.subarray(b * vocab, (b + 1) * vocab);
    if (temperature > 0 && options.random) {
      let max = -Infinity;
      for (let i = 0; i < vocab; i++) max = Math.max(max, row[i]);
      let sum = 0;
      const p = new Float64Array(vocab);
      for (let i = 0; i < vocab; i++) sum += p[i] = Math.exp((row[i] - max) / temperature);
      let r = options.random() * sum;
      let pick = vocab - 1;
      for (let i = 0; i < vocab; i++) {
        r -= p[i];
        if (r <= 0) {
          pick = i;
          break;
        }
      }
      out[b] = pick;
    } else {
      let best = 0;
      for (let i = 1; i < vocab; i++) if (row[i] > row[best]) best = i;
      out[b] = best;
    }
  }
  return out;
}

/**
 * Autoregressive decoding after the prompt inputs' action block (usually `[BOS]`, possibly
 * `[BOS] Action: `). Returns the generated ids per sample, up to and including EOS (or
 * `maxSteps` of them). The cache path prefills [images | prompt | start] once, then feeds one token
 * per step; the no-cache path recomputes the decoder over the whole sequence every step (image
 * features are computed once in both).
 */
export function decodeGreedy(params: Params, config: ModelConfig, inputs: ModelInputs, options: DecodeOptions): number[][] {
  return withTransposedWeights(params, () => decodeWith(params, config, inputs, options));
}

function decodeWith(params: Params, config: ModelConfig, inputs: ModelInputs, options: DecodeOptions): number[][] {
  const B = inputs.batchSize;
  const vocab = config.decoder.vocab_size;
  const D = config.decoder.width;
  const generated: number[][] = Array.from({ length: B }, () => []);
  const done = new Array<boolean>(B).fill(false);
  const constraint = options.constraint;
  for (let b = 0; b < B; b++) constraint?.start(b);
  const record = (tokens: Int32Array): boolean => {
    for (let b = 0; b < B; b++) {
      if (done[b]) continue;
      generated[b].push(tokens[b]);
      constraint?.advance(b, tokens[b]);
      if (tokens[b] === options.eosId) done[b] = true;
    }
    return done.every(Boolean);
  };
  let meta: { valid: Uint8Array; count: number } = { valid: new Uint8Array(0), count: 0 };
  let embs: tf.Tensor | null = null;
  const kept = tf.tidy(() => {
    const r = embedImages(params, config, inputs);
    meta = { valid: r.valid, count: r.count };
    return r.embs ?? [];
  });
  if (!Array.isArray(kept)) embs = kept as tf.Tensor;
  const images = { embs, ...meta };
  try {
    if (options.useKvCache) {
      let caches: LayerCache[] = [];
      let valid: Uint8Array<ArrayBufferLike>;
      let next: Int32Array;
      {
        const prefill = tf.tidy(() => {
          const { x, layout } = embedSequence(params, config, inputs, images);
          const { hidden, caches: c } = runDecoder(params, config, x, layout);
          const rows = Array.from({ length: B }, (_, b) => b * layout.length + layout.prefixLength + lastValidIndex(inputs.actionMask, b, inputs.actionLength));
          const logits = lmHead(params, tf.gather(hidden, tf.tensor1d(rows, "int32")));
          return { logits, caches: c.flatMap((l) => [l.k, l.v]), valid: layout.valid };
        });
        const logits = prefill.logits.dataSync() as Float32Array;
        prefill.logits.dispose();
        caches = [];
        for (let i = 0; i < prefill.caches.length; i += 2) caches.push({ k: prefill.caches[i], v: prefill.caches[i + 1] });
        valid = prefill.valid;
        next = pickTokens(logits, B, vocab, options, done);
      }
      let finished = record(next);
      try {
        for (let step = 1; step < options.maxSteps && !finished; step++) {
          const L = valid.length / B + 1;
          const grown = new Uint8Array(B * L);
          const positions = new Float32Array(B);
          for (let b = 0; b < B; b++) {
            let count = 0;
            for (let j = 0; j < L - 1; j++) count += grown[b * L + j] = valid[b * (L - 1) + j];
            grown[b * L + L - 1] = 1;
            positions[b] = count;
          }
          valid = grown;
          const tokens = next;
          const out = tf.tidy(() => {
            const x = tf.mul(embedTokens(params, config.decoder, tf.tensor1d(tokens, "int32")), inputScale(config));
            const rope = ropeTables(positions, B, 1, config.decoder.head_dim);
            const bias = maskBias(grown, B, 1, L);
            const { hidden, caches: c } = decoderStack(params, config.decoder, tf.reshape(x, [B, D]), B, 1, rope, bias, caches);
            return { logits: lmHead(params, hidden), caches: c.flatMap((l) => [l.k, l.v]) };
          });
          for (const c of caches) {
            c.k.dispose();
            c.v.dispose();
          }
          caches = [];
          for (let i = 0; i < out.caches.length; i += 2) caches.push({ k: out.caches[i], v: out.caches[i + 1] });
          const logits = out.logits.dataSync() as Float32Array;
          out.logits.dispose();
          next = pickTokens(logits, B, vocab, options, done);
          finished = record(next);
        }
      } finally {
        for (const c of caches) {
          c.k.dispose();
          c.v.dispose();
        }
      }
    } else {
      const La0 = inputs.actionLength;
      const appended: Int32Array[] = [];
      for (let step = 0; step < options.maxSteps; step++) {
        const La = La0 + appended.length;
        const actionTokens = new Int32Array(B * La);
        const actionMask = new Uint8Array(B * La);
        for (let b = 0; b < B; b++) {
          actionTokens.set(inputs.actionTokens.subarray(b * La0, (b + 1) * La0), b * La);
          actionMask.set(inputs.actionMask.subarray(b * La0, (b + 1) * La0), b * La);
          for (let t = 0; t < appended.length; t++) {
            actionTokens[b * La + La0 + t] = appended[t][b];
            actionMask[b * La + La0 + t] = 1;
          }
        }
        const grownInputs: ModelInputs = { ...inputs, actionTokens, actionMask, lossMask: actionMask, actionLength: La };
        const logitsT = tf.tidy(() => {
          const { x, layout } = embedSequence(params, config, grownInputs, images);
          const { hidden } = runDecoder(params, config, x, layout);
          const rows = Array.from({ length: B }, (_, b) => b * layout.length + layout.prefixLength + lastValidIndex(actionMask, b, La));
          return lmHead(params, tf.gather(hidden, tf.tensor1d(rows, "int32")));
        });
        const logits = logitsT.dataSync() as Float32Array;
        logitsT.dispose();
        const next = pickTokens(logits, B, vocab, options, done);
        appended.push(next);
        if (record(next)) break;
      }
    }
  } finally {
    images.embs?.dispose();
  }
  return generated;
}
