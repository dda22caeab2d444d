import * as t from "io-ts";
import { isLeft } from "fp-ts/lib/Either.js";
import type { Batch } from "./batch.js";
import type { FrameSource } from "./dataset.js";
import { DatasetError } from "./errors.js";
import { shuffleGenerator, shuffleInPlace } from "./random.js";

export interface LoaderOptions {
  readonly batchSize: number;
  readonly seed: number;
  /** Shuffle each epoch with seed + epoch (default true). */
  readonly shuffle?: boolean;
  /** Drop the last incomplete batch of an epoch (default true). */
  readonly dropLast?: boolean;
  /** Endless: after an epoch, start the next one (reshuffled). Default false: next() fails after one epoch. */
  readonly cycle?: boolean;
  /** Batches requested ahead in the background (default 2). */
  readonly prefetch?: number;
  /** Data-parallel shard of this loader (default 0 of 1). */
  readonly rank?: number;
  readonly worldSize?: number;
}

/** Where a loader stands; JSON-serialisable, for checkpoints. */
export const LoaderPositionCodec = t.type({
  kind: t.literal("craft.loader-position"),
  seed: t.number,
  epoch: t.number,
  cursor: t.number,
  batchSize: t.number,
  shuffle: t.boolean,
  dropLast: t.boolean,
  rank: t.number,
  worldSize: t.number,
  numFrames: t.number,
});
export type LoaderPosition = t.TypeOf<typeof LoaderPositionCodec>;

export interface Loader {
  /** The next batch; with prefetch, later batches are already being read. */
  next(): Promise<Batch>;
  /** Whether next() has a batch (always true when cycling). */
  hasNext(): boolean;
  /** The position of the next batch next() returns. */
  position(): LoaderPosition;
  /** Continue from a saved position: the following batches are the ones the saved loader would have yielded. */
  restore(position: unknown): void;
  close(): Promise<void>;
  readonly batchesPerEpoch: number;
  readonly epochSize: number;
}

/**
 * The frame positions rank `rank` visits in `epoch`: a permutation seeded by seed + epoch,
 * truncated to a multiple of worldSize and dealt round-robin (like PyTorch's DistributedSampler),
 * so ranks see disjoint, equally long shards.
 */
export const epochIndices = (numFrames: number, epoch: number, o: { seed: number; shuffle: boolean; rank: number; worldSize: number }): Int32Array => {
  const all = Int32Array.from({ length: numFrames }, (_, i) => i);
  if (o.shuffle) shuffleInPlace(all, shuffleGenerator(o.seed + epoch));
  const per = Math.floor(numFrames / o.worldSize);
  const mine = new Int32Array(per);
  for (let i = 0; i < per; i++) mine[i] = all[i * o.worldSize + o.rank]!;
  return mine;
};

interface Pending {
  readonly epoch: number;
  readonly cursor: number;
  readonly batch: Promise<Batch>;
}

