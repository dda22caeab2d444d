import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { byteLevelTokenizer } from "../src/text/byte-level";
import { hfTokenizerFromJSON, loadHfTokenizer } from "../src/text/hf-tokenizer";
import { PIECES, gemmaLikeJson } from "./gemma-like-tokenizer";

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

  it("rejects malformed files naming the file and field", () => {
    const bad = gemmaLikeJson();
    (bad.model as Record<string, unknown>).type = "Nope";
    expect(() => hfTokenizerFromJSON(bad, "tok.json")).toThrow(/^tok\.json: model\.type: expected .*BPE.*, got "Nope"/);
    expect(() => hfTokenizerFromJSON({ added_tokens: [] }, "tok.json")).toThrow(/^tok\.json: model: expected .*, got undefined/);
    const noBos = gemmaLikeJson();
    noBos.added_tokens = (noBos.added_tokens as { content: string }[]).filter((a) => a.content !== "<bos>");
    delete (noBos.model as { vocab: Record<string, number> }).vocab["<bos>"];
    expect(() => hfTokenizerFromJSON(noBos, "tok.json")).toThrow('tok.json: added_tokens: expected a "<bos>" (or "<s>") token');
    expect(() => loadHfTokenizer(join(dir, "missing.json"))).toThrow(/missing\.json: cannot read tokenizer\.json/);
  });
});

// A PaliGemma-shaped SentencePiece BPE model (byte fallback, no dummy prefix, identity normalisation,
// split digits, as Gemma's) trained by sentencepiece, converted to tokenizer.json the way
// transformers' converter does (vocab in id order, merges = every split of a piece into two pieces,
// ranked by the merged piece), and sentencepiece's own encodings of test strings.
const SPM_REFERENCE = `
import json, sys, sentencepiece as spm
a = json.load(sys.stdin)
d = a["dir"]
open(d + "/corpus.txt", "w").write("\\n".join(a["corpus"]))
spm.SentencePieceTrainer.train(input=d + "/corpus.txt", model_prefix=d + "/spm", vocab_size=a["vocab"], model_type="bpe",
    byte_fallback=True, add_dummy_prefix=False, remove_extra_whitespaces=False, normalization_rule_name="identity",
    split_digits=True, allow_whitespace_only_pieces=True, character_coverage=1.0, pad_id=0, eos_id=1, bos_id=2, unk_id=3,
    pad_piece="<pad>", eos_piece="<eos>", bos_piece="<bos>", unk_piece="<unk>", minloglevel=2)
sp = spm.SentencePieceProcessor(model_file=d + "/spm.model")
n = sp.get_piece_size()
pieces = [sp.id_to_piece(i) for i in range(n)]
vocab = {p: i for i, p in enumerate(pieces)}
normal = {p for i, p in enumerate(pieces) if not (sp.is_control(i) or sp.is_unknown(i) or sp.is_byte(i))}
merges = []
for piece in pieces:
    if piece not in normal:
        continue
    local = [(piece[:k], piece[k:]) for k in range(1, len(piece)) if piece[:k] in normal and piece[k:] in normal]
    local.sort(key=lambda m: (vocab[m[0]], vocab[m[1]]))
    merges.extend(local)
special = lambda i, p: {"id": i, "content": p, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True}
tokenizer = {
    "version": "1.0", "truncation": None, "padding": None,
    "added_tokens": [special(i, pieces[i]) for i in range(4)],
    "normalizer": {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"},
    "pre_tokenizer": None, "post_processor": None,
    "decoder": {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "}, {"type": "ByteFallback"}, {"type": "Fuse"}]},
    "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None, "end_of_word_suffix": None,
              "fuse_unk": True, "byte_fallback": True, "ignore_merges": False, "vocab": vocab, "merges": [list(m) for m in merges]},
}
print(json.dumps({"tokenizer": tokenizer, "ids": [sp.encode(t) for t in a["texts"]], "decoded": [sp.decode(sp.encode(t)) for t in a["texts"]]}))
`;

describe("PaliGemma-like tokenizer.json against sentencepiece", () => {
  const corpus = [
    "Task: pick the orange cube and place it in the bowl, State: 12 128 255 0 64 200;",
    "Task: put the red block on the green one, State: 1 2 3 4 5 6 7 8;",
    "Task: open the drawer, State: 100 101 99 98;",
    "Action: move the arm to the left | stop the gripper when the cube is grasped",
    "the quick brown fox jumps over the lazy dog; orange cube, bowl, drawer, gripper, arm",
  ].flatMap((line, i) => Array.from({ length: 20 }, (_, k) => `${line} ${(i * 37 + k * 11) % 256}`));
  const texts = [
    "Task: pick the orange cube, State: 0 255 128 192 -1 255;\n",
    "Task: place it in the bowl, State: 7 13 255;\n",
    "Action: ",
    "|",
    "Task: ünïcödé ✓ 日本 and  double  spaces, State: 42;\n",
    "drawer gripper fox",
  ];
  const dir = mkdtempSync(join(tmpdir(), "craft-spm-"));
  const run = spawnSync("/usr/bin/python3", ["-c", SPM_REFERENCE], { input: JSON.stringify({ dir, corpus, texts, vocab: 400 }), encoding: "utf8", maxBuffer: 64 << 20 });
  if (run.status !== 0) throw new Error(`sentencepiece reference failed: ${run.stderr}`);
  const reference = JSON.parse(run.stdout) as { tokenizer: Record<string, unknown>; ids: number[][]; decoded: string[] };
  writeFileSync(join(dir, "tokenizer.json"), JSON.stringify(reference.tokenizer));
  const tok = loadHfTokenizer(join(dir, "tokenizer.json"));

  it("encodes prompts exactly as sentencepiece does, byte fallback included", () => {
    texts.forEach((text, i) => expect(tok.encode(text)).toEqual(reference.ids[i]));
    expect(reference.ids[4].some((id) => id >= 4 && id < 4 + 256)).toBe(true); // the test does exercise byte fallback
  });

  it("decodes as sentencepiece does and reads the special ids", () => {
    texts.forEach((text, i) => expect(tok.decode([tok.bosId, ...reference.ids[i], tok.eosId])).toBe(reference.decoded[i]));
    expect([tok.padId, tok.eosId, tok.bosId]).toEqual([0, 1, 2]);
  });
});
