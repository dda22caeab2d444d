/**
 * Byte-pair encoding over integer symbols (the quantised DCT coefficients, offset to start at 0).
 * Token ids: 0 … alphabetSize−1 are the base symbols; merge i creates id alphabetSize + i.
 * Training is greedy: the most frequent adjacent pair wins, ties go to the smallest (left, right)
 * pair, so a fit is deterministic.
 */

export type Merge = readonly [left: number, right: number];

export interface BpeModel {
  readonly alphabetSize: number;
  readonly merges: readonly Merge[];
}

const pairKey = (a: number, b: number): number => a * 0x200000 + b; // ids stay far below 2^21

interface Word {
  symbols: number[];
  readonly count: number;
}

/**
 * Learns merges until `vocabSize` tokens exist or no pair occurs twice.
 * `sequences` hold symbols in [0, alphabetSize).
 */
export function trainBpe(sequences: readonly (readonly number[])[], alphabetSize: number, vocabSize: number): BpeModel {
  if (vocabSize < alphabetSize) {
    throw new Error(`trainBpe: vocabSize ${vocabSize} is smaller than the base alphabet (${alphabetSize} symbols); raise vocabSize or lower scale`);
  }
  if (vocabSize > 0x200000) throw new Error(`trainBpe: vocabSize ${vocabSize} exceeds 2^21`);
  // identical sequences are trained once, weighted by their count
  const byText = new Map<string, Word>();
  for (const seq of sequences) {
    const key = seq.join(",");
    const w = byText.get(key);
    if (w) (w as { count: number }).count += 1;
    else byText.set(key, { symbols: [...seq], count: 1 });
  }
  const words = [...byText.values()];
  const pairCounts = new Map<number, number>();
  const pairWords = new Map<number, Set<number>>();
  const addPairs = (wi: number, sign: 1 | -1): void => {
    const { symbols, count } = words[wi];
    for (let i = 0; i + 1 < symbols.length; i++) {
      const key = pairKey(symbols[i], symbols[i + 1]);
      pairCounts.set(key, (pairCounts.get(key) ?? 0) + sign * count);
      if (sign > 0) {
        let set = pairWords.get(key);
        if (!set) pairWords.set(key, (set = new Set()));
        set.add(wi);
      }
    }
  };
  words.forEach((_, wi) => addPairs(wi, 1));

  const merges: Merge[] = [];
  while (alphabetSize + merges.length < vocabSize) {
    let bestKey = -1;
    let bestCount = 1;
    for (const [key, count] of pairCounts) {
      if (count > bestCount || (count === bestCount && count > 1 && key < bestKey)) {
        bestKey = key;
        bestCount = count;
      }
    }
    if (bestKey < 0) break;
    const left = Math.floor(bestKey / 0x200000);
    const right = bestKey % 0x200000;
    const newId = alphabetSize + merges.length;
    merges.push([left, right]);
    const affected = [...(pairWords.get(bestKey) ?? [])].sort((a, b) => a - b);
    pairWords.delete(bestKey);
    for (const wi of affected) {
      addPairs(wi, -1);
      words[wi].symbols = mergePair(words[wi].symbols, left, right, newId);
      addPairs(wi, 1);
    }
    for (const [key, count] of pairCounts) if (count <= 0) pairCounts.delete(key);
  }
  return { alphabetSize, merges };
}

function mergePair(symbols: readonly number[], left: number, right: number, newId: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < symbols.length; i++) {
    if (i + 1 < symbols.length && symbols[i] === left && symbols[i + 1] === right) {
      out.push(newId);
      i++;
    } else out.push(symbols[i]);
  }
  return out;
}

/** Applies merges in the order they were learned (lowest rank first), as BPE encoders do. */
export function bpeEncoder(model: BpeModel): (symbols: readonly number[]) => number[] {
  const rank = new Map<number, number>();
  model.merges.forEach(([a, b], i) => rank.set(pairKey(a, b), i));
  return (input) => {
    let symbols = [...input];
    for (;;) {
      let bestRank = Infinity;
      for (let i = 0; i + 1 < symbols.length; i++) {
        const r = rank.get(pairKey(symbols[i], symbols[i + 1]));
        if (r !== undefined && r < bestRank) bestRank = r;
      }
      if (bestRank === Infinity) return symbols;
      const [a, b] = model.merges[bestRank];
      symbols = mergePair(symbols, a, b, model.alphabetSize + bestRank);
    }
  };
}

/** For each token id, the base symbols it stands for. */
export function expandVocabulary(model: BpeModel): number[][] {
  const vocab: number[][] = [];
  for (let i = 0; i < model.alphabetSize; i++) vocab.push([i]);
  model.merges.forEach(([a, b], i) => {
    const id = model.alphabetSize + i;
    if (!(a < id && b < id)) throw new Error(`merges[${i}]: expected ids below ${id}, got [${a}, ${b}]`);
    vocab.push([...vocab[a], ...vocab[b]]);
  });
  return vocab;
}
