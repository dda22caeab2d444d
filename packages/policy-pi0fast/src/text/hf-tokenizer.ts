/**
 * Loader for a local Hugging Face `tokenizer.json` of the Gemma / PaliGemma kind: a BPE model with
 * byte fallback (`<0xXX>` tokens), spaces written as `▁` by the normalizer, merges by rank, and
 * `added_tokens` for `<bos>`, `<eos>`, `<pad>`. `encode` adds no special tokens (the processor places
 * BOS/EOS itself); `decode` skips special tokens.
 */
import { readFileSync } from "node:fs";
import * as t from "io-ts";
import { isLeft } from "fp-ts/lib/Either.js";
import type { TextTokenizer } from "../inputs";
import { describeErrors } from "../fast/tokenizer";

const StringPattern = t.type({ String: t.string });

interface NormalizerJson {
  readonly type: string;
  readonly pattern?: { readonly String: string };
  readonly content?: string;
  readonly prepend?: string;
  readonly normalizers?: NormalizerJson[];
}
const NormalizerCodec: t.Type<NormalizerJson> = t.recursion("Normalizer", () =>
  t.intersection([
    t.type({ type: t.string }),
    t.partial({ pattern: StringPattern, content: t.string, prepend: t.string, normalizers: t.array(NormalizerCodec) }),
  ]),
);

interface DecoderJson {
  readonly type: string;
  readonly pattern?: { readonly String: string };
  readonly content?: string;
  readonly start?: number;
  readonly stop?: number;
  readonly replacement?: string;
  readonly prepend_scheme?: string;
  readonly add_prefix_space?: boolean;
  readonly decoders?: DecoderJson[];
}
const DecoderCodec: t.Type<DecoderJson> = t.recursion("Decoder", () =>
  t.intersection([
    t.type({ type: t.string }),
    t.partial({
      pattern: StringPattern,
      content: t.string,
      start: t.number,
      stop: t.number,
      replacement: t.string,
      prepend_scheme: t.string,
      add_prefix_space: t.boolean,
      decoders: t.array(DecoderCodec),
    }),
  ]),
);

const PreTokenizerCodec = t.intersection([
  t.type({ type: t.string }),
  t.partial({ replacement: t.string, prepend_scheme: t.string, add_prefix_space: t.boolean, split: t.boolean }),
]);

const AddedTokenCodec = t.intersection([t.type({ id: t.number, content: t.string }), t.partial({ special: t.boolean })]);

export const HfTokenizerJsonCodec = t.type({
  added_tokens: t.array(AddedTokenCodec),
  normalizer: t.union([NormalizerCodec, t.null]),
  pre_tokenizer: t.union([PreTokenizerCodec, t.null]),
  decoder: t.union([DecoderCodec, t.null]),
  model: t.intersection([
    t.type({
      type: t.literal("BPE"),
      vocab: t.record(t.string, t.number),
      merges: t.array(t.union([t.string, t.tuple([t.string, t.string])])),
    }),
    t.partial({ unk_token: t.union([t.string, t.null]), byte_fallback: t.boolean, fuse_unk: t.boolean }),
  ]),
});
export type HfTokenizerJson = t.TypeOf<typeof HfTokenizerJsonCodec>;

const SPACE_MARK = "\u2581"; // ▁

function normalizerFn(n: NormalizerJson | null, source: string, field: string): (s: string) => string {
  if (n === null) return (s) => s;
  switch (n.type) {
    case "Replace": {
      if (!n.pattern || n.content === undefined) throw new Error(`${source}: ${field}: Replace needs pattern.String and content`);
      const { String: from } = n.pattern;
      const to = n.content;
      return (s) => s.split(from).join(to);
    }
    case "Prepend": {
      const p = n.prepend ?? "";
      return (s) => (s.length > 0 ? p + s : s);
    }
    case "NFC":
    case "NFKC":
    case "NFD":
    case "NFKD": {
      const form = n.type;
      return (s) => s.normalize(form);
    }
    case "Sequence": {
      const fns = (n.normalizers ?? []).map((m, i) => normalizerFn(m, source, `${field}.normalizers[${i}]`));
      return (s) => fns.reduce((acc, f) => f(acc), s);
    }
    default:
      throw new Error(`${source}: ${field}.type: expected one of Replace, Prepend, NFC, NFKC, NFD, NFKD, Sequence, got "${n.type}"`);
  }
}

