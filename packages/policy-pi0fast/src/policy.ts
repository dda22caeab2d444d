import * as tf from "@tensorflow/tfjs-core";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { type PI0FastConfig, pi0FastConfig } from "./config";
import type { ModelInputs, TextTokenizer } from "./inputs";
import { actionLogSoftmax, actionLoss, decodeGreedy, tokenAccuracy, type DistillTargets } from "./model/pi0fast";
import {
  EMBED_TOKENS,
  PROJECTOR_PREFIX,
  initParameters,
  isVisionParameter,
  noWeightDecay as noWeightDecayByName,
  parameterShapes,
  seededRandom,
} from "./model/parameters";
import type { FastTokenizer } from "./fast/tokenizer";
import { byteLevelTokenizer } from "./text/byte-level";
import { loadHfTokenizer } from "./text/hf-tokenizer";
import { createProcessor, type Batch, type Processor } from "./processor";
import type { DatasetStats } from "./normalize";
import { PRETRAINED_FILES, readPretrained, writePretrained, type NamedArrays, type TextTokenizerSource } from "./checkpoint";

export { PRETRAINED_FILES, type NamedArrays, type TextTokenizerSource } from "./checkpoint";

/**
 * Feature key of the cached teacher outputs for the `distill` retention loss: Float32Array
 * [B, max_action_tokens − 1, k, 2] of the teacher's top-k (token id, log-prob) pairs at the action
 * positions (see DistillTargets), as `Pi0FastPolicy.teacherTopLogProbs` produces them. The anchor
 * cache (@craft/datasets `TEACHER_COLUMN`) stores them under the same name.
 */
export const TEACHER_LOG_PROBS_KEY = "teacher.action_top_log_probs";

/** Default k of the cached teacher top-k: 64 of PaliGemma's 257152 tokens is 127 KB per sample at 256 action tokens. */
export const DEFAULT_TEACHER_TOP_K = 64;

/**
 * What a teacher's cached outputs must share with the student that consumes them: the same token
 * ids (FAST and text tokenizers), vocabulary and action positions.
 */
export interface TeacherSignature {
  readonly vocab_size: number;
  readonly max_action_tokens: number;
  /** sha256 of the FAST tokenizer's JSON and the text tokenizer's source. */
  readonly tokenizer_sha256: string;
}

export interface CreatePi0FastPolicyOptions {
  /** A full or partial config (decoded with LeRobot defaults and the preset). */
  readonly config: unknown;
  readonly stats: DatasetStats;
  readonly fastTokenizer: FastTokenizer;
  /** Defaults to the byte-level tokenizer. */
  readonly textTokenizer?: TextTokenizer;
  readonly textTokenizerSource?: TextTokenizerSource;
  /** Camera keys in order; defaults to config.image_keys. */
  readonly imageKeys?: readonly string[];
  readonly seed?: number;
  /** Initial parameters (e.g. from a checkpoint); every name of `parameterShapes(config)` is required. */
  readonly parameters?: NamedArrays;
  /** Statistics of further robots the policy serves (cross-embodiment), each chosen by a batch's state/action dims. */
  readonly embodimentStats?: readonly DatasetStats[];
  /** LeRobot's `rename_map` (dataset key → policy key), applied to every batch and to the statistics. */
  readonly renameMap?: Readonly<Record<string, string>>;
}

export interface SelectedActions {
  /** [B, n_action_steps, actionDim], un-normalised. */
  readonly actions: Float32Array;
  /** Samples whose generated tokens were not a well-formed FAST sequence (decoded as FAST does). */
  readonly invalid: number;
  /** Generated token ids per sample (after `[BOS] Action: `). */
  readonly tokens: number[][];
}

/**
 * pi0-FAST as a trainable policy: satisfies the trainer's `TrainablePolicy<Batch>` structurally.
 * Holds its parameters as tfjs tensors on the current backend; every method leaves
 * `tf.memory().numTensors` as it found it.
 */
/**
 * Lets the event loop turn (timers, I/O, signal handlers) before a long synchronous stretch of tfjs
 * work. Without it, a loop of awaited calls runs on microtasks alone and starves everything else:
 * SIGINT/SIGTERM handlers (the output-dir lock's release), progress bars, and RPC timers such as
 * vitest's, which then fire late and report a timeout.
 */
const yieldToEventLoop = (): Promise<void> =>
  new Promise((resolve) => (typeof setImmediate === "function" ? setImmediate(resolve) : setTimeout(resolve, 0)));

