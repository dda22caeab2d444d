import { beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import { seededRandom } from "../src/model/parameters";
import { fastGrammar, utf8Step } from "../src/fast/grammar";
import { BYTE_SYMBOLS, fastTokenizerFromJSON, fitFastTokenizer, type FastTokenizer } from "../src/fast/tokenizer";
import { createProcessor, type Processor } from "../src/processor";
import { byteLevelTokenizer } from "../src/text/byte-level";
import { loadSo101Frames } from "./policy-so101";
import { loadSo101Actions, normalisedChunks } from "./fast-so101";

/**
 * The FAST grammar against independent judges: the WHATWG UTF-8 decoder (TextDecoder, fatal and
 * streaming) for which byte strings can still become valid, and the processor's own decodeActions
 * (Hugging Face's ByteLevel decoder + FAST) for complete sequences.
 */

const text = byteLevelTokenizer();
const byteOf = new Map(BYTE_SYMBOLS.map((symbol, byte) => [symbol, byte]));

/** Each FAST token's bytes, read straight from its tokenizer.json vocabulary. */
function vocabBytes(fast: FastTokenizer): Map<number, number[]> {
  const vocab = (fast.toJSON().tokenizer as { model: { vocab: Record<string, number> } }).model.vocab;
  return new Map(Object.entries(vocab).map(([symbols, id]) => [id, Array.from(symbols, (s) => byteOf.get(s)!)]));
}

/** UTF-8 text of `bytes` if they are a prefix of valid UTF-8 (WHATWG decoder, streaming), else null. */
function decodePrefix(bytes: readonly number[]): { chars: number; pending: boolean; text: string } | null {
  try {
    const decoded = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(Uint8Array.from(bytes), { stream: true });
    const complete = new TextEncoder().encode(decoded).length;
    return { chars: [...decoded].length, pending: complete < bytes.length, text: decoded };
  } catch {
    return null;
  }
}

describe("UTF-8 automaton", () => {
  const run = (bytes: readonly number[]): { state: number; dead: boolean } => {
    let state = 0;
    for (const b of bytes) {
      state = utf8Step(state, b);
      if (state < 0) return { state, dead: true };
    }
    return { state, dead: false };
  };
  /** The automaton accepts exactly what the WHATWG decoder decodes without error, U+FFFD excluded. */
  const disagreement = (bytes: number[]): string | null => {
    const judged = decodePrefix(bytes);
    const validPrefix = judged !== null && !judged.text.includes("\uFFFD");
    const complete = validPrefix && !judged!.pending;
    const { state, dead } = run(bytes);
    return !dead === validPrefix && (!dead && state === 0) === complete ? null : `${bytes.map((b) => b.toString(16)).join(" ")}: prefix ${!dead} vs ${validPrefix}`;
  };
  const agrees = (bytes: number[]): void => {
    expect(disagreement(bytes)).toBeNull();
  };

  it("agrees with TextDecoder on every string of one or two bytes", () => {
    const wrong: string[] = [];
    for (let a = 0; a < 256; a++) {
      wrong.push(disagreement([a]) ?? "");
      for (let b = 0; b < 256; b++) wrong.push(disagreement([a, b]) ?? "");
    }
    expect(wrong.filter((w) => w !== "")).toEqual([]);
  });

  it("agrees with TextDecoder on random strings of up to six bytes drawn near the multi-byte boundaries", () => {
    const interesting = [0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbd, 0xbe, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xe1, 0xec, 0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf3, 0xf4, 0xf5, 0xff];
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.constantFrom(...interesting), fc.integer({ min: 0, max: 255 })), { minLength: 3, maxLength: 6 }), (bytes) => agrees(bytes)),
      { numRuns: 3000 },
    );
    agrees([0xef, 0xbf, 0xbd]); // U+FFFD itself: refused (the FAST decoder counts it as unknown)
    agrees([0xef, 0xbf, 0xbe]);
  });
});

/**
 * FAST's default scale 10 spells so101's chunks with 85 ASCII characters; scale 60 needs ~510, so
 * its vocabulary holds two-byte UTF-8 characters, their lead bytes and every continuation byte.
 */
