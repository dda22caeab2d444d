/**
 * FAST action tokenizer (Pertsch et al. 2025, "FAST: Efficient Action Tokenization for VLAs") in
 * the format of Hugging Face's `UniversalActionProcessor` (physical-intelligence/fast,
 * lerobot/fast-action-tokenizer): DCT-II (orthonormal) per action dimension over the chunk's time
 * axis → × scale → np.around (half to even) → flatten frequency-major → each integer t becomes the
 * character chr(max(t − min_token, 0)) → ByteLevel BPE. Files: `processor_config.json`
 * {scale, vocab_size, min_token, action_dim, time_horizon} and the BPE's `tokenizer.json`.
 *
 * The BPE runs through Hugging Face's own libraries: encode/decode with @huggingface/tokenizers
 * (pure TypeScript, synchronous, as the processor is), training with the Rust `tokenizers`
 * binding's BPE trainer. Measured (see the README): the binding encodes ~20× faster but only
 * asynchronously, and the TypeScript library has no trainer.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync, renameSync, mkdirSync, statSync, existsSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as t from "io-ts";
import { isLeft } from "fp-ts/lib/Either.js";
import { Tokenizer as HfTokenizer } from "@huggingface/tokenizers";
import { dctII, dctIII } from "./dct";
import { moduleDirectory } from "../backend/moduleLocation";
import { PolicyError } from "../errors";

export interface FastFitOptions {
  readonly chunkSize: number;
  readonly actionDim: number;
  /** Total number of tokens: the byte symbols of the coefficient range plus the merges. Default 1024, as FAST. */
  readonly vocabSize?: number;
  /** Multiplier applied to DCT coefficients before rounding. Default 10. */
  readonly scale?: number;
}

export interface FastDecoded {
  /** Row-major [chunkSize, actionDim]. */
  readonly actions: Float32Array;
  /** false when tokens were unknown or did not fill exactly chunkSize × actionDim coefficients. */
  readonly valid: boolean;
  /** Coefficients the known tokens expanded to, and how many tokens (or broken characters) were unknown. */
  readonly coefficients: number;
  readonly unknown: number;
}

/** `processor_config.json` of a UniversalActionProcessor. */
export interface FastProcessorConfig {
  readonly processor_class: "UniversalActionProcessor";
  readonly scale: number;
  readonly vocab_size: number;
  readonly min_token: number;
  readonly action_dim: number | null;
  readonly time_horizon: number | null;
}

/** The whole tokenizer as one JSON value (what a checkpoint's fast_tokenizer.json holds). */
export interface FastTokenizerJson {
  readonly type: "universal_action_processor";
  readonly processor_config: FastProcessorConfig;
  readonly tokenizer: Record<string, unknown>;
}

export interface FastTokenizer {
  readonly scale: number;
  readonly chunkSize: number | undefined;
  readonly actionDim: number;
  /** Capacity: ids are in [0, vocabSize). */
  readonly vocabSize: number;
  readonly minToken: number;
  /** Largest coefficient the vocabulary spells; larger ones are clamped to it. */
  readonly maxToken: number;
  /**
   * Tokens of a normalised chunk, row-major [T, actionDim]; `actionDim` defaults to the fitted one
   * (FAST's DCT runs per dimension, so any robot's chunk can be encoded: cross-embodiment).
   */
  encode(chunk: ArrayLike<number>, actionDim?: number): number[];
  decode(tokens: readonly number[], shape?: { readonly chunkSize?: number; readonly actionDim?: number }): FastDecoded;
  toJSON(): FastTokenizerJson;
}

export const PROCESSOR_CONFIG_FILE = "processor_config.json";
export const TOKENIZER_FILE = "tokenizer.json";

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

/**
 * The characters FAST's BPE sees: chr(max(t − min_token, 0)), and here also at most
 * chr(range − 1), the last character whose bytes the vocabulary holds (FAST leaves larger values
 * unclamped, and the BPE then drops bytes it has no token for, silently losing coefficients).
 */
function symbols(q: Int32Array, minToken: number, range: number): string {
  let s = "";
  for (const v of q) s += String.fromCodePoint(Math.min(Math.max(v - minToken, 0), range - 1));
  return s;
}

