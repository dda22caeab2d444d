import type { TextTokenizer } from "../inputs";

/** Ids of the byte-level tokenizer: 0 pad, 1 eos, 2 bos, 3 unk, then byte b → 4 + b. */
export const BYTE_LEVEL_SPECIALS = { pad: 0, eos: 1, bos: 2, unk: 3 } as const;
const BYTE_OFFSET = 4;

/**
 * UTF-8 bytes as tokens: needs no download, and its 260 ids sit far below the FAST ids
 * (vocab_size − 1 − fast_skip_tokens − t) of a 2048-token model. `encode` adds no special tokens.
 */
export function byteLevelTokenizer(): TextTokenizer {
  const encoder = new TextEncoder();
  const decoder = new TextDecoder("utf-8");
  return {
    vocabSize: BYTE_OFFSET + 256,
    bosId: BYTE_LEVEL_SPECIALS.bos,
    eosId: BYTE_LEVEL_SPECIALS.eos,
    padId: BYTE_LEVEL_SPECIALS.pad,
    encode: (text) => Array.from(encoder.encode(text), (b) => b + BYTE_OFFSET),
    decode: (ids) => {
      const bytes = ids.filter((id) => id >= BYTE_OFFSET && id < BYTE_OFFSET + 256).map((id) => id - BYTE_OFFSET);
      return decoder.decode(Uint8Array.from(bytes));
    },
  };
}