describe.each([
  { scale: 10, vocabSize: 256 },
  { scale: 60, vocabSize: 512 },
])("FAST grammar on a FAST tokenizer fitted on so101 (chunk 10 × 6, scale $scale, vocab $vocabSize)", ({ scale, vocabSize }) => {
  const chunkSize = 10;
  const actionDim = 6;
  const N = chunkSize * actionDim;
  let fast: FastTokenizer;
  let processor: Processor;
  let bytesOf: Map<number, number[]>;
  beforeAll(async () => {
    fast = fitFastTokenizer(normalisedChunks(await loadSo101Actions(), chunkSize, 5), { chunkSize, actionDim, vocabSize, scale });
    const frames = await loadSo101Frames();
    processor = createProcessor(
      {
        chunk_size: chunkSize,
        n_action_steps: chunkSize,
        max_state_dim: 6,
        max_action_dim: 6,
        max_action_tokens: 64,
        tokenizer_max_length: 48,
        fast_skip_tokens: 128,
        image_resolution: [16, 16],
        empty_cameras: 1,
        vocab_size: 2048,
        normalization_mapping: { STATE: "QUANTILES", ACTION: "QUANTILES" },
      },
      { stats: frames.stats as never, textTokenizer: text, fastTokenizer: fast, imageKeys: [] },
    );
    bytesOf = vocabBytes(fast);
  });

  const terminator = () => [...text.encode("|"), text.eosId];
  const fastIds = () => Array.from({ length: fast.vocabSize }, (_, t) => processor.actionTokenToId(t));

  /**
   * Brute force: id may follow `prefix` (model ids, FAST part) iff prefix + id is the start of a
   * valid sequence. For a FAST id: its bytes keep the text a valid UTF-8 prefix (WHATWG decoder)
   * without U+FFFD, with at most N characters, none pending at N. The vocabulary spells every
   * continuation byte and single-byte characters, so such a prefix can always be finished. The
   * terminator's first id exactly when N characters are complete.
   */
  function oracle(prefix: readonly number[]): Set<number> {
    const prefixBytes = prefix.flatMap((id) => bytesOf.get(processor.idToActionToken(id))!);
    const now = decodePrefix(prefixBytes)!;
    const out = new Set<number>();
    if (now.chars === N && !now.pending) {
      out.add(terminator()[0]);
      return out;
    }
    for (const id of fastIds()) {
      const next = decodePrefix([...prefixBytes, ...bytesOf.get(processor.idToActionToken(id))!]);
      if (next === null || next.text.includes("\uFFFD") || next.chars > N || (next.chars === N && next.pending)) continue;
      out.add(id);
    }
    return out;
  }

  it("the vocabulary spells single-byte characters, and every continuation byte when it has multi-byte ones (what the oracle's completion argument needs)", () => {
    const singles = new Set([...bytesOf.values()].filter((b) => b.length === 1).map((b) => b[0]));
    expect(singles.has(0)).toBe(true);
    const multibyte = [...singles].some((b) => b >= 0xc2);
    expect(multibyte).toBe(scale === 60);
    if (multibyte) for (let b = 0x80; b <= 0xbf; b++) expect(singles.has(b)).toBe(true);
  });

  it("allows exactly the tokens that keep a valid sequence reachable, on random valid prefixes", () => {
    const random = seededRandom(14);
    const draw = (n: number): number => Math.floor(random() * n);
    let checked = 0;
    for (let walk = 0; walk < 6; walk++) {
      // a large step budget, so only the grammar itself limits the sets
      const constraint = processor.decodeConstraint(actionDim, 10_000);
      constraint.start(0);
      const prefix: number[] = [];
      const sequence: number[] = [];
      for (let step = 0; step < 400; step++) {
        const allowed = constraint.allowed(0);
        expect(allowed).not.toBeNull();
        const ids = Array.from(allowed!);
        expect(ids).toEqual([...ids].sort((a, b) => a - b));
        const inFastPhase = sequence.length === prefix.length;
        if (inFastPhase) {
          expect(new Set(ids)).toEqual(oracle(prefix));
          checked++;
        } else {
          // inside the terminator: only its next id
          expect(ids).toEqual([terminator()[sequence.length - prefix.length]]);
        }
        // walk 0 favours multi-byte characters, the others pick uniformly
        const multibyte = ids.filter((id) => (bytesOf.get(processor.idToActionToken(id))?.[0] ?? 0) >= 0x80);
        const pool = walk === 0 && multibyte.length > 0 ? multibyte : ids;
        const token = pool[draw(pool.length)];
        constraint.advance(0, token);
        sequence.push(token);
        if (inFastPhase && token !== terminator()[0]) prefix.push(token);
        if (token === text.eosId) break;
      }
      expect(sequence.at(-1)).toBe(text.eosId);
      expect(constraint.allowed(0)).toBeNull();
      // the finished sequence is what decodeActions accepts as one valid chunk
      expect(processor.decodeActions([sequence], actionDim).invalid).toBe(0);
      if (walk === 0 && scale === 60) expect(prefix.some((id) => bytesOf.get(processor.idToActionToken(id))!.some((b) => b >= 0x80))).toBe(true);
    }
    expect(checked).toBeGreaterThan(6 * 10);
  });

  it("never lets decoding reach a state it cannot finish within max_decoding_steps, however tight", () => {
    const grammar = fastGrammar({ fastTokenizer: fast, actionTokenToId: processor.actionTokenToId, terminator: terminator() });
    const shortest = grammar.minTokens(N);
    expect(shortest).toBeGreaterThan(0);
    expect(shortest).toBeLessThan(N);
    const steps = shortest + terminator().length;
    const random = seededRandom(3);
    for (let walk = 0; walk < 30; walk++) {
      const constraint = grammar.constraint(N, steps);
      constraint.start(0);
      const sequence: number[] = [];
      for (let step = 0; step < steps; step++) {
        const ids = constraint.allowed(0)!;
        expect(ids.length).toBeGreaterThan(0);
        const token = ids[Math.floor(random() * ids.length)];
        constraint.advance(0, token);
        sequence.push(token);
      }
      expect(sequence.at(-1)).toBe(text.eosId);
      expect(processor.decodeActions([sequence], actionDim).invalid).toBe(0);
    }
  });
});