export class Pi0FastPolicy {
  readonly config: PI0FastConfig;
  readonly processor: Processor;
  readonly stats: DatasetStats;
  /** Statistics of the further robots (cross-embodiment), saved and loaded with the checkpoint. */
  readonly embodimentStats: readonly DatasetStats[];
  readonly textTokenizer: TextTokenizer;
  readonly textTokenizerSource: TextTokenizerSource;
  readonly fastTokenizer: FastTokenizer;
  readonly shapes: Readonly<Record<string, number[]>>;
  private params: Record<string, tf.Tensor>;
  /**
   * Host copies of what was uploaded into `params`: the WebGPU backend in Node cannot read a GPU
   * tensor synchronously, so getParameters answers from here.
   */
  private host: Record<string, Float32Array> = {};
  /**
   * The run's train_config.json, when the policy is being trained: `save` copies it into
   * pretrained_model/ as LeRobot does.
   */
  trainConfig: unknown = undefined;
  private readonly trainable: readonly string[];
  private readonly random: () => number;
  private disposed = false;

  constructor(options: CreatePi0FastPolicyOptions) {
    const base = pi0FastConfig(options.config);
    const imageKeys = options.imageKeys ? [...options.imageKeys] : base.image_keys;
    this.config = { ...base, image_keys: imageKeys };
    this.stats = options.stats;
    this.embodimentStats = options.embodimentStats ?? [];
    this.textTokenizer = options.textTokenizer ?? byteLevelTokenizer();
    this.textTokenizerSource = options.textTokenizerSource ?? { type: "byte_level" };
    this.fastTokenizer = options.fastTokenizer;
    const vocab = this.config.decoder.vocab_size;
    if (this.textTokenizer.vocabSize > vocab) {
      throw new Error(`policy.decoder.vocab_size: expected ≥ text tokenizer vocab size ${this.textTokenizer.vocabSize}, got ${vocab}`);
    }
    if (this.config.empty_cameras === 0 && imageKeys.length === 0) {
      throw new Error(`policy.image_keys: expected at least one camera key or empty_cameras ≥ 1 (LeRobot requires an image), got none`);
    }
    this.processor = createProcessor(
      { ...this.config, vocab_size: vocab },
      { stats: [this.stats, ...this.embodimentStats], textTokenizer: this.textTokenizer, fastTokenizer: this.fastTokenizer, imageKeys, renameMap: options.renameMap },
    );
    this.shapes = parameterShapes(this.config);
    const seed = options.seed ?? 0;
    this.random = seededRandom(seed ^ 0x9e3779b9);
    const values = options.parameters ?? initParameters(this.config, seed);
    this.params = {};
    for (const [name, shape] of Object.entries(this.shapes)) {
      const data = values[name];
      if (!data) throw new Error(`parameters: missing "${name}" (shape [${shape.join(", ")}])`);
      // initParameters' arrays are ours; caller-supplied ones are copied (the caller may reuse them).
      this.host[name] = options.parameters ? Float32Array.from(checkSize(name, data, shape)) : checkSize(name, data, shape);
      this.params[name] = tf.tensor(this.host[name], shape, "float32");
    }
    this.trainable = Object.keys(this.shapes).filter(
      (name) => !(this.config.freeze_vision_encoder && isVisionParameter(name)) && !(this.config.freeze_lm_head && name === EMBED_TOKENS),
    );
  }

  /** Names of the parameters that receive gradients (frozen ones excluded). */
  get trainableNames(): readonly string[] {
    return this.trainable;
  }

  get numParameters(): number {
    return Object.values(this.shapes).reduce((s, shape) => s + shape.reduce((a, b) => a * b, 1), 0);
  }

  private check(): void {
    if (this.disposed) throw new Error("Pi0FastPolicy: used after dispose()");
  }

  /** Processor output for a batch (exposed for tests and for callers that tokenise once). */
  modelInputs(batch: Batch): ModelInputs {
    return this.processor.toModelInputs(batch);
  }

  private distillTargets(batch: Batch, inputs: ModelInputs): DistillTargets {
    const f = batch.features[TEACHER_LOG_PROBS_KEY];
    const positions = inputs.batchSize * (inputs.actionLength - 1);
    const k = f?.shape.length === 4 ? f.shape[2] : 0;
    if (!f || !(f.data instanceof Float32Array) || f.shape[0] !== inputs.batchSize || f.shape[1] !== inputs.actionLength - 1 || f.shape[3] !== 2 || f.data.length !== positions * k * 2) {
      throw new Error(
        `batch.features["${TEACHER_LOG_PROBS_KEY}"]: expected Float32Array [${inputs.batchSize}, ${inputs.actionLength - 1}, k, 2] (the teacher's top-k token ids and log-probs) for loss "distill", got ${f ? `${f.data.constructor.name} [${f.shape.join(", ")}]` : "nothing"}`,
      );
    }
    return { topLogProbs: f.data, k };
  }

