/**
 * LeRobot's pi0-FAST pre/post-processing (processor_pi0_fast.py + tokenizer_processor.py):
 * batch → {images, prompt tokens, action tokens, masks}, and generated ids → actions.
 *
 * Choices, following LeRobot:
 * - The prompt is `[BOS] Task: {task.strip(), "_"→" ", "\n"→" "}, State: {bins};\n` (the PaliGemma
 *   tokenizer adds BOS by default), right padded with pad ids, truncated to tokenizer_max_length.
 * - State bins: np.digitize(state, linspace(−1, 1, 257)[:-1]) − 1 over the normalised state padded
 *   with zeros to max_state_dim; values below −1 (bin −1 in LeRobot) are clipped to bin 0.
 * - FAST runs on the chunk's real action_dim (LeRobot tokenises the normalised action before any
 *   padding to max_action_dim), on the whole chunk including steps marked action_is_pad.
 * - Action block: `[BOS] tok("Action: ") fast… tok("|") [EOS]`; fast token t ↦ vocab_size − 1 −
 *   fast_skip_tokens − t; truncated or zero-padded to max_action_tokens. lossMask = actionMask
 *   without the BOS position.
 * - Decoding cuts the generation at the first "|" (or EOS), drops a repeated "Action: " prefix,
 *   maps ids back to FAST tokens and decodes relaxed (zero-pad / truncate in DCT space, as
 *   LeRobot's decode_actions_with_fast). Unlike LeRobot, which decodes with horizon n_action_steps,
 *   we decode the whole chunk_size horizon the tokens were made from and keep its first
 *   n_action_steps steps, so the inverse DCT uses the same length as the forward one.
 */
import type { ModelInputs, TextTokenizer } from "./inputs";
import type { FastTokenizer } from "./fast/tokenizer";
import { quantileNormalizer, type DatasetStats } from "./normalize";
import { resizeWithPad } from "./image";

export interface ArrayTensor {
  readonly data: Float32Array | Uint8Array | Int32Array;
  readonly shape: readonly number[];
}
/** Structurally the batch of @craft/datasets (the policy does not depend on it). */
export interface Batch {
  readonly size: number;
  readonly features: Readonly<Record<string, ArrayTensor>>;
  readonly task: readonly string[];
}

export interface ProcessorConfig {
  readonly chunk_size: number;
  readonly n_action_steps: number;
  readonly max_state_dim: number;
  readonly max_action_dim: number;
  readonly max_action_tokens: number;
  readonly tokenizer_max_length: number;
  readonly fast_skip_tokens: number;
  /** [height, width] */
  readonly image_resolution: readonly [number, number];
  readonly empty_cameras: number;
  readonly vocab_size: number;
}

export interface ProcessorDeps {
  readonly stats: DatasetStats;
  readonly textTokenizer: TextTokenizer;
  readonly fastTokenizer: FastTokenizer;
  readonly imageKeys: readonly string[];
  readonly stateKey?: string;
  readonly actionKey?: string;
}

export interface DecodedActions {
  /** [B, n_action_steps, actionDim], un-normalised. */
  readonly actions: Float32Array;
  /** Number of samples whose tokens were not a well-formed FAST sequence. */
  readonly invalid: number;
}

export interface Processor {
  toModelInputs(batch: Batch): ModelInputs;
  toPromptInputs(batch: Batch): ModelInputs;
  actionTokenToId(t: number): number;
  idToActionToken(id: number): number;
  decodeActions(generated: readonly (readonly number[])[]): DecodedActions;
  /** Prompt text of one sample (before tokenisation), for inspection and tests. */
  promptText(task: string, normalizedState: ArrayLike<number>): string;
  readonly actionDim: number;
  readonly stateDim: number;
}

const STATE_BINS = 256;

/** np.digitize(x, linspace(−1, 1, 257)[:-1]) − 1, clipped to 0..255. */
export function discretizeState(x: number): number {
  if (!(x >= -1)) return 0; // also NaN
  // bins[i] = −1 + 2i/256; digitize returns the count of bins ≤ x
  let bin = Math.floor(((x + 1) * STATE_BINS) / 2);
  // guard floating error at bin edges: keep bins[bin] ≤ x < bins[bin + 1]
  if (-1 + (2 * bin) / STATE_BINS > x) bin -= 1;
  else if (bin + 1 < STATE_BINS && -1 + (2 * (bin + 1)) / STATE_BINS <= x) bin += 1;
  return Math.min(STATE_BINS - 1, Math.max(0, bin));
}