/** GPT-2's byte → printable character map that ByteLevel pre-tokenisation applies to UTF-8 bytes. */
function byteLevelSymbols(): string[] {
  const printable = (b: number) => (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
  let next = 256;
  return Array.from({ length: 256 }, (_, b) => String.fromCodePoint(printable(b) ? b : next++));
}
export const BYTE_SYMBOLS = byteLevelSymbols();
const utf8 = new TextEncoder();

/** How many characters chr(0), chr(1), … in a row the vocabulary can spell byte by byte. */
function encodableRange(hasSymbol: (symbol: string) => boolean): number {
  let c = 0;
  while (c < 0x10000 && Array.from(utf8.encode(String.fromCodePoint(c))).every((b) => hasSymbol(BYTE_SYMBOLS[b]))) c++;
  return c;
}

const REPLACEMENT_CHARACTER = 0xfffd;

function makeTokenizer(config: FastProcessorConfig, tokenizerJson: Record<string, unknown>, source: string): FastTokenizer {
  let hf: HfTokenizer;
  try {
    hf = new HfTokenizer(tokenizerJson, {});
  } catch (e) {
    throw new PolicyError("InvalidTokenizer", { file: source, field: "tokenizer", expected: "a Hugging Face tokenizer.json", message: `${source}: tokenizer: not a Hugging Face tokenizer.json (${(e as Error).message})` });
  }
  const vocab = hf.get_vocab(true);
  let maxId = -1;
  for (const id of vocab.values()) maxId = Math.max(maxId, id);
  const known = (id: number): boolean => Number.isInteger(id) && id >= 0 && hf.id_to_token(id) !== undefined;
  const range = encodableRange((symbol) => vocab.has(symbol));
  if (range === 0) throw new PolicyError("InvalidTokenizer", { file: source, field: "tokenizer", expected: "a ByteLevel BPE vocabulary that spells chr(0)", message: `${source}: tokenizer: expected a ByteLevel BPE vocabulary that spells chr(0) (FAST's offset 0), found none of its byte symbols` });
  const { scale, min_token: minToken } = config;
  const actionDim = config.action_dim ?? 1;
  const chunkSize = config.time_horizon ?? undefined;
  return {
    scale,
    chunkSize,
    actionDim,
    vocabSize: maxId + 1,
    minToken,
    maxToken: minToken + range - 1,
    encode(chunk, dims = actionDim) {
      if (!Number.isInteger(dims) || dims < 1 || chunk.length % dims !== 0 || chunk.length === 0) {
        throw new Error(`FastTokenizer.encode: chunk length ${chunk.length} is not a positive multiple of actionDim ${dims}`);
      }
      const text = symbols(quantise(chunk, chunk.length / dims, dims, scale), minToken, range);
      return hf.encode(text, { add_special_tokens: false }).ids;
    },
    decode(tokens, shape) {
      const steps = shape?.chunkSize ?? chunkSize;
      const dims = shape?.actionDim ?? actionDim;
      if (steps === undefined) throw new Error("FastTokenizer.decode: chunkSize is unknown; pass { chunkSize }");
      const n = steps * dims;
      let unknown = 0;
      const ids: number[] = [];
      for (const id of tokens) {
        if (known(id)) ids.push(id);
        else unknown += 1;
      }
      const values: number[] = [];
      // ByteLevel decoding: token bytes → UTF-8 text; a character split across tokens decodes to U+FFFD
      const text = ids.length > 0 ? hf.decode(ids, { skip_special_tokens: false, clean_up_tokenization_spaces: false }) : "";
      for (const ch of text) {
        const code = ch.codePointAt(0)!;
        if (code === REPLACEMENT_CHARACTER) unknown += 1;
        else values.push((code + minToken) / scale);
      }
      // relaxed, as LeRobot's decode_actions_with_fast: missing high frequencies are zero, extra ones dropped
      const coefficients = new Float64Array(n);
      for (let i = 0; i < Math.min(n, values.length); i++) coefficients[i] = values[i];
      return {
        actions: Float32Array.from(dctIII(coefficients, steps, dims)),
        valid: unknown === 0 && values.length === n,
        coefficients: values.length,
        unknown,
      };
    },
    toJSON() {
      return { type: "universal_action_processor", processor_config: config, tokenizer: tokenizerJson };
    },
  };
}

/** The ByteLevel BPE pipeline of tokenizers' ByteLevelBPETokenizer (add_prefix_space false), as FAST builds it. */
function byteLevelBpe(vocab: Record<string, number>, merges: readonly (readonly [string, string])[]): Record<string, unknown> {
  const byteLevel = { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true };
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: [],
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: byteLevel,
    decoder: byteLevel,
    model: {
      type: "BPE",
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges,
    },
  };
}