function preTokenizerFn(p: t.TypeOf<typeof PreTokenizerCodec> | null, source: string): (s: string, first: boolean) => string[] {
  if (p === null) return (s) => [s];
  if (p.type !== "Metaspace") throw new Error(`${source}: pre_tokenizer.type: expected Metaspace or null, got "${p.type}"`);
  const mark = p.replacement ?? SPACE_MARK;
  const scheme = p.prepend_scheme ?? (p.add_prefix_space === false ? "never" : "always");
  const split = p.split ?? true;
  return (s, first) => {
    let x = s.split(" ").join(mark);
    if ((scheme === "always" || (scheme === "first" && first)) && !x.startsWith(mark)) x = mark + x;
    if (!split) return [x];
    const words: string[] = [];
    let cur = "";
    for (const ch of x) {
      if (ch === mark && cur !== "") {
        words.push(cur);
        cur = "";
      }
      cur += ch;
    }
    if (cur !== "") words.push(cur);
    return words;
  };
}

type TokenDecoder = (tokens: string[]) => string[];

function decoderFn(d: DecoderJson | null, source: string, field: string): TokenDecoder {
  if (d === null) return (tokens) => tokens;
  switch (d.type) {
    case "Replace": {
      if (!d.pattern || d.content === undefined) throw new Error(`${source}: ${field}: Replace needs pattern.String and content`);
      const from = d.pattern.String;
      const to = d.content;
      return (tokens) => tokens.map((tok) => tok.split(from).join(to));
    }
    case "ByteFallback":
      return (tokens) => {
        const out: string[] = [];
        let bytes: number[] = [];
        const flush = (): void => {
          if (bytes.length) out.push(new TextDecoder("utf-8").decode(Uint8Array.from(bytes)));
          bytes = [];
        };
        for (const tok of tokens) {
          const m = /^<0x([0-9A-Fa-f]{2})>$/.exec(tok);
          if (m) bytes.push(parseInt(m[1], 16));
          else {
            flush();
            out.push(tok);
          }
        }
        flush();
        return out;
      };
    case "Fuse":
      return (tokens) => [tokens.join("")];
    case "Strip": {
      const c = d.content ?? " ";
      const start = d.start ?? 0;
      const stop = d.stop ?? 0;
      return (tokens) =>
        tokens.map((tok) => {
          let s = tok;
          for (let i = 0; i < start && s.startsWith(c); i++) s = s.slice(c.length);
          for (let i = 0; i < stop && s.endsWith(c); i++) s = s.slice(0, s.length - c.length);
          return s;
        });
    }
    case "Metaspace": {
      const mark = d.replacement ?? SPACE_MARK;
      const strip = (d.prepend_scheme ?? (d.add_prefix_space === false ? "never" : "always")) !== "never";
      return (tokens) =>
        tokens.map((tok, i) => {
          const s = tok.split(mark).join(" ");
          return i === 0 && strip && s.startsWith(" ") ? s.slice(1) : s;
        });
    }
    case "Sequence": {
      const fns = (d.decoders ?? []).map((m, i) => decoderFn(m, source, `${field}.decoders[${i}]`));
      return (tokens) => fns.reduce((acc, f) => f(acc), tokens);
    }
    default:
      throw new Error(`${source}: ${field}.type: expected one of Replace, ByteFallback, Fuse, Strip, Metaspace, Sequence, got "${d.type}"`);
  }
}

function findSpecial(json: HfTokenizerJson, names: readonly string[]): number | undefined {
  for (const name of names) {
    const added = json.added_tokens.find((a) => a.content === name);
    if (added) return added.id;
    if (json.model.vocab[name] !== undefined) return json.model.vocab[name];
  }
  return undefined;
}

