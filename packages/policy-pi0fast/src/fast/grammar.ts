/**
 * The grammar of a well-formed FAST action sequence, as a decoding constraint.
 *
 * A generation decodes (processor.ts `decodeActions`, tokenizer.ts `decode`) without loss only when
 * its FAST tokens' ByteLevel bytes are valid UTF-8 spelling exactly `chunk_size × actionDim`
 * characters (one per quantised DCT coefficient), none of them U+FFFD (what a broken byte sequence
 * decodes to, so the decoder counts it as unknown), followed by the terminator the processor
 * trains on: tok("|") then EOS. Anything else LeRobot decodes to a padded/cut chunk, or zeros.
 *
 * Each FAST token is precomputed as a transition of a small UTF-8 automaton (pending continuation
 * bytes, Unicode's table of well-formed byte sequences) and the number of characters it completes.
 * From that, `minTokens[r][s]`: the fewest tokens that finish `r` more characters from automaton
 * state `s`. A token is allowed iff it keeps the sequence finishable — within the decoding steps
 * left, terminator included — so every state the constraint lets decoding reach can be completed
 * (tokens that lead to a dead end, e.g. a lead byte no token continues, are never offered). Once
 * the count is reached with nothing pending, only the terminator's tokens are allowed, in order.
 *
 * Greedy decoding under this constraint returns the unconstrained output whenever that output was
 * itself valid (each of its argmaxes was allowed); it changes only generations that would decode
 * as invalid.
 */
import * as t from "io-ts";
import { isLeft } from "fp-ts/lib/Either.js";
import type { DecodeConstraint } from "../model/pi0fast";
import { BYTE_SYMBOLS, describeErrors, type FastTokenizer } from "./tokenizer";

// UTF-8 automaton states (Unicode 15, table 3-7, well-formed byte sequences). ACCEPT is between
// characters; the others name what the next byte must be. AFTER_EF/AFTER_EF_BF keep U+FFFD (EF BF BD) out.
const ACCEPT = 0;
const NEED1 = 1;
const NEED2 = 2;
const NEED3 = 3;
const AFTER_E0 = 4;
const AFTER_ED = 5;
const AFTER_F0 = 6;
const AFTER_F4 = 7;
const AFTER_EF = 8;
const AFTER_EF_BF = 9;
const STATES = 10;
const DEAD = -1;
/** States in increasing order of bytes still needed: a token that completes no character moves to a state earlier in this list. */
const BY_BYTES_NEEDED = [NEED1, AFTER_EF_BF, NEED2, AFTER_E0, AFTER_ED, AFTER_EF, NEED3, AFTER_F0, AFTER_F4, ACCEPT];
const UNREACHABLE = 0x3fffffff;

const isContinuation = (byte: number): boolean => byte >= 0x80 && byte <= 0xbf;

/** One byte through the automaton: the next state, or DEAD for a byte that cannot occur here. */
export function utf8Step(state: number, byte: number): number {
  switch (state) {
    case ACCEPT:
      if (byte <= 0x7f) return ACCEPT;
      if (byte >= 0xc2 && byte <= 0xdf) return NEED1;
      if (byte === 0xe0) return AFTER_E0;
      if (byte === 0xed) return AFTER_ED;
      if (byte === 0xef) return AFTER_EF;
      if (byte >= 0xe1 && byte <= 0xee) return NEED2;
      if (byte === 0xf0) return AFTER_F0;
      if (byte >= 0xf1 && byte <= 0xf3) return NEED3;
      if (byte === 0xf4) return AFTER_F4;
      return DEAD;
    case NEED1:
      return isContinuation(byte) ? ACCEPT : DEAD;
    case NEED2:
      return isContinuation(byte) ? NEED1 : DEAD;
    case NEED3:
      return isContinuation(byte) ? NEED2 : DEAD;
    case AFTER_E0:
      return byte >= 0xa0 && byte <= 0xbf ? NEED1 : DEAD;
    case AFTER_ED:
      return byte >= 0x80 && byte <= 0x9f ? NEED1 : DEAD;
    case AFTER_F0:
      return byte >= 0x90 && byte <= 0xbf ? NEED2 : DEAD;
    case AFTER_F4:
      return byte >= 0x80 && byte <= 0x8f ? NEED2 : DEAD;
    case AFTER_EF:
      return byte === 0xbf ? AFTER_EF_BF : isContinuation(byte) ? NEED1 : DEAD;
    case AFTER_EF_BF:
      return isContinuation(byte) && byte !== 0xbd ? ACCEPT : DEAD;
    default:
      return DEAD;
  }
}