interface RustTokenizerModule {
  Tokenizer: { fromString(json: string): { train(files: string[]): void; save(path: string, pretty?: boolean): void } };
}

function rustTokenizers(): RustTokenizerModule {
  try {
    return createRequire(join(moduleDirectory(), "noop.js"))("tokenizers") as RustTokenizerModule;
  } catch (e) {
    throw new Error(`fitFastTokenizer: the Rust "tokenizers" binding (npm tokenizers 0.23.2) cannot load on this platform: ${(e as Error).message}`);
  }
}

/**
 * Fits FAST on normalised action chunks, each row-major [chunkSize, actionDim], as
 * UniversalActionProcessor.fit does, with the BPE trained by Hugging Face's Rust trainer.
 * Differences, all forced by what the npm binding exposes (`Tokenizer.train(files)` with the
 * model's default BpeTrainer, no trainer options): the trainer runs to its default 30000 tokens
 * and the first merges up to `vocabSize` are kept (BPE training is greedy, so they are the merges
 * a `vocab_size` run learns); min_frequency is 0 instead of 2 (only matters once every pair is
 * unique); the base alphabet is the byte symbols that spell FAST's initial_alphabet chr(0…range)
 * (FAST also adds those characters themselves, which ByteLevel never produces); the corpus goes
 * through a file, one chunk per line, so a chr(10) coefficient ends a line.
 */