/** Builds a tokenizer from parsed tokenizer.json content; `source` names the file in errors. */
export function hfTokenizerFromJSON(raw: unknown, source = "tokenizer.json"): TextTokenizer {
  const decoded = HfTokenizerJsonCodec.decode(raw);
  if (isLeft(decoded)) throw new Error(`${source}: ${describeErrors(decoded.left)}`);
  const json = decoded.right;
  const vocab = new Map<string, number>(Object.entries(json.model.vocab));
  const idToToken = new Map<number, string>();
  for (const [tok, id] of vocab) idToToken.set(id, tok);
  for (const a of json.added_tokens) {
    idToToken.set(a.id, a.content);
    if (!vocab.has(a.content)) vocab.set(a.content, a.id);
  }
  const special = new Set(json.added_tokens.filter((a) => a.special === true).map((a) => a.id));

  const mergeRank = new Map<string, { rank: number; id: number }>();
  json.model.merges.forEach((m, i) => {
    const pair = typeof m === "string" ? m.split(" ") : m;
    if (pair.length !== 2) throw new Error(`${source}: model.merges[${i}]: expected "left right", got ${JSON.stringify(m)}`);
    const [a, b] = pair;
    const ida = vocab.get(a);
    const idb = vocab.get(b);
    const idm = vocab.get(a + b);
    if (ida === undefined || idb === undefined || idm === undefined) {
      throw new Error(`${source}: model.merges[${i}]: expected "${a}", "${b}" and "${a + b}" in model.vocab`);
    }
    mergeRank.set(`${ida} ${idb}`, { rank: i, id: idm });
  });

  const byteFallback = json.model.byte_fallback === true;
  const byteIds: number[] = [];
  if (byteFallback) {
    for (let b = 0; b < 256; b++) {
      const id = vocab.get(`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`);
      if (id === undefined) throw new Error(`${source}: model.vocab: byte_fallback is set but <0x${b.toString(16).toUpperCase().padStart(2, "0")}> is missing`);
      byteIds.push(id);
    }
  }
  const unkId = json.model.unk_token != null ? vocab.get(json.model.unk_token) : undefined;
  const fuseUnk = json.model.fuse_unk === true;

  const bosId = findSpecial(json, ["<bos>", "<s>"]);
  const eosId = findSpecial(json, ["<eos>", "</s>"]);
  if (bosId === undefined) throw new Error(`${source}: added_tokens: expected a "<bos>" (or "<s>") token`);
  if (eosId === undefined) throw new Error(`${source}: added_tokens: expected an "<eos>" (or "</s>") token`);
  const padId = findSpecial(json, ["<pad>"]) ?? eosId;

  const normalize = normalizerFn(json.normalizer, source, "normalizer");
  const preTokenize = preTokenizerFn(json.pre_tokenizer, source);
  const decodeTokens = decoderFn(json.decoder, source, "decoder");
  const encoder = new TextEncoder();
  const added = [...json.added_tokens].sort((a, b) => b.content.length - a.content.length || a.id - b.id);

  const bpeWord = (word: string): number[] => {
    let symbols: number[] = [];
    for (const ch of word) {
      const id = vocab.get(ch);
      if (id !== undefined) symbols.push(id);
      else if (byteFallback) for (const b of encoder.encode(ch)) symbols.push(byteIds[b]);
      else if (unkId !== undefined) {
        if (!(fuseUnk && symbols[symbols.length - 1] === unkId)) symbols.push(unkId);
      } else throw new Error(`${source}: cannot encode "${ch}": not in model.vocab, no byte_fallback and no unk_token`);
    }
    for (;;) {
      let best: { rank: number; id: number } | undefined;
      let at = -1;
      for (let i = 0; i + 1 < symbols.length; i++) {
        const m = mergeRank.get(`${symbols[i]} ${symbols[i + 1]}`);
        if (m && (!best || m.rank < best.rank)) {
          best = m;
          at = i;
        }
      }
      if (!best) return symbols;
      symbols = [...symbols.slice(0, at), best.id, ...symbols.slice(at + 2)];
    }
  };

  const encodeSegment = (text: string, first: boolean): number[] =>
    text === "" ? [] : preTokenize(normalize(text), first).flatMap(bpeWord);

  let maxId = 0;
  for (const id of idToToken.keys()) maxId = Math.max(maxId, id);

  return {
    vocabSize: maxId + 1,
    bosId,
    eosId,
    padId,
    encode(text) {
      // added tokens written literally in the text are matched first, as HF does
      const ids: number[] = [];
      let rest = text;
      let first = true;
      while (rest.length > 0) {
        let hitAt = -1;
        let hit: (typeof added)[number] | undefined;
        for (const a of added) {
          if (a.content === "") continue;
          const at = rest.indexOf(a.content);
          if (at >= 0 && (hitAt < 0 || at < hitAt)) {
            hitAt = at;
            hit = a;
          }
        }
        if (!hit) {
          ids.push(...encodeSegment(rest, first));
          break;
        }
        ids.push(...encodeSegment(rest.slice(0, hitAt), first), hit.id);
        rest = rest.slice(hitAt + hit.content.length);
        first = false;
      }
      return ids;
    },
    decode(ids) {
      const tokens = ids.filter((id) => !special.has(id)).map((id) => idToToken.get(id) ?? "");
      return decodeTokens(tokens).join("");
    },
  };
}

/** Reads and validates a local Hugging Face tokenizer.json. */
export function loadHfTokenizer(path: string): TextTokenizer {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new Error(`${path}: cannot read tokenizer.json: ${(e as Error).message}`);
  }
  return hfTokenizerFromJSON(raw, path);
}
