/**
 * LeRobot's pi0-FAST pre/post-processing (processor_pi0_fast.py + processor/{rename,normalize,
 * tokenizer}_processor.py): batch → {images, prompt tokens, action tokens, masks}, and generated
 * ids → actions.
 *
 * Choices, following LeRobot's current code:
 * - `rename_map` (dataset key → policy key) is applied to the batch keys first, `_is_pad` suffixes
 *   following their feature (LeRobot's rename_batch_keys), and to the statistics (rename_stats).
 * - State and action are normalised as `normalization_mapping` says (normalize.ts).
 * - The prompt is `[BOS] Task: {task.strip(), "_"→" ", "\n"→" "}, State: {bins};\n` (the PaliGemma
 *   tokenizer adds BOS by default), right padded with pad ids, truncated to tokenizer_max_length.
 *   State bins: np.digitize(state, linspace(−1, 1, 257)[:-1]) − 1 over the normalised state as the
 *   robot has it, NOT padded to max_state_dim (Pi0FastPrepareStateAndLanguageTokenizerProcessorStep
 *   no longer pads); values below −1 give bin −1 and NaN gives 255, as numpy does.
 * - FAST runs on the chunk's real action dim (LeRobot tokenises the normalised action before any
 *   padding to max_action_dim), on the whole chunk including steps marked action_is_pad. Padded
 *   dimensions never reach the normaliser, FAST or the decoded actions, so one model serves robots
 *   of any state/action dim up to max_state_dim/max_action_dim (cross-embodiment): each robot's
 *   statistics are one entry of `stats`, chosen by the batch's state and action dims.
 * - Action block: `[BOS] tok("Action: ") fast… tok("|") [EOS]`; fast token t ↦ vocab_size − 1 −
 *   fast_skip_tokens − t; truncated or zero-padded to max_action_tokens. lossMask = actionMask
 *   without the BOS position.
 * - Decoding cuts the generation at the first "|" (or EOS), drops every "Action: " (as LeRobot's
 *   detokenize_actions), maps ids back to FAST tokens and decodes relaxed (zero-pad / truncate in
 *   DCT space, as LeRobot's decode_actions_with_fast) over n_action_steps, as LeRobot's
 *   select_action passes it. A generation is valid when it spells the chunk_size × D
 *   coefficients the policy was trained to emit; with n_action_steps < chunk_size only the first
 *   n_action_steps × D (the lowest frequencies) are inverted, over n_action_steps steps — LeRobot's
 *   behaviour, which rescales the chunk by √(chunk_size / n_action_steps), so craft's presets keep
 *   the two equal.
 */
import type { ModelInputs, TextTokenizer } from "./inputs";
import type { FastTokenizer } from "./fast/tokenizer";
import { fastGrammar, type FastGrammar } from "./fast/grammar";
import type { DecodeConstraint } from "./model/pi0fast";
import { featureNormalizer, type DatasetStats, type NormalizationMode, type Normalizer } from "./normalize";
import { resizeWithPad } from "./image";

import type { ArrayTensor, Batch } from "@craft/data-contract";

/** The batch @craft/datasets yields, declared once in @craft/data-contract (the policy does not depend on datasets). */
export type { ArrayTensor, Batch };

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
  readonly normalization_mapping: { readonly STATE: NormalizationMode; readonly ACTION: NormalizationMode };
}

export interface ProcessorDeps {
  /**
   * Normalisation statistics; several (one per robot) for cross-embodiment, each picked for the
   * batches whose state and action dims it describes (the first when several fit).
   */
  readonly stats: DatasetStats | readonly DatasetStats[];
  readonly textTokenizer: TextTokenizer;
  readonly fastTokenizer: FastTokenizer;
  readonly imageKeys: readonly string[];
  readonly stateKey?: string;
  readonly actionKey?: string;
  /** LeRobot's `rename_map`: dataset key → policy key, applied to batches and statistics. */
  readonly renameMap?: Readonly<Record<string, string>>;
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
  /** `actionDim` defaults to the first statistics' action dim. */
  decodeActions(generated: readonly (readonly number[])[], actionDim?: number): DecodedActions;
  /**
   * The FAST grammar of what `decodeActions` accepts as valid for a robot of `actionDim`
   * (chunk_size × actionDim characters, then "|" and EOS), for one decode of at most `maxSteps`
   * tokens after `toPromptInputs`' `[BOS] Action: `.
   */
  decodeConstraint(actionDim: number, maxSteps: number): DecodeConstraint;
  /** The action dim of the robot a batch comes from: its statistics, chosen by the batch's state (and action) dims. */
  actionDimFor(batch: Batch): number;
  /** Prompt text of one sample (before tokenisation), for inspection and tests. */
  promptText(task: string, normalizedState: ArrayLike<number>): string;
  /** Dims of the first statistics (the policy's own robot). */
  readonly actionDim: number;
  readonly stateDim: number;
}

