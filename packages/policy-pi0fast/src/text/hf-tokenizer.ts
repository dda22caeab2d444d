/**
 * A local Hugging Face `tokenizer.json` (PaliGemma's, google/paligemma-3b-pt-224) through Hugging
 * Face's own tokenizer library, @huggingface/tokenizers: normalizer, pre-tokenizer, BPE with byte
 * fallback, added tokens and decoder as the file declares them. `encode` adds no special tokens
 * (the processor places BOS/EOS itself, as LeRobot's `encode(..., add_special_tokens=False)`);
 * `decode` skips special tokens.
 */
import { readFileSync } from "node:fs";
import * as t from "io-ts";
import { isLeft } from "fp-ts/lib/Either.js";
import { Tokenizer as HfTokenizer } from "@huggingface/tokenizers";
import type { TextTokenizer } from "../inputs";
import { describeErrors } from "../fast/tokenizer";
import { PolicyError } from "../errors";

/** What is checked before the library sees the file (it guesses a model for an unknown type). */
const TokenizerFileCodec = t.type({
  model: t.type({ type: t.keyof({ BPE: null, Unigram: null, WordPiece: null, WordLevel: null }) }),
  added_tokens: t.array(t.type({ id: t.number, content: t.string })),
});

const BOS_NAMES = ["<bos>", "<s>"];
const EOS_NAMES = ["<eos>", "</s>"];

/** Builds a tokenizer from parsed tokenizer.json content; `source` names the file in errors. */
export function hfTokenizerFromJSON(raw: unknown, source = "tokenizer.json"): TextTokenizer {
  const checked = TokenizerFileCodec.decode(raw);
  if (isLeft(checked)) throw new PolicyError("InvalidTokenizer", { file: source, field: "(root)", expected: "a tokenizer.json", message: `${source}: ${describeErrors(checked.left)}` });
  let hf: HfTokenizer;
  try {
    hf = new HfTokenizer(raw as object, {});
  } catch (e) {
    throw new PolicyError("InvalidTokenizer", { file: source, field: "(root)", expected: "a tokenizer.json Hugging Face's tokenizers can load", message: `${source}: not a tokenizer.json Hugging Face's tokenizers can load (${(e as Error).message})` });
  }
  const find = (names: readonly string[]): number | undefined => {
    for (const name of names) {
      const id = hf.token_to_id(name);
      if (id !== undefined && id !== null) return id;
    }
    return undefined;
  };
  const bosId = find(BOS_NAMES);
  const eosId = find(EOS_NAMES);
  if (bosId === undefined) throw new PolicyError("InvalidTokenizer", { file: source, field: "added_tokens", expected: 'a "<bos>" (or "<s>") token', message: `${source}: added_tokens: expected a "<bos>" (or "<s>") token` });
  if (eosId === undefined) throw new PolicyError("InvalidTokenizer", { file: source, field: "added_tokens", expected: 'an "<eos>" (or "</s>") token', message: `${source}: added_tokens: expected an "<eos>" (or "</s>") token` });
  const padId = find(["<pad>"]) ?? eosId;
  let maxId = 0;
  for (const id of hf.get_vocab(true).values()) maxId = Math.max(maxId, id);
  return {
    vocabSize: maxId + 1,
    bosId,
    eosId,
    padId,
    encode: (text) => (text === "" ? [] : hf.encode(text, { add_special_tokens: false }).ids),
    decode: (ids) => (ids.length === 0 ? "" : hf.decode([...ids], { skip_special_tokens: true, clean_up_tokenization_spaces: false })),
  };
}

/** Reads and validates a local Hugging Face tokenizer.json. */
export function loadHfTokenizer(path: string): TextTokenizer {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new PolicyError("InvalidTokenizer", { file: path, field: "(file)", expected: "a readable tokenizer.json", message: `${path}: cannot read tokenizer.json: ${(e as Error).message}` });
  }
  return hfTokenizerFromJSON(raw, path);
}