export const createLoader = (source: FrameSource, options: LoaderOptions): Loader => {
  const batchSize = options.batchSize;
  const shuffle = options.shuffle ?? true;
  const dropLast = options.dropLast ?? true;
  const cycle = options.cycle ?? false;
  const prefetch = options.prefetch ?? 2;
  const rank = options.rank ?? 0;
  const worldSize = options.worldSize ?? 1;
  const bad = (field: string, expected: string, actual: unknown) => new DatasetError("InvalidOption", { file: "(loader)", field, expected, actual: JSON.stringify(actual) });
  if (!Number.isInteger(batchSize) || batchSize < 1) throw bad("batchSize", "a positive integer", batchSize);
  if (!Number.isInteger(options.seed)) throw bad("seed", "an integer", options.seed);
  if (!Number.isInteger(worldSize) || worldSize < 1) throw bad("worldSize", "a positive integer", worldSize);
  if (!Number.isInteger(rank) || rank < 0 || rank >= worldSize) throw bad("rank", `an integer in 0..${worldSize - 1}`, rank);
  if (!Number.isInteger(prefetch) || prefetch < 0) throw bad("prefetch", "a non-negative integer", prefetch);
  const numFrames = source.numFrames;
  const epochSize = Math.floor(numFrames / worldSize);
  const batchesPerEpoch = dropLast ? Math.floor(epochSize / batchSize) : Math.ceil(epochSize / batchSize);
  if (batchesPerEpoch === 0) throw bad("batchSize", `at most ${epochSize} frames per rank (dataset has ${numFrames})`, batchSize);

  const order = { seed: options.seed, shuffle, rank, worldSize };
  const epochCache = new Map<number, Int32Array>();
  const indicesOf = (epoch: number): Int32Array => {
    let idx = epochCache.get(epoch);
    if (idx === undefined) {
      idx = epochIndices(numFrames, epoch, order);
      epochCache.set(epoch, idx);
      for (const k of epochCache.keys()) if (k < epoch - 1) epochCache.delete(k);
    }
    return idx;
  };

  let consumed = { epoch: 0, cursor: 0 };
  let planned = { epoch: 0, cursor: 0 };
  let queue: Pending[] = [];
  let closed = false;

  const advance = (p: { epoch: number; cursor: number }) => (p.cursor + 1 >= batchesPerEpoch ? { epoch: p.epoch + 1, cursor: 0 } : { epoch: p.epoch, cursor: p.cursor + 1 });
  const available = (p: { epoch: number }) => cycle || p.epoch === 0;

  const request = (): void => {
    const p = planned;
    const idx = indicesOf(p.epoch);
    const slice = Array.from(idx.subarray(p.cursor * batchSize, Math.min(idx.length, (p.cursor + 1) * batchSize)));
    const batch = source.getFrames(slice);
    batch.catch(() => undefined); // surfaced when next() awaits it
    queue.push({ epoch: p.epoch, cursor: p.cursor, batch });
    planned = advance(p);
  };
  const fill = (): void => {
    while (!closed && queue.length < prefetch + 1 && available(planned)) request();
  };

  fill();

  const position = (): LoaderPosition => ({ kind: "craft.loader-position", seed: options.seed, epoch: consumed.epoch, cursor: consumed.cursor, batchSize, shuffle, dropLast, rank, worldSize, numFrames });

  return {
    batchesPerEpoch,
    epochSize,
    hasNext: () => !closed && available(consumed),
    position,
    async next() {
      if (closed) throw new DatasetError("LoaderExhausted", { file: "(loader)", field: "next", expected: "an open loader", actual: "closed" });
      if (!available(consumed)) {
        throw new DatasetError("LoaderExhausted", { file: "(loader)", field: "cycle", expected: `at most ${batchesPerEpoch} batches (one epoch) without cycle: true` });
      }
      if (queue.length === 0) fill();
      const head = queue.shift()!;
      consumed = advance(consumed);
      fill();
      return head.batch;
    },
    restore(raw) {
      const decoded = LoaderPositionCodec.decode(raw);
      if (isLeft(decoded)) throw bad("position", "a LoaderPosition saved by position()", raw);
      const p = decoded.right;
      const mine = position();
      for (const k of ["seed", "batchSize", "shuffle", "dropLast", "rank", "worldSize", "numFrames"] as const) {
        if (p[k] !== mine[k]) throw bad(`position.${k}`, `${JSON.stringify(mine[k])} (this loader's)`, p[k]);
      }
      if (!Number.isInteger(p.cursor) || p.cursor < 0 || p.cursor >= batchesPerEpoch || !Number.isInteger(p.epoch) || p.epoch < 0) {
        throw bad("position.cursor", `an integer in 0..${batchesPerEpoch - 1}`, p.cursor);
      }
      queue = [];
      consumed = { epoch: p.epoch, cursor: p.cursor };
      planned = { ...consumed };
      fill();
    },
    async close() {
      closed = true;
      const pending = queue;
      queue = [];
      await Promise.allSettled(pending.map((q) => q.batch));
    },
  };
};
