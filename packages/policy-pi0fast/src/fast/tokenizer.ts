/**
 * FAST action tokenizer (Pertsch et al. 2025, "FAST: Efficient Action Tokenization for VLAs"):
 * DCT-II per action dimension → scale and round → flatten frequency-major (coefficient k of every
 * dimension, then k + 1) → BPE. Works on normalised chunks, row-major [chunkSize, actionDim].
 */
import * as t from "io-ts";
import { isLeft } from "fp-ts/lib/Either.js";
import { dctII, dctIII } from "./dct";
import { bpeEncoder, expandVocabulary, trainBpe, type BpeModel, type Merge } from "./bpe";

export interface FastFitOptions {
  readonly chunkSize: number;
  readonly actionDim: number;
  /** Total number of tokens (base alphabet + merges). Default 1024. */
  readonly vocabSize?: number;
  /** Multiplier applied to DCT coefficients before rounding. Default 10. */
  readonly scale?: number;
}

export interface FastDecoded {
  /** Row-major [chunkSize, actionDim]. */
  readonly actions: Float32Array;
  /** false when the tokens were unknown or did not fill exactly chunkSize × actionDim coefficients. */
  readonly valid: boolean;
  /** Coefficients the known tokens expanded to, and how many tokens were unknown. */
  readonly coefficients: number;
  readonly unknown: number;
}

export interface FastTokenizerJson {
  readonly type: "fast";
  readonly scale: number;
  readonly chunkSize?: number;
  readonly actionDim: number;
  readonly vocabSize: number;
  readonly minToken: number;
  /** vocab[id] = the quantised DCT values (offset by minToken) this token stands for. */
  readonly vocab: readonly (readonly number[])[];
  readonly merges: readonly Merge[];
}

export interface FastTokenizer {
  readonly scale: number;
  readonly chunkSize: number | undefined;
  readonly actionDim: number;
  /** Capacity: ids are in [0, vocabSize). */
  readonly vocabSize: number;
  readonly minToken: number;
  readonly maxToken: number;
  /**
   * Tokens of a normalised chunk, row-major [T, actionDim]; `actionDim` defaults to the fitted one
   * (FAST's DCT runs per dimension, so any robot's chunk can be encoded: cross-embodiment).
   */
  encode(chunk: ArrayLike<number>, actionDim?: number): number[];
  decode(tokens: readonly number[], shape?: { readonly chunkSize?: number; readonly actionDim?: number }): FastDecoded;
  toJSON(): FastTokenizerJson;
}

/** numpy's `np.around`: round half to even (2.5 → 2, −0.5 → −0, 3.5 → 4). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  // Math.round sends every .5 up; for an exact half on an odd result, go down instead
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Quantised DCT coefficients, frequency-major, as integers (FAST: np.around(dct · scale)). */
function quantise(chunk: ArrayLike<number>, steps: number, dims: number, scale: number): Int32Array {
  const coefficients = dctII(chunk, steps, dims);
  const out = new Int32Array(coefficients.length);
  for (let i = 0; i < out.length; i++) out[i] = roundHalfEven(coefficients[i] * scale);
  return out;
}

function makeTokenizer(params: {
  scale: number;
  chunkSize: number | undefined;
  actionDim: number;
  vocabSize: number;
  minToken: number;
  model: BpeModel;
}): FastTokenizer {
  const { scale, chunkSize, actionDim, vocabSize, minToken, model } = params;
  const vocab = expandVocabulary(model);
  const maxToken = minToken + model.alphabetSize - 1;
  const encodeSymbols = bpeEncoder(model);
  return {
    scale,
    chunkSize,
    actionDim,
    vocabSize,
    minToken,
    maxToken,
    encode(chunk, dims = actionDim) {
      if (!Number.isInteger(dims) || dims < 1 || chunk.length % dims !== 0 || chunk.length === 0) {
        throw new Error(`FastTokenizer.encode: chunk length ${chunk.length} is not a positive multiple of actionDim ${dims}`);
      }
      const steps = chunk.length / dims;
      const q = quantise(chunk, steps, dims, scale);
      // coefficients outside the fitted range are clamped to it (FAST clamps below minToken the same way)
      const symbols = Array.from(q, (v) => Math.min(maxToken, Math.max(minToken, v)) - minToken);
      return encodeSymbols(symbols);
    },
    decode(tokens, shape) {
      const steps = shape?.chunkSize ?? chunkSize;
      const dims = shape?.actionDim ?? actionDim;
      if (steps === undefined) throw new Error("FastTokenizer.decode: chunkSize is unknown; pass { chunkSize }");
      const n = steps * dims;
      let unknown = 0;
      const values: number[] = [];
      for (const id of tokens) {
        const expansion = Number.isInteger(id) && id >= 0 && id < vocab.length ? vocab[id] : undefined;
        if (expansion === undefined) {
          unknown += 1;
          continue;
        }
        for (const s of expansion) values.push((s + minToken) / scale);
      }
      // missing high frequencies are zero; extra ones are dropped
      const coefficients = new Float64Array(n);
      for (let i = 0; i < Math.min(n, values.length); i++) coefficients[i] = values[i];
      return { actions: Float32Array.from(dctIII(coefficients, steps, dims)), valid: unknown === 0 && values.length === n, coefficients: values.length, unknown };
    },
    toJSON() {
      return { type: "fast", scale, ...(chunkSize !== undefined ? { chunkSize } : {}), actionDim, vocabSize, minToken, vocab, merges: model.merges };
    },
  };
}

