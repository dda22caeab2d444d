import { describe, expect, it } from "vitest";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { byteLevelTokenizer } from "../src/text/byte-level";
import { hfTokenizerFromJSON, loadHfTokenizer } from "../src/text/hf-tokenizer";

describe("byte-level tokenizer", () => {
  const tok = byteLevelTokenizer();

  it("maps UTF-8 bytes to ids 4…259 and reserves pad/eos/bos", () => {
    expect([tok.padId, tok.eosId, tok.bosId, tok.vocabSize]).toEqual([0, 1, 2, 260]);
    expect(tok.encode("A")).toEqual([4 + 65]);
    expect(tok.encode("é")).toEqual([4 + 0xc3, 4 + 0xa9]);
    expect(tok.encode("")).toEqual([]);
  });

  it("decodes back to the text and skips special ids", () => {
    const text = "Task: pick the orange cube, State: 0 255;\nÀ→✓";
    expect(tok.decode([tok.bosId, ...tok.encode(text), tok.eosId, tok.padId])).toBe(text);
  });
});

const BYTES = Array.from({ length: 256 }, (_, b) => `<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`);
const PIECES = ["▁", "h", "e", "l", "o", "w", "r", "d", "|", "ll", "he", "hell", "hello", "▁hello", "▁w", "or", "▁wor"];

/** A Gemma-shaped tokenizer.json: specials, byte fallback, `▁` spaces, ranked merges. */
function gemmaLikeJson(mergeFormat: "string" | "array" = "string"): Record<string, unknown> {
  const vocab: Record<string, number> = { "<pad>": 0, "<eos>": 1, "<bos>": 2, "<unk>": 3 };
  BYTES.forEach((b, i) => (vocab[b] = 4 + i));
  PIECES.forEach((p, i) => (vocab[p] = 260 + i));
  const merges = [
    ["l", "l"],
    ["h", "e"],
    ["he", "ll"],
    ["hell", "o"],
    ["▁", "hello"],
    ["o", "r"],
    ["▁", "w"],
    ["▁w", "or"],
  ];
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: [
      { id: 0, content: "<pad>", single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
      { id: 1, content: "<eos>", single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
      { id: 2, content: "<bos>", single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
      { id: 3, content: "<unk>", single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
    ],
    normalizer: { type: "Replace", pattern: { String: " " }, content: "▁" },
    pre_tokenizer: null,
    post_processor: { type: "TemplateProcessing", single: [{ SpecialToken: { id: "<bos>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }] },
    decoder: {
      type: "Sequence",
      decoders: [{ type: "Replace", pattern: { String: "▁" }, content: " " }, { type: "ByteFallback" }, { type: "Fuse" }],
    },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: "<unk>",
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: true,
      ignore_merges: false,
      vocab,
      merges: mergeFormat === "string" ? merges.map(([a, b]) => `${a} ${b}`) : merges,
    },
  };
}

describe("Hugging Face tokenizer.json loader", () => {
  const dir = mkdtempSync(join(tmpdir(), "craft-hf-tok-"));
  const path = join(dir, "tokenizer.json");
  writeFileSync(path, JSON.stringify(gemmaLikeJson()));
  const tok = loadHfTokenizer(path);
  const id = (piece: string): number => 260 + PIECES.indexOf(piece);

  it("reads the special ids and vocabulary size", () => {
    expect([tok.padId, tok.eosId, tok.bosId, tok.vocabSize]).toEqual([0, 1, 2, 260 + PIECES.length]);
  });

  it("applies merges by rank, with spaces as ▁", () => {
    expect(tok.encode("hello hello")).toEqual([id("hello"), id("▁hello")]);
    expect(tok.encode("hell")).toEqual([id("hell")]);
    // "hel": (h,e) is the only merge available → he, l
    expect(tok.encode("hel")).toEqual([id("he"), id("l")]);
    expect(tok.encode(" world")).toEqual([id("▁wor"), id("l"), id("d")]);
    expect(tok.encode("|")).toEqual([id("|")]);
  });

  it("falls back to UTF-8 byte tokens for characters outside the vocabulary", () => {
    expect(tok.encode("hé")).toEqual([id("h"), 4 + 0xc3, 4 + 0xa9]);
    expect(tok.encode("✓")).toEqual([4 + 0xe2, 4 + 0x9c, 4 + 0x93]);
  });

  it("decodes back to text, fusing byte tokens and skipping specials", () => {
    for (const text of ["hello world", "hé hello ✓", " wor|d  "]) {
      expect(tok.decode([tok.bosId, ...tok.encode(text), tok.eosId])).toBe(text);
    }
  });

  it("matches added tokens written literally in the text", () => {
    expect(tok.encode("hello<eos>")).toEqual([id("hello"), 1]);
  });

  it("accepts merges written as pairs (newer tokenizer.json)", () => {
    const t2 = hfTokenizerFromJSON(gemmaLikeJson("array"));
    expect(t2.encode("hello hello")).toEqual(tok.encode("hello hello"));
  });

  it("rejects malformed files naming the field", () => {
    const bad = gemmaLikeJson();
    (bad.model as Record<string, unknown>).type = "Unigram";
    expect(() => hfTokenizerFromJSON(bad, "tok.json")).toThrow(/tok\.json: model.type: expected "BPE"/);
    const badMerge = gemmaLikeJson();
    (badMerge.model as { merges: string[] }).merges.push("x y");
    expect(() => hfTokenizerFromJSON(badMerge, "tok.json")).toThrow(/model\.merges\[8\]: expected "x", "y" and "xy" in model.vocab/);
    const badNorm = { ...gemmaLikeJson(), normalizer: { type: "Lowercase" } };
    expect(() => hfTokenizerFromJSON(badNorm, "tok.json")).toThrow(/normalizer\.type: expected one of/);
    expect(() => loadHfTokenizer(join(dir, "missing.json"))).toThrow(/missing\.json: cannot read tokenizer\.json/);
  });
});