export interface FastGrammarOptions {
  readonly fastTokenizer: FastTokenizer;
  /** Model id of FAST token `t` (the processor's `actionTokenToId`). */
  readonly actionTokenToId: (t: number) => number;
  /** What ends an action, in order, as the processor writes it: tok("|")…, EOS. */
  readonly terminator: readonly number[];
  /**
   * Model ids that mean something else to the processor (EOS, "|", "Action: "): a FAST token that
   * maps onto one of them is never offered, since decoding would cut or drop it.
   */
  readonly reservedIds?: Iterable<number>;
}

export interface FastGrammar {
  /** A constraint for one decode of `coefficients` characters (chunk_size × actionDim) within `maxSteps` tokens. */
  constraint(coefficients: number, maxSteps: number): DecodeConstraint;
  /** The fewest FAST tokens that spell `coefficients` characters (terminator not included). */
  minTokens(coefficients: number): number;
}

/** The parts of a tokenizer.json the grammar reads: a ByteLevel BPE vocabulary and its added tokens. */
const ByteLevelTokenizerJson = t.intersection([
  t.type({ model: t.type({ vocab: t.record(t.string, t.number) }), decoder: t.type({ type: t.literal("ByteLevel") }) }),
  t.partial({ added_tokens: t.array(t.type({ id: t.number })) }),
]);

/** Each FAST token's ByteLevel bytes, or null where it has none (added tokens, ids without a vocabulary entry). */
function tokenBytes(fast: FastTokenizer): (Uint8Array | null)[] {
  const decoded = ByteLevelTokenizerJson.decode(fast.toJSON().tokenizer);
  if (isLeft(decoded)) {
    throw new Error(`FAST tokenizer.json: ${describeErrors(decoded.left)} (constrained_decoding needs a ByteLevel BPE tokenizer; set constrained_decoding=false to decode without it)`);
  }
  const byteOf = new Map(BYTE_SYMBOLS.map((symbol, byte) => [symbol, byte]));
  const added = new Set((decoded.right.added_tokens ?? []).map((a) => a.id));
  const out: (Uint8Array | null)[] = new Array(fast.vocabSize).fill(null);
  for (const [symbols, id] of Object.entries(decoded.right.model.vocab)) {
    if (!Number.isInteger(id) || id < 0 || id >= fast.vocabSize || added.has(id)) continue;
    const bytes = Array.from(symbols, (s) => byteOf.get(s) ?? -1);
    if (bytes.length > 0 && bytes.every((b) => b >= 0)) out[id] = Uint8Array.from(bytes);
  }
  return out;
}

/** A token's effect from each state: the state after its bytes and the characters it completes. */
interface Edge {
  readonly id: number;
  readonly next: number;
  readonly chars: number;
}