export function fitFastTokenizer(chunks: readonly ArrayLike<number>[], options: FastFitOptions): FastTokenizer {
  const { chunkSize, actionDim } = options;
  const vocabSize = options.vocabSize ?? 1024;
  const scale = options.scale ?? 10;
  if (chunks.length === 0) throw new Error("fitFastTokenizer: chunks: expected at least one chunk, got none");
  if (!(scale > 0)) throw new Error(`fitFastTokenizer: scale: expected > 0, got ${scale}`);
  if (!Number.isInteger(vocabSize) || vocabSize < 1) throw new Error(`fitFastTokenizer: vocabSize: expected a positive integer, got ${vocabSize}`);
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
  const range = maxToken - minToken + 1;
  // FAST's initial alphabet chr(0 … range − 1), as the byte symbols ByteLevel spells it with
  const alphabetBytes = new Set<number>();
  for (let c = 0; c < range; c++) for (const b of utf8.encode(String.fromCodePoint(c))) alphabetBytes.add(b);
  if (alphabetBytes.size > vocabSize) {
    throw new Error(`fitFastTokenizer: vocabSize: expected at least the ${alphabetBytes.size} byte symbols of the coefficient range ${minToken}…${maxToken}, got ${vocabSize}; raise vocabSize or lower scale`);
  }

  const rust = rustTokenizers();
  const dir = mkdtempSync(join(tmpdir(), "craft-fast-"));
  let trained: { model: { merges: (string | [string, string])[] } };
  try {
    const corpus = join(dir, "corpus.txt");
    writeFileSync(corpus, quantised.map((q) => symbols(q, minToken, range)).join("\n") + "\n");
    const trainer = rust.Tokenizer.fromString(JSON.stringify(byteLevelBpe({}, [])));
    trainer.train([corpus]);
    trainer.save(join(dir, "trained.json"));
    trained = JSON.parse(readFileSync(join(dir, "trained.json"), "utf8"));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const vocab: Record<string, number> = {};
  let size = 0;
  for (const b of [...alphabetBytes].sort((x, y) => x - y)) vocab[BYTE_SYMBOLS[b]] = size++;
  const merges: [string, string][] = [];
  for (const m of trained.model.merges) {
    if (size >= vocabSize) break;
    const [a, b] = typeof m === "string" ? (m.split(" ") as [string, string]) : m;
    if (vocab[a] === undefined || vocab[b] === undefined || vocab[a + b] !== undefined) continue;
    merges.push([a, b]);
    vocab[a + b] = size++;
  }
  const config: FastProcessorConfig = { processor_class: "UniversalActionProcessor", scale, vocab_size: vocabSize, min_token: minToken, action_dim: actionDim, time_horizon: chunkSize };
  return makeTokenizer(config, byteLevelBpe(vocab, merges), "fitFastTokenizer");
}

/** Same as {@link fitFastTokenizer}; the name the CLI (`craft tokenizer fit`) uses. */
export const fitFastTokenizerFromChunks = fitFastTokenizer;

const Int = t.refinement(t.number, Number.isInteger, "Integer");
const PositiveInt = t.refinement(Int, (n) => n > 0, "PositiveInteger");
const PositiveNumber = t.refinement(t.number, (n) => n > 0 && Number.isFinite(n), "PositiveNumber");

/** processor_config.json: LeRobot's hub files may omit action_dim/time_horizon (decode is told them). */
export const FastProcessorConfigCodec = t.intersection([
  t.type({ scale: PositiveNumber, vocab_size: PositiveInt, min_token: Int }),
  t.partial({ processor_class: t.string, action_dim: t.union([PositiveInt, t.null]), time_horizon: t.union([PositiveInt, t.null]) }),
]);

export const FastTokenizerJsonCodec = t.type({
  type: t.literal("universal_action_processor"),
  processor_config: FastProcessorConfigCodec,
  tokenizer: t.UnknownRecord,
});

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

function fromParts(rawConfig: unknown, tokenizerJson: unknown, configSource: string, tokenizerSource: string): FastTokenizer {
  const decoded = FastProcessorConfigCodec.decode(rawConfig);
  if (isLeft(decoded)) throw new PolicyError("InvalidTokenizer", { file: configSource, field: "(root)", expected: "a FAST processor_config.json", message: `${configSource}: ${describeErrors(decoded.left)}` });
  if (typeof tokenizerJson !== "object" || tokenizerJson === null) throw new PolicyError("InvalidTokenizer", { file: tokenizerSource, field: "(root)", expected: "a tokenizer.json object", message: `${tokenizerSource}: expected a tokenizer.json object` });
  const c = decoded.right;
  const config: FastProcessorConfig = {
    processor_class: "UniversalActionProcessor",
    scale: c.scale,
    vocab_size: c.vocab_size,
    min_token: c.min_token,
    action_dim: c.action_dim ?? null,
    time_horizon: c.time_horizon ?? null,
  };
  return makeTokenizer(config, tokenizerJson as Record<string, unknown>, tokenizerSource);
}

/** Loads a tokenizer saved with `toJSON()`; `source` names the file in error messages. */
export function fastTokenizerFromJSON(json: unknown, source = "fast tokenizer JSON"): FastTokenizer {
  const decoded = FastTokenizerJsonCodec.decode(json);
  if (isLeft(decoded)) throw new PolicyError("InvalidTokenizer", { file: source, field: "(root)", expected: "a FAST tokenizer file", message: `${source}: ${describeErrors(decoded.left)}` });
  return fromParts(decoded.right.processor_config, decoded.right.tokenizer, `${source}: processor_config`, source);
}

/** Writes `processor_config.json` and `tokenizer.json` into `dir`, each through a temporary name. */
export function saveFastTokenizer(tokenizer: FastTokenizer, dir: string): void {
  mkdirSync(dir, { recursive: true });
  const json = tokenizer.toJSON();
  const files: [string, unknown][] = [
    [TOKENIZER_FILE, json.tokenizer],
    [PROCESSOR_CONFIG_FILE, json.processor_config],
  ];
  for (const [name, value] of files) {
    const tmp = join(dir, `${name}.tmp-${process.pid}`);
    writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`);
    renameSync(tmp, join(dir, name));
  }
}

/** A UniversalActionProcessor directory (processor_config.json + tokenizer.json), or a file from `toJSON()`. */
export function loadFastTokenizer(path: string): FastTokenizer {
  const readJson = (file: string): unknown => {
    if (!existsSync(file)) throw new PolicyError("InvalidTokenizer", { file, field: "(file)", expected: `a FAST tokenizer directory with ${PROCESSOR_CONFIG_FILE} and ${TOKENIZER_FILE}`, message: `${file}: missing (a FAST tokenizer directory holds ${PROCESSOR_CONFIG_FILE} and ${TOKENIZER_FILE})` });
    try {
      return JSON.parse(readFileSync(file, "utf8"));
    } catch (e) {
      throw new PolicyError("InvalidTokenizer", { file, field: "(root)", expected: "JSON", message: `${file}: not JSON (${(e as Error).message})` });
    }
  };
  if (existsSync(path) && statSync(path).isDirectory()) {
    const configFile = join(path, PROCESSOR_CONFIG_FILE);
    const tokenizerFile = join(path, TOKENIZER_FILE);
    return fromParts(readJson(configFile), readJson(tokenizerFile), configFile, tokenizerFile);
  }
  return fastTokenizerFromJSON(readJson(path), path);
}