  /** The token layout a cached teacher must share with this policy for the `distill` loss. */
  teacherSignature(): TeacherSignature {
    const hash = createHash("sha256").update(JSON.stringify(this.fastTokenizer.toJSON())).update(JSON.stringify(this.textTokenizerSource)).digest("hex");
    return { vocab_size: this.config.decoder.vocab_size, max_action_tokens: this.config.max_action_tokens, tokenizer_sha256: hash };
  }

  /**
   * Loss and gradients of every trainable parameter (Float32Array per name). Reads the device
   * asynchronously, so it also runs on backends without synchronous reads (WebGPU in Node).
   */
  async computeGradients(
    batch: Batch,
    options: { readonly loss?: "replay" | "distill" } = {},
  ): Promise<{ loss: number; grads: NamedArrays; metrics: Record<string, number> }> {
    await yieldToEventLoop();
    const inputs = this.processor.toModelInputs(batch);
    const run = this.lossAndGradTensors(inputs, options.loss === "distill" ? this.distillTargets(batch, inputs) : undefined);
    try {
      return run.finish(await Promise.all(run.tensors.map((t) => t.data())));
    } finally {
      run.tensors.forEach((t) => t.dispose());
    }
  }

  /** Same as computeGradients on already tokenised inputs (synchronous reads: cpu, wasm, tensorflow). */
  gradientsOf(inputs: ModelInputs, distill?: DistillTargets): { loss: number; grads: NamedArrays; metrics: Record<string, number> } {
    const run = this.lossAndGradTensors(inputs, distill);
    try {
      return run.finish(run.tensors.map((t) => t.dataSync()));
    } finally {
      run.tensors.forEach((t) => t.dispose());
    }
  }

  /** [loss, argmax predictions, ...grads] on the device, and how to turn their values into the result. */
  private lossAndGradTensors(
    inputs: ModelInputs,
    distill?: DistillTargets,
  ): { tensors: tf.Tensor[]; finish: (values: ArrayLike<number>[]) => { loss: number; grads: NamedArrays; metrics: Record<string, number> } } {
    this.check();
    // With every camera empty the vision tower and projector are not part of the graph (see
    // embedImages): their gradient is zero, and tf.grads refuses unconnected inputs.
    const visionUsed = inputs.imageMask.some((m) => m !== 0);
    const names = this.trainable.filter((n) => visionUsed || !isImagePathParameter(n));
    const unused = this.trainable.filter((n) => !names.includes(n));
    let predicted: tf.Tensor | undefined;
    let targets: Int32Array = new Int32Array(0);
    let weights: Float32Array = new Float32Array(0);
    const lossFn = (...ts: tf.Tensor[]): tf.Scalar => {
      const p: Record<string, tf.Tensor> = { ...this.params };
      names.forEach((n, i) => (p[n] = ts[i]));
      const out = actionLoss(p, this.config, inputs, distill);
      predicted = tf.keep(out.predicted);
      targets = out.targets;
      weights = out.weights;
      return out.loss;
    };
    const results = tf.tidy(() => {
      const { value, grads } = tf.valueAndGrads(lossFn)(names.map((n) => this.params[n]));
      return [value, ...grads];
    });
    const tensors = [results[0], predicted as tf.Tensor, ...results.slice(1)];
    const finish = (values: ArrayLike<number>[]) => {
      const grads: NamedArrays = {};
      names.forEach((n, i) => (grads[n] = Float32Array.from(values[i + 2])));
      for (const n of unused) grads[n] = new Float32Array(this.shapes[n].reduce((a, b) => a * b, 1));
      const accuracy = tokenAccuracy({ predictions: values[1] as Int32Array, targets, weights });
      return { loss: values[0][0], grads, metrics: { accuracy } };
    };
    return { tensors, finish };
  }

