/**
 * A Gemma-shaped Hugging Face tokenizer.json, small enough for tests (PaliGemma's own is 17 MB and
 * gated): ids 0–3 pad/eos/bos/unk, byte fallback <0x00>…<0xFF> at 4…259, then PIECES from 260.
 */
const BYTES = Array.from({ length: 256 }, (_, b) => `<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`);
export const PIECES = ["▁", "h", "e", "l", "o", "w", "r", "d", "|", "ll", "he", "hell", "hello", "▁hello", "▁w", "or", "▁wor"];

/** A Gemma-shaped tokenizer.json: specials, byte fallback, `▁` spaces, ranked merges. */
export function gemmaLikeJson(mergeFormat: "string" | "array" = "string"): Record<string, unknown> {
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