/** `task.strip().replace("_", " ").replace("\n", " ")` as LeRobot writes it. */
export function cleanTask(task: string): string {
  return task.trim().split("_").join(" ").split("\n").join(" ");
}

function feature(batch: Batch, key: string): ArrayTensor {
  const f = batch.features[key];
  if (f === undefined) throw new Error(`batch.features: missing "${key}" (have ${Object.keys(batch.features).join(", ")})`);
  return f;
}

export function createProcessor(config: ProcessorConfig, deps: ProcessorDeps): Processor {
  const { textTokenizer: text, fastTokenizer: fast, imageKeys } = deps;
  const stateKey = deps.stateKey ?? "observation.state";
  const actionKey = deps.actionKey ?? "action";
  const stateNorm = quantileNormalizer(deps.stats, stateKey);
  const actionNorm = quantileNormalizer(deps.stats, actionKey);
  const stateDim = stateNorm.dim;
  const actionDim = actionNorm.dim;
  if (stateDim > config.max_state_dim) throw new Error(`config.max_state_dim: expected ≥ state dim ${stateDim}, got ${config.max_state_dim}`);
  if (actionDim > config.max_action_dim) throw new Error(`config.max_action_dim: expected ≥ action dim ${actionDim}, got ${config.max_action_dim}`);
  if (fast.actionDim !== actionDim) throw new Error(`fastTokenizer.actionDim: expected ${actionDim} (stats.${actionKey}), got ${fast.actionDim}`);
  if (config.n_action_steps > config.chunk_size) throw new Error(`config.n_action_steps: expected ≤ chunk_size ${config.chunk_size}, got ${config.n_action_steps}`);
  const lowestFastId = config.vocab_size - 1 - config.fast_skip_tokens - (fast.vocabSize - 1);
  if (lowestFastId < 0) {
    throw new Error(`config.vocab_size: expected ≥ ${fast.vocabSize + config.fast_skip_tokens} to hold ${fast.vocabSize} FAST tokens after ${config.fast_skip_tokens} skipped ids, got ${config.vocab_size}`);
  }
  const [imgH, imgW] = config.image_resolution;
  const nCams = imageKeys.length + config.empty_cameras;
  const actionPrefix = [text.bosId, ...text.encode("Action: ")];
  const actionSuffix = [...text.encode("|"), text.eosId];
  const separator = text.encode("|");
  const actionWords = text.encode("Action: ");

  const actionTokenToId = (t: number): number => config.vocab_size - 1 - config.fast_skip_tokens - t;
  const idToActionToken = (id: number): number => config.vocab_size - 1 - config.fast_skip_tokens - id;

  const promptText = (task: string, normalizedState: ArrayLike<number>): string => {
    const bins: number[] = [];
    for (let i = 0; i < config.max_state_dim; i++) bins.push(discretizeState(i < normalizedState.length ? normalizedState[i] : 0));
    return `Task: ${cleanTask(task)}, State: ${bins.join(" ")};\n`;
  };

  const images = (batch: Batch): Pick<ModelInputs, "images" | "imageShape" | "imageMask"> => {
    const B = batch.size;
    const per = imgH * imgW * 3;
    const out = new Float32Array(B * nCams * per).fill(-1);
    const mask = new Uint8Array(B * nCams);
    imageKeys.forEach((key, c) => {
      const f = feature(batch, key);
      if (!(f.data instanceof Uint8Array) || f.shape.length !== 4 || f.shape[0] !== B || f.shape[3] !== 3) {
        throw new Error(`batch.features["${key}"]: expected Uint8Array [${B}, H, W, 3], got ${f.data.constructor.name} [${f.shape.join(", ")}]`);
      }
      const [, h, w] = f.shape;
      for (let b = 0; b < B; b++) {
        resizeWithPad(f.data.subarray(b * h * w * 3, (b + 1) * h * w * 3), h, w, [imgH, imgW], out, (b * nCams + c) * per);
        mask[b * nCams + c] = 1;
      }
    });
    return { images: out, imageShape: [B, nCams, imgH, imgW, 3], imageMask: mask };
  };

  const prompts = (batch: Batch): Pick<ModelInputs, "promptTokens" | "promptMask" | "promptLength"> => {
    const B = batch.size;
    const f = feature(batch, stateKey);
    if (!(f.data instanceof Float32Array) || f.data.length % (B * stateDim) !== 0) {
      throw new Error(`batch.features["${stateKey}"]: expected Float32Array [${B}, ${stateDim}] (or [${B}, T, ${stateDim}]), got [${f.shape.join(", ")}]`);
    }
    if (batch.task.length !== B) throw new Error(`batch.task: expected ${B} strings, got ${batch.task.length}`);
    const steps = f.data.length / (B * stateDim);
    const L = config.tokenizer_max_length;
    const tokens = new Int32Array(B * L).fill(text.padId);
    const mask = new Uint8Array(B * L);
    for (let b = 0; b < B; b++) {
      // with several observation steps the current (last) one goes in the prompt
      const start = (b * steps + steps - 1) * stateDim;
      const state = stateNorm.normalize(f.data.slice(start, start + stateDim));
      const ids = [text.bosId, ...text.encode(promptText(batch.task[b], state))].slice(0, L);
      tokens.set(ids, b * L);
      mask.fill(1, b * L, b * L + ids.length);
    }
    return { promptTokens: tokens, promptMask: mask, promptLength: L };
  };

  const withActionBlock = (batch: Batch, sequences: number[][], length: number): ModelInputs => {
    const B = batch.size;
    const actionTokens = new Int32Array(B * length);
    const actionMask = new Uint8Array(B * length);
    const lossMask = new Uint8Array(B * length);
    sequences.forEach((seq, b) => {
      const ids = seq.slice(0, length);
      actionTokens.set(ids, b * length);
      actionMask.fill(1, b * length, b * length + ids.length);
      lossMask.fill(1, b * length + 1, b * length + ids.length);
    });
    return { batchSize: B, ...images(batch), ...prompts(batch), actionTokens, actionMask, lossMask, actionLength: length };
  };

  return {
    actionDim,
    stateDim,
    actionTokenToId,
    idToActionToken,
    promptText,
    toModelInputs(batch) {
      const B = batch.size;
      const f = feature(batch, actionKey);
      const T = config.chunk_size;
      if (!(f.data instanceof Float32Array) || f.data.length !== B * T * actionDim) {
        throw new Error(`batch.features["${actionKey}"]: expected Float32Array [${B}, ${T}, ${actionDim}] (chunk_size ${T}), got [${f.shape.join(", ")}]`);
      }
      const sequences: number[][] = [];
      for (let b = 0; b < B; b++) {
        const chunk = actionNorm.normalize(f.data.slice(b * T * actionDim, (b + 1) * T * actionDim));
        sequences.push([...actionPrefix, ...fast.encode(chunk).map(actionTokenToId), ...actionSuffix]);
      }
      return withActionBlock(batch, sequences, config.max_action_tokens);
    },
    toPromptInputs(batch) {
      return withActionBlock(batch, Array.from({ length: batch.size }, () => [...actionPrefix]), actionPrefix.length);
    },
    decodeActions(generated) {
      const B = generated.length;
      const T = config.chunk_size;
      const n = config.n_action_steps;
      const actions = new Float32Array(B * n * actionDim);
      let invalid = 0;
      generated.forEach((raw, b) => {
        // tolerate a generation that repeats the "Action: " prefix (LeRobot strips it the same way)
        const ids = actionWords.length > 0 && actionWords.every((w, j) => raw[j] === w) ? raw.slice(actionWords.length) : raw;
        let end = ids.length;
        for (let i = 0; i < ids.length; i++) {
          if (ids[i] === text.eosId || (separator.length > 0 && separator.every((s, j) => ids[i + j] === s))) {
            end = i;
            break;
          }
        }
        let valid = true;
        const fastTokens: number[] = [];
        for (const id of ids.slice(0, end)) {
          const t = idToActionToken(id);
          if (t < 0 || t >= fast.vocabSize) valid = false;
          else fastTokens.push(t);
        }
        const decoded = fast.decode(fastTokens, { chunkSize: T, actionDim });
        if (!valid || !decoded.valid) invalid += 1;
        const chunk = actionNorm.unnormalize(decoded.actions.slice(0, n * actionDim));
        actions.set(chunk, b * n * actionDim);
      });
      return { actions, invalid };
    },
  };
}