  async evaluate(batch: Batch, options: { readonly loss?: "replay" | "distill" } = {}): Promise<{ loss: number; metrics: Record<string, number> }> {
    await yieldToEventLoop();
    this.check();
    const inputs = this.processor.toModelInputs(batch);
    const distill = options.loss === "distill" ? this.distillTargets(batch, inputs) : undefined;
    const out = tf.tidy(() => {
      const o = actionLoss(this.params, this.config, inputs, distill);
      return { loss: o.loss, predicted: o.predicted, targets: o.targets, weights: o.weights };
    });
    try {
      const [loss, predictions] = await Promise.all([out.loss.data(), out.predicted.data()]);
      return { loss: loss[0], metrics: { accuracy: tokenAccuracy({ predictions: predictions as Int32Array, targets: out.targets, weights: out.weights }) } };
    } finally {
      out.loss.dispose();
      out.predicted.dispose();
    }
  }

  /**
   * The current model's `k` most likely tokens and their log-probs at each action position,
   * [B, max_action_tokens − 1, k, 2] (id, log-prob): the teacher outputs the `distill` retention
   * loss consumes (cache them per anchor row). k is capped at vocab_size (then the loss is the full KL).
   */
  async teacherTopLogProbs(batch: Batch, k: number = DEFAULT_TEACHER_TOP_K): Promise<{ data: Float32Array; shape: number[] }> {
    this.check();
    const vocab = this.config.decoder.vocab_size;
    if (!Number.isInteger(k) || k < 1) throw new Error(`teacher top_k: expected a positive integer, got ${k}`);
    const kk = Math.min(k, vocab);
    const inputs = this.processor.toModelInputs(batch);
    const top = tf.tidy(() => {
      const { values, indices } = tf.topk(actionLogSoftmax(this.params, this.config, inputs).logProbs, kk);
      return [values, indices];
    });
    try {
      const [values, indices] = await Promise.all(top.map((t) => t.data()));
      const data = new Float32Array(values.length * 2);
      for (let i = 0; i < values.length; i++) {
        data[2 * i] = indices[i];
        data[2 * i + 1] = values[i];
      }
      return { data, shape: [inputs.batchSize, inputs.actionLength - 1, kk, 2] };
    } finally {
      top.forEach((t) => t.dispose());
    }
  }

  /**
   * Greedy (temperature 0) or sampled decoding, under the FAST grammar when `constrained_decoding`
   * (the option overrides the config), then FAST detokenisation and un-normalisation. `invalid`
   * is counted by the same decoder either way.
   */
  async selectAction(
    batch: Batch,
    options: { readonly useKvCache?: boolean; readonly maxDecodingSteps?: number; readonly constrainedDecoding?: boolean } = {},
  ): Promise<SelectedActions> {
    await yieldToEventLoop();
    this.check();
    const inputs = this.processor.toPromptInputs(batch);
    const actionDim = this.processor.actionDimFor(batch);
    const maxSteps = options.maxDecodingSteps ?? this.config.max_decoding_steps;
    const constrained = options.constrainedDecoding ?? this.config.constrained_decoding;
    const tokens = decodeGreedy(this.params, this.config, inputs, {
      maxSteps,
      eosId: this.textTokenizer.eosId,
      useKvCache: options.useKvCache ?? this.config.use_kv_cache,
      temperature: this.config.temperature,
      random: this.random,
      constraint: constrained ? this.processor.decodeConstraint(actionDim, maxSteps) : undefined,
    });
    const decoded = this.processor.decodeActions(tokens, actionDim);
    return { actions: decoded.actions, invalid: decoded.invalid, tokens };
  }

  /**
   * Copies of the trainable parameters by checkpoint name (the trainer's contract); with
   * `includeFrozen`, of every parameter.
   */
  getParameters(options: { readonly includeFrozen?: boolean } = {}): NamedArrays {
    this.check();
    const out: NamedArrays = {};
    const names = options.includeFrozen ? Object.keys(this.params) : this.trainable;
    for (const name of names) out[name] = this.host[name].slice();
    return out;
  }

  /** Replace the named parameters (any subset); unknown names and wrong sizes are errors. */
  setParameters(values: NamedArrays): void {
    this.check();
    for (const [name, data] of Object.entries(values)) {
      const shape = this.shapes[name];
      if (!shape) throw new Error(`setParameters: unknown parameter "${name}"`);
      const copy = Float32Array.from(checkSize(name, data, shape));
      const next = tf.tensor(copy, shape, "float32");
      this.params[name].dispose();
      this.params[name] = next;
      this.host[name] = copy;
    }
  }

  noWeightDecay(name: string): boolean {
    return noWeightDecayByName(name);
  }