describe("FAST grammar on a hand-made vocabulary with dead ends", () => {
  // ids: 0 chr(0), 1 "A", 2 a lone lead byte ED that no token continues (it needs 80…9F next), 3 "é" (C3 A9), 4 "AA",
  // 5 U+FFFD (EF BF BD), 6 U+FFFE (EF BF BE), 7 the pair EF BF alone, 8 the continuation BE alone
  const spell = (...bytes: number[]) => bytes.map((b) => BYTE_SYMBOLS[b]).join("");
  const vocab: Record<string, number> = {
    [spell(0x00)]: 0,
    [spell(0x41)]: 1,
    [spell(0xed)]: 2,
    [spell(0xc3, 0xa9)]: 3,
    [spell(0x41, 0x41)]: 4,
    [spell(0xef, 0xbf, 0xbd)]: 5,
    [spell(0xef, 0xbf, 0xbe)]: 6,
    [spell(0xef, 0xbf)]: 7,
    [spell(0xbe)]: 8,
  };
  const byteLevel = { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true };
  const fast = fastTokenizerFromJSON({
    type: "universal_action_processor",
    processor_config: { processor_class: "UniversalActionProcessor", scale: 10, vocab_size: 9, min_token: 0, action_dim: 1, time_horizon: 2 },
    tokenizer: {
      version: "1.0",
      added_tokens: [],
      normalizer: null,
      pre_tokenizer: byteLevel,
      post_processor: byteLevel,
      decoder: byteLevel,
      model: { type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, vocab, merges: [] },
    },
  });
  const toId = (t: number) => 100 + t;
  const END = [50, 51];
  const N = 2;

  /** Every FAST token sequence the grammar lets through to the terminator (DFS over its allowed sets). */
  function generated(steps: number): string[] {
    const grammar = fastGrammar({ fastTokenizer: fast, actionTokenToId: toId, terminator: END });
    const out: string[] = [];
    const visit = (prefix: number[]) => {
      const constraint = grammar.constraint(N, steps);
      constraint.start(0);
      for (const id of prefix) constraint.advance(0, id);
      const ids = constraint.allowed(0)!;
      expect(ids.length).toBeGreaterThan(0); // no dead end is ever reached
      if (ids[0] === END[0]) {
        expect([...ids]).toEqual([END[0]]);
        out.push(prefix.map((id) => id - 100).join(","));
        return;
      }
      for (const id of ids) visit([...prefix, id]);
    };
    visit([]);
    return out.sort();
  }

  /** Every token sequence of up to 4 tokens that FAST's decoder calls valid for N = 2 coefficients. */
  function bruteForce(): string[] {
    const out: string[] = [];
    const extend = (seq: number[]) => {
      if (seq.length > 0 && fast.decode(seq, { chunkSize: N, actionDim: 1 }).valid) out.push(seq.join(","));
      if (seq.length === 4) return;
      for (let t = 0; t < 9; t++) extend([...seq, t]);
    };
    extend([]);
    return out.sort();
  }

  it("generates exactly the sequences FAST decodes as valid: no lone lead byte, no U+FFFD, EF BF + BE allowed", () => {
    const grammarSet = generated(100);
    const valid = bruteForce();
    expect(grammarSet).toEqual(valid);
    expect(grammarSet).toContain("7,8,1"); // U+FFFE spelt over two tokens, then "A"
    expect(grammarSet.some((s) => s.split(",").includes("2"))).toBe(false);
    expect(grammarSet.some((s) => s.split(",").includes("5"))).toBe(false);
    expect(grammarSet).not.toContain("1,4"); // three characters
  });

  it("keeps only sequences that fit the step budget when it binds", () => {
    // 3 steps: two for the FAST tokens at most, then "|" and EOS would not fit — so one FAST token
    const tight = generated(3);
    expect(tight).toEqual(["4"]);
    expect(generated(4).every((s) => s.split(",").length <= 2)).toBe(true);
  });

  it("refuses a tokenizer that is not ByteLevel BPE, naming the field", () => {
    const json = fast.toJSON();
    const other = fastTokenizerFromJSON({ ...json, tokenizer: { ...json.tokenizer, decoder: { type: "Metaspace", replacement: "▁" } } });
    expect(() => fastGrammar({ fastTokenizer: other, actionTokenToId: toId, terminator: END })).toThrow(/^FAST tokenizer.json: decoder.type: expected "ByteLevel"/);
  });
});