/** Fits FAST on normalised action chunks, each row-major [chunkSize, actionDim]. */
export function fitFastTokenizer(chunks: readonly ArrayLike<number>[], options: FastFitOptions): FastTokenizer {
  const { chunkSize, actionDim } = options;
  const vocabSize = options.vocabSize ?? 1024;
  const scale = options.scale ?? 10;
  if (chunks.length === 0) throw new Error("fitFastTokenizer: chunks: expected at least one chunk, got none");
  if (!(scale > 0)) throw new Error(`fitFastTokenizer: scale: expected > 0, got ${scale}`);
  const quantised = chunks.map((chunk, i) => {
    if (chunk.length !== chunkSize * actionDim) {
      throw new Error(`fitFastTokenizer: chunks[${i}]: expected ${chunkSize}×${actionDim} = ${chunkSize * actionDim} values, got ${chunk.length}`);
    }
    return quantise(chunk, chunkSize, actionDim, scale);
  });
  let minToken = Infinity;
  let maxToken = -Infinity;
  for (const q of quantised) for (const v of q) {
    if (v < minToken) minToken = v;
    if (v > maxToken) maxToken = v;
  }
  if (!Number.isFinite(minToken)) throw new Error("fitFastTokenizer: chunks contain non-finite values");
  const alphabetSize = maxToken - minToken + 1;
  const model = trainBpe(quantised.map((q) => Array.from(q, (v) => v - minToken)), alphabetSize, vocabSize);
  return makeTokenizer({ scale, chunkSize, actionDim, vocabSize, minToken, model });
}

/** Same as {@link fitFastTokenizer}; the name the CLI (`craft tokenizer fit`) uses. */
export const fitFastTokenizerFromChunks = fitFastTokenizer;

const Int = t.refinement(t.number, Number.isInteger, "Integer");
const PositiveInt = t.refinement(Int, (n) => n > 0, "PositiveInteger");
const NonNegativeInt = t.refinement(Int, (n) => n >= 0, "NonNegativeInteger");
const PositiveNumber = t.refinement(t.number, (n) => n > 0 && Number.isFinite(n), "PositiveNumber");

export const FastTokenizerJsonCodec = t.intersection([
  t.type({
    type: t.literal("fast"),
    scale: PositiveNumber,
    actionDim: PositiveInt,
    vocabSize: PositiveInt,
    minToken: Int,
    vocab: t.array(t.array(NonNegativeInt)),
    merges: t.array(t.tuple([NonNegativeInt, NonNegativeInt])),
  }),
  t.partial({ chunkSize: PositiveInt }),
]);

/** "field.sub[2]: expected X, got Y" for the first few io-ts errors. */
export function describeErrors(errors: t.Errors): string {
  return errors
    .slice(0, 5)
    .map((e) => {
      const parts: string[] = [];
      e.context.forEach((c, i) => {
        if (c.key === "" || e.context[i - 1]?.type instanceof t.IntersectionType) return;
        parts.push(/^\d+$/.test(c.key) ? `[${c.key}]` : (parts.length ? "." : "") + c.key);
      });
      const expected = e.context[e.context.length - 1]?.type.name ?? "?";
      return `${parts.join("") || "(root)"}: expected ${expected}, got ${String(JSON.stringify(e.value)).slice(0, 60)}`;
    })
    .join("; ");
}

/** Loads a tokenizer saved with `toJSON()`; `source` names the file in error messages. */
export function fastTokenizerFromJSON(json: unknown, source = "fast tokenizer JSON"): FastTokenizer {
  const decoded = FastTokenizerJsonCodec.decode(json);
  if (isLeft(decoded)) throw new Error(`${source}: ${describeErrors(decoded.left)}`);
  const j = decoded.right;
  const alphabetSize = j.vocab.length - j.merges.length;
  if (alphabetSize < 1) throw new Error(`${source}: vocab: expected more entries than merges (${j.merges.length}), got ${j.vocab.length}`);
  if (j.vocab.length > j.vocabSize) throw new Error(`${source}: vocab: expected at most vocabSize = ${j.vocabSize} entries, got ${j.vocab.length}`);
  const model: BpeModel = { alphabetSize, merges: j.merges };
  let expanded: number[][];
  try {
    expanded = expandVocabulary(model);
  } catch (e) {
    throw new Error(`${source}: ${(e as Error).message}`);
  }
  for (let id = 0; id < expanded.length; id++) {
    if (expanded[id].join(",") !== j.vocab[id].join(",")) {
      throw new Error(`${source}: vocab[${id}]: expected [${expanded[id].join(", ")}] (from merges), got [${j.vocab[id].join(", ")}]`);
    }
  }
  return makeTokenizer({ scale: j.scale, chunkSize: j.chunkSize, actionDim: j.actionDim, vocabSize: j.vocabSize, minToken: j.minToken, model });
}