  /**
   * Write `dir/pretrained_model/` in LeRobot's layout (see checkpoint.ts): config.json in its
   * schema + craft_config.json, model.safetensors, policy_{pre,post}processor.json with their
   * normaliser state, the tokenizers and, when given, the run's train_config.json.
   */
  async save(dir: string, options: { readonly trainConfig?: unknown } = {}): Promise<void> {
    this.check();
    await writePretrained(join(dir, "pretrained_model"), {
      config: this.config,
      parameters: this.getParameters({ includeFrozen: true }),
      stats: this.stats,
      embodimentStats: this.embodimentStats,
      fastTokenizer: this.fastTokenizer,
      textTokenizerSource: this.textTokenizerSource,
      trainConfig: options.trainConfig ?? this.trainConfig,
    });
  }

  dispose(): void {
    if (this.disposed) return;
    for (const t of Object.values(this.params)) t.dispose();
    this.params = {};
    this.host = {};
    this.disposed = true;
  }
}

const isImagePathParameter = (name: string): boolean => isVisionParameter(name) || name.startsWith(PROJECTOR_PREFIX);

function checkSize(name: string, data: Float32Array, shape: readonly number[]): Float32Array {
  const size = shape.reduce((a, b) => a * b, 1);
  if (data.length !== size) throw new Error(`parameter "${name}": expected ${size} values [${shape.join(", ")}], got ${data.length}`);
  return data;
}


export function createPi0FastPolicy(options: CreatePi0FastPolicyOptions): Pi0FastPolicy {
  return new Pi0FastPolicy(options);
}

export interface LoadPi0FastPolicyOptions {
  /**
   * The action tokenizer, replacing the folder's; required when the folder has none (LeRobot
   * checkpoints name theirs in config.json's action_tokenizer_name, resolved by the caller).
   */
  readonly fastTokenizer?: FastTokenizer;
  /** The text tokenizer, replacing the folder's; required when the folder has none (config.json's text_tokenizer_name). */
  readonly textTokenizer?: TextTokenizer;
  /** Where `textTokenizer` came from, so a later save copies it into the checkpoint (default byte-level). */
  readonly textTokenizerSource?: TextTokenizerSource;
  /** Called once with the line naming the LeRobot fields read but not used (default: console.warn). */
  readonly warn?: (line: string) => void;
  /** Fine-tuning on another robot (LeRobot rebuilds its processors with the new dataset's stats): these replace the checkpoint's. */
  readonly stats?: DatasetStats;
  readonly embodimentStats?: readonly DatasetStats[];
  readonly renameMap?: Readonly<Record<string, string>>;
}

/**
 * Rebuild a policy from `dir/pretrained_model/` (or from that folder itself): a folder craft wrote,
 * or one LeRobot wrote. Every file is checked before the policy is built.
 */
export async function loadPi0FastPolicy(dir: string, options: LoadPi0FastPolicyOptions = {}): Promise<Pi0FastPolicy> {
  const read = await readPretrained(dir);
  const { config } = read;
  const fastTokenizer =
    options.fastTokenizer ??
    read.fastTokenizer ??
    missing(join(read.dir, PRETRAINED_FILES.actionTokenizer), `the FAST action tokenizer; config.json names ${JSON.stringify(config.action_tokenizer_name)}`);
  let textTokenizer = options.textTokenizer;
  let textTokenizerSource: TextTokenizerSource = options.textTokenizerSource ?? { type: "byte_level" };
  if (textTokenizer === undefined) {
    const source = read.textTokenizer ?? missing(join(read.dir, PRETRAINED_FILES.hfTokenizer), `the text tokenizer; config.json names ${JSON.stringify(config.text_tokenizer_name)}`);
    textTokenizer = source.type === "hf" ? loadHfTokenizer(source.path) : byteLevelTokenizer();
    textTokenizerSource = source;
  }
  for (const line of read.warnings) (options.warn ?? console.warn)(line);
  return new Pi0FastPolicy({
    config,
    stats: options.stats ?? read.stats,
    // The checkpoint's robots first: a robot of their dims keeps the statistics it was trained with.
    embodimentStats: [...read.embodimentStats, ...(options.embodimentStats ?? [])],
    renameMap: options.renameMap,
    fastTokenizer,
    textTokenizer,
    textTokenizerSource,
    imageKeys: config.image_keys,
    parameters: read.parameters,
  });
}

function missing(path: string, what: string): never {
  throw new Error(`${path}: missing (${what}; pass it to loadPi0FastPolicy or add the file)`);
}