export function fastGrammar(options: FastGrammarOptions): FastGrammar {
  const { fastTokenizer: fast, actionTokenToId, terminator } = options;
  if (terminator.length === 0) throw new Error("fastGrammar: terminator: expected at least EOS, got none");
  const reserved = new Set(options.reservedIds ?? []);
  for (const id of terminator) reserved.add(id);
  const bytes = tokenBytes(fast);
  /** edges[s]: every usable token from state s, by ascending model id (so allowed lists come out sorted). */
  const edges: Edge[][] = Array.from({ length: STATES }, () => []);
  /** Model id → [next state, chars] per state, for advance(). */
  const step = new Map<number, Int32Array>();
  bytes.forEach((b, token) => {
    const id = actionTokenToId(token);
    if (b === null || reserved.has(id)) return;
    const table = new Int32Array(2 * STATES).fill(DEAD);
    for (let s = 0; s < STATES; s++) {
      let state = s;
      let chars = 0;
      for (const byte of b) {
        state = utf8Step(state, byte);
        if (state === DEAD) break;
        if (state === ACCEPT) chars++;
      }
      if (state === DEAD) continue;
      table[2 * s] = state;
      table[2 * s + 1] = chars;
      edges[s].push({ id, next: state, chars });
    }
    step.set(id, table);
  });
  for (const list of edges) list.sort((a, b) => a.id - b.id);

  /** minTokens per coefficient count, rows r = 0…N of STATES entries, grown on demand. */
  let table = new Int32Array(0);
  let rows = 0;
  const minAt = (r: number, s: number): number => table[r * STATES + s];
  const ensureRows = (n: number): void => {
    if (n < rows) return;
    const grown = new Int32Array((n + 1) * STATES).fill(UNREACHABLE);
    grown.set(table);
    table = grown;
    for (let r = rows; r <= n; r++) {
      for (const s of BY_BYTES_NEEDED) {
        let best = r === 0 && s === ACCEPT ? 0 : UNREACHABLE;
        for (const e of edges[s]) {
          if (e.chars > r) continue;
          const rest = table[(r - e.chars) * STATES + e.next];
          if (rest + 1 < best) best = rest + 1;
        }
        table[r * STATES + s] = best;
      }
    }
    rows = n + 1;
  };

  /**
   * Allowed model ids at (r characters left, state s) with at most `slack` tokens after this one
   * before the terminator, cached. Past the largest finishing cost among the candidates the
   * budget no longer binds, so `slack` is cut to it and the cache stays small.
   */
  const cache = new Map<number, { cap: number; lists: Map<number, Int32Array> }>();
  const allowedAt = (r: number, s: number, slack: number): Int32Array => {
    const key = r * STATES + s;
    let entry = cache.get(key);
    if (entry === undefined) {
      let cap = 0;
      for (const e of edges[s]) {
        const rest = e.chars <= r ? minAt(r - e.chars, e.next) : UNREACHABLE;
        if (rest < UNREACHABLE) cap = Math.max(cap, rest);
      }
      entry = { cap, lists: new Map() };
      cache.set(key, entry);
    }
    const budget = Math.min(slack, entry.cap);
    let list = entry.lists.get(budget);
    if (list === undefined) {
      const ids: number[] = [];
      for (const e of edges[s]) if (e.chars <= r && minAt(r - e.chars, e.next) <= budget) ids.push(e.id);
      list = Int32Array.from(ids);
      entry.lists.set(budget, list);
    }
    return list;
  };
  const terminatorAt = terminator.map((id) => Int32Array.of(id));

  return {
    minTokens(coefficients) {
      ensureRows(coefficients);
      return minAt(coefficients, ACCEPT);
    },
    constraint(coefficients, maxSteps) {
      if (!Number.isInteger(coefficients) || coefficients < 1) throw new Error(`FAST grammar: expected a positive number of coefficients (chunk_size × action dim), got ${coefficients}`);
      ensureRows(coefficients);
      if (minAt(coefficients, ACCEPT) >= UNREACHABLE) {
        throw new Error(`FAST tokenizer: its vocabulary cannot spell ${coefficients} coefficients as complete UTF-8 characters (set constrained_decoding=false to decode without the grammar)`);
      }
      /** Per row: characters left, automaton state, tokens emitted, terminator position (−1 before it), and whether it is over. */
      const rowsState: { left: number; state: number; used: number; end: number; over: boolean }[] = [];
      const row = (b: number) => rowsState[b] ?? (rowsState[b] = { left: coefficients, state: ACCEPT, used: 0, end: -1, over: false });
      return {
        start(b) {
          rowsState[b] = { left: coefficients, state: ACCEPT, used: 0, end: -1, over: false };
        },
        allowed(b) {
          const q = row(b);
          if (q.over) return null;
          if (q.end >= 0) return terminatorAt[q.end];
          if (q.left === 0 && q.state === ACCEPT) return terminatorAt[0];
          // Tokens this one may be followed by before the terminator; when even the shortest way
          // no longer fits, the budget is dropped (the output is cut at max_decoding_steps anyway).
          const slack = maxSteps - q.used - 1 - terminator.length;
          const fits = minAt(q.left, q.state) <= slack + 1;
          return allowedAt(q.left, q.state, fits ? slack : UNREACHABLE);
        },
        advance(b, token) {
          const q = row(b);
          if (q.over) return;
          q.used++;
          if (q.end < 0 && q.left === 0 && q.state === ACCEPT) q.end = 0;
          if (q.end >= 0) {
            // a token the grammar did not offer ends the constraint for this row (the caller chose it)
            if (token === terminator[q.end]) q.end++;
            else q.over = true;
            if (q.end === terminator.length) q.over = true;
            return;
          }
          const next = step.get(token);
          const to = next ? next[2 * q.state] : DEAD;
          const chars = next ? next[2 * q.state + 1] : 0;
          if (to === DEAD || chars > q.left) {
            q.over = true;
            return;
          }
          q.left -= chars;
          q.state = to;
        },
      };
    },
  };
}