const STATE_BINS = 256;

/** np.digitize(x, linspace(−1, 1, 257)[:-1]) − 1: −1 below −1, 255 from 1 − 2/256 up and for NaN. */
export function discretizeState(x: number): number {
  if (Number.isNaN(x)) return STATE_BINS - 1; // numpy sorts NaN after every bin edge
  if (x < -1) return -1;
  // bins[i] = −1 + 2i/256 exactly in binary; digitize counts the bins ≤ x
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

/** LeRobot's `_rename_key_with_metadata`: a key in the map, or `<key>_is_pad` / `_padding_mask` of one. */
export function renameKey(key: string, renameMap: Readonly<Record<string, string>>): string {
  if (Object.prototype.hasOwnProperty.call(renameMap, key)) return renameMap[key];
  for (const suffix of ["_is_pad", "_padding_mask"]) {
    const base = key.slice(0, -suffix.length);
    if (key.endsWith(suffix) && Object.prototype.hasOwnProperty.call(renameMap, base)) return renameMap[base] + suffix;
  }
  return key;
}

/** The batch with its feature keys renamed (LeRobot's `rename_batch_keys`). */
export function renameBatchKeys(batch: Batch, renameMap: Readonly<Record<string, string>> | undefined): Batch {
  if (!renameMap || Object.keys(renameMap).length === 0) return batch;
  const features: Record<string, ArrayTensor> = {};
  for (const [key, value] of Object.entries(batch.features)) features[renameKey(key, renameMap)] = value;
  return { ...batch, features };
}

/** Statistics with their feature keys renamed (LeRobot's `rename_stats`). */
export function renameStats(stats: DatasetStats, renameMap: Readonly<Record<string, string>> | undefined): DatasetStats {
  if (!renameMap || Object.keys(renameMap).length === 0) return stats;
  const out: Record<string, DatasetStats[string]> = {};
  for (const [key, value] of Object.entries(stats)) out[renameMap[key] ?? key] = value;
  return out;
}

function feature(batch: Batch, key: string): ArrayTensor {
  const f = batch.features[key];
  if (f === undefined) throw new Error(`batch.features: missing "${key}" (have ${Object.keys(batch.features).join(", ")}; a --rename_map maps dataset keys to these)`);
  return f;
}

interface Embodiment {
  readonly state: Normalizer;
  readonly action: Normalizer;
  readonly stateDim: number | undefined;
  readonly actionDim: number | undefined;
}

export function createProcessor(config: ProcessorConfig, deps: ProcessorDeps): Processor {
  const { textTokenizer: text, fastTokenizer: fast, imageKeys } = deps;
  const stateKey = deps.stateKey ?? "observation.state";
  const actionKey = deps.actionKey ?? "action";
  const statsList = (Array.isArray(deps.stats) ? deps.stats : [deps.stats]) as readonly DatasetStats[];
  if (statsList.length === 0) throw new Error("stats: expected at least one set of statistics, got none");
  const embodiments: Embodiment[] = statsList.map((raw, i) => {
    const stats = renameStats(raw, deps.renameMap);
    const state = featureNormalizer(stats, stateKey, config.normalization_mapping.STATE);
    const action = featureNormalizer(stats, actionKey, config.normalization_mapping.ACTION);
    const where = statsList.length > 1 ? `stats[${i}]` : "stats";
    if (state.dim !== undefined && state.dim > config.max_state_dim) {
      throw new Error(`config.max_state_dim: expected ≥ the state dim ${state.dim} of ${where}.${stateKey}, got ${config.max_state_dim}`);
    }
    if (action.dim !== undefined && action.dim > config.max_action_dim) {
      throw new Error(`config.max_action_dim: expected ≥ the action dim ${action.dim} of ${where}.${actionKey}, got ${config.max_action_dim}`);
    }
    return { state, action, stateDim: state.dim, actionDim: action.dim };
  });
  if (config.n_action_steps > config.chunk_size) throw new Error(`config.n_action_steps: expected ≤ chunk_size ${config.chunk_size}, got ${config.n_action_steps}`);
  const lowestFastId = config.vocab_size - 1 - config.fast_skip_tokens - (fast.vocabSize - 1);
  if (lowestFastId < 0) {
    throw new Error(`config.vocab_size: expected ≥ ${fast.vocabSize + config.fast_skip_tokens} to hold ${fast.vocabSize} FAST tokens after ${config.fast_skip_tokens} skipped ids, got ${config.vocab_size}`);
  }
  const defaultActionDim = embodiments[0].actionDim ?? fast.actionDim;
  const defaultStateDim = embodiments[0].stateDim ?? config.max_state_dim;
  const [imgH, imgW] = config.image_resolution;
  const nCams = imageKeys.length + config.empty_cameras;
  const actionPrefix = [text.bosId, ...text.encode("Action: ")];
  const actionSuffix = [...text.encode("|"), text.eosId];
  const separator = text.encode("|");
  const actionWords = text.encode("Action: ");

  const actionTokenToId = (t: number): number => config.vocab_size - 1 - config.fast_skip_tokens - t;
  const idToActionToken = (id: number): number => config.vocab_size - 1 - config.fast_skip_tokens - id;
  // Built on first use: it reads the whole FAST vocabulary.
  let grammar: FastGrammar | undefined;

  /** The statistics whose dims fit these (undefined: not known from the batch). */
  const embodimentFor = (stateDim: number | undefined, actionDim: number | undefined): Embodiment => {
    const fits = (dim: number | undefined, want: number | undefined) => dim === undefined || want === undefined || dim === want;
    const found = embodiments.find((e) => fits(e.stateDim, stateDim) && fits(e.actionDim, actionDim));
    if (found) return found;
    const have = embodiments.map((e) => `state ${e.stateDim ?? "any"}/action ${e.actionDim ?? "any"}`).join(", ");
    throw new Error(
      `batch: no statistics for a robot with state dim ${stateDim ?? "?"} and action dim ${actionDim ?? "?"} (stats describe ${have}); pass that dataset's stats too`,
    );
  };

  const promptText = (task: string, normalizedState: ArrayLike<number>): string => {
    const bins: number[] = [];
    for (let i = 0; i < normalizedState.length; i++) bins.push(discretizeState(normalizedState[i]));
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

  /** State dim of a batch: the last axis of [B, D] or [B, T, D]. */
  const stateDimOf = (batch: Batch): number => {
    const f = feature(batch, stateKey);
    const dim = f.shape[f.shape.length - 1];
    if (!(f.data instanceof Float32Array) || f.shape.length < 2 || f.shape[0] !== batch.size || f.data.length % (batch.size * dim) !== 0) {
      throw new Error(`batch.features["${stateKey}"]: expected Float32Array [${batch.size}, D] (or [${batch.size}, T, D]), got ${f.data.constructor.name} [${f.shape.join(", ")}]`);
    }
    if (dim > config.max_state_dim) throw new Error(`batch.features["${stateKey}"]: expected a state dim ≤ max_state_dim ${config.max_state_dim}, got ${dim}`);
    return dim;
  };

  const prompts = (batch: Batch, embodiment: Embodiment): Pick<ModelInputs, "promptTokens" | "promptMask" | "promptLength"> => {
    const B = batch.size;
    const f = feature(batch, stateKey);
    const stateDim = stateDimOf(batch);
    if (batch.task.length !== B) throw new Error(`batch.task: expected ${B} strings, got ${batch.task.length}`);
    const steps = f.data.length / (B * stateDim);
    const L = config.tokenizer_max_length;
    const tokens = new Int32Array(B * L).fill(text.padId);
    const mask = new Uint8Array(B * L);
    for (let b = 0; b < B; b++) {
      // with several observation steps the current (last) one goes in the prompt
      const start = (b * steps + steps - 1) * stateDim;
      const state = embodiment.state.normalize(Float32Array.from(f.data.subarray(start, start + stateDim)));
      const ids = [text.bosId, ...text.encode(promptText(batch.task[b], state))].slice(0, L);
      tokens.set(ids, b * L);
      mask.fill(1, b * L, b * L + ids.length);
    }
    return { promptTokens: tokens, promptMask: mask, promptLength: L };
  };

  const withActionBlock = (batch: Batch, embodiment: Embodiment, sequences: number[][], length: number): ModelInputs => {
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
    return { batchSize: B, ...images(batch), ...prompts(batch, embodiment), actionTokens, actionMask, lossMask, actionLength: length };
  };

  return {
    actionDim: defaultActionDim,
    stateDim: defaultStateDim,
    actionTokenToId,
    idToActionToken,
    promptText,
    toModelInputs(raw) {
      const batch = renameBatchKeys(raw, deps.renameMap);
      const B = batch.size;
      const f = feature(batch, actionKey);
      const T = config.chunk_size;
      const D = f.shape[f.shape.length - 1];
      if (!(f.data instanceof Float32Array) || f.shape.length !== 3 || f.shape[0] !== B || f.shape[1] !== T || f.data.length !== B * T * D) {
        throw new Error(`batch.features["${actionKey}"]: expected Float32Array [${B}, ${T}, D] (chunk_size ${T}), got ${f.data.constructor.name} [${f.shape.join(", ")}]`);
      }
      if (D > config.max_action_dim) throw new Error(`batch.features["${actionKey}"]: expected an action dim ≤ max_action_dim ${config.max_action_dim}, got ${D}`);
      const embodiment = embodimentFor(stateDimOf(batch), D);
      const sequences: number[][] = [];
      for (let b = 0; b < B; b++) {
        const chunk = embodiment.action.normalize(f.data.slice(b * T * D, (b + 1) * T * D));
        sequences.push([...actionPrefix, ...fast.encode(chunk, D).map(actionTokenToId), ...actionSuffix]);
      }
      return withActionBlock(batch, embodiment, sequences, config.max_action_tokens);
    },
    actionDimFor(raw) {
      const batch = renameBatchKeys(raw, deps.renameMap);
      const action = batch.features[actionKey];
      const dim = action?.shape[action.shape.length - 1];
      return embodimentFor(stateDimOf(batch), dim).actionDim ?? dim ?? defaultActionDim;
    },
    toPromptInputs(raw) {
      const batch = renameBatchKeys(raw, deps.renameMap);
      const action = batch.features[actionKey];
      const embodiment = embodimentFor(stateDimOf(batch), action?.shape[action.shape.length - 1]);
      return withActionBlock(batch, embodiment, Array.from({ length: batch.size }, () => [...actionPrefix]), actionPrefix.length);
    },
    decodeConstraint(actionDim, maxSteps) {
      // generation starts after "Action: " (toPromptInputs); EOS, "|" and "Action: " ids would be cut or dropped by decodeActions
      grammar ??= fastGrammar({ fastTokenizer: fast, actionTokenToId, terminator: actionSuffix, reservedIds: [text.eosId, ...separator, ...actionWords] });
      return grammar.constraint(config.chunk_size * actionDim, maxSteps);
    },
    decodeActions(generated, actionDim = defaultActionDim) {
      const embodiment = embodimentFor(undefined, actionDim);
      const B = generated.length;
      const n = config.n_action_steps;
      const actions = new Float32Array(B * n * actionDim);
      let invalid = 0;
      generated.forEach((raw, b) => {
        let end = raw.length;
        for (let i = 0; i < raw.length; i++) {
          if (raw[i] === text.eosId || (separator.length > 0 && separator.every((s, j) => raw[i + j] === s))) {
            end = i;
            break;
          }
        }
        // every "Action: " is dropped, wherever the generation repeats it (LeRobot's detokenize_actions)
        const ids: number[] = [];
        for (let i = 0; i < end; ) {
          if (actionWords.length > 0 && i + actionWords.length <= end && actionWords.every((w, j) => raw[i + j] === w)) i += actionWords.length;
          else ids.push(raw[i++]);
        }
        let valid = true;
        const fastTokens: number[] = [];
        for (const id of ids) {
          const t = idToActionToken(id);
          if (t < 0 || t >= fast.vocabSize) valid = false;
          else fastTokens.push(t);
        }
        // relaxed over n_action_steps steps, as LeRobot's detokenize_actions (see the header)
        const decoded = fast.decode(fastTokens, { chunkSize: n, actionDim });
        if (!valid || decoded.unknown > 0 || decoded.coefficients !== config.chunk_size * actionDim) invalid += 1;
        actions.set(embodiment.action.unnormalize(decoded.actions), b * n * actionDim);
      });
      return { actions, invalid };
    },
  };
}
