import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { createLoader, epochIndices, openDataset, type Batch, type FrameSource } from "../src/index.js";
import { SO101, SO101_VIDEO_KEYS, caught } from "./helpers.js";

/** A source whose frame i carries the value i, recording what was requested. */
const counting = (n: number): FrameSource & { requests: number[][] } => {
  const requests: number[][] = [];
  return {
    numFrames: n,
    requests,
    async getFrames(indices) {
      requests.push([...indices]);
      return { size: indices.length, features: { index: { data: Int32Array.from(indices), shape: [indices.length] } }, task: indices.map(() => "t") };
    },
    close() {},
  };
};
const ids = (b: Batch) => Array.from(b.features.index!.data);
const take = async (l: { next(): Promise<Batch> }, k: number) => {
  const out: number[][] = [];
  for (let i = 0; i < k; i++) out.push(ids(await l.next()));
  return out;
};

describe("loader", () => {
  it("is deterministic for a seed, shuffles, and covers each frame once per epoch", async () => {
    const a = await take(createLoader(counting(100), { batchSize: 10, seed: 4 }), 10);
    const b = await take(createLoader(counting(100), { batchSize: 10, seed: 4 }), 10);
    const c = await take(createLoader(counting(100), { batchSize: 10, seed: 5 }), 10);
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    expect(a.flat().sort((x, y) => x - y)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(a.flat()).not.toEqual(Array.from({ length: 100 }, (_, i) => i));
  });

  it("keeps order without shuffle, drops or keeps the last partial batch", async () => {
    const keep = createLoader(counting(25), { batchSize: 10, seed: 0, shuffle: false, dropLast: false });
    expect(keep.batchesPerEpoch).toBe(3);
    expect(await take(keep, 3)).toEqual([[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [10, 11, 12, 13, 14, 15, 16, 17, 18, 19], [20, 21, 22, 23, 24]]);
    expect(keep.hasNext()).toBe(false);
    const e = await caught(() => keep.next());
    expect(e._tag).toBe("LoaderExhausted");
    const drop = createLoader(counting(25), { batchSize: 10, seed: 0, shuffle: false });
    expect(drop.batchesPerEpoch).toBe(2);
  });

  it("cycles endlessly, reshuffling each epoch with seed + epoch", async () => {
    const l = createLoader(counting(20), { batchSize: 5, seed: 9, cycle: true });
    const batches = await take(l, 12);
    const epoch0 = batches.slice(0, 4).flat();
    const epoch1 = batches.slice(4, 8).flat();
    expect(epoch0).toEqual(Array.from(epochIndices(20, 0, { seed: 9, shuffle: true, rank: 0, worldSize: 1 })));
    expect(epoch1).toEqual(Array.from(epochIndices(20, 1, { seed: 9, shuffle: true, rank: 0, worldSize: 1 })));
    expect(epoch0).not.toEqual(epoch1);
    expect([...epoch1].sort((x, y) => x - y)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(l.position()).toMatchObject({ epoch: 3, cursor: 0 });
  });

  it("restores a JSON-saved position and yields the identical next batches", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 30 }), fc.integer({ min: 1, max: 1000 }), async (consumed, seed) => {
        const opts = { batchSize: 7, seed, cycle: true, prefetch: 3 };
        const original = createLoader(counting(50), opts);
        await take(original, consumed);
        const saved = JSON.parse(JSON.stringify(original.position()));
        const expected = await take(original, 8);
        const resumed = createLoader(counting(50), opts);
        resumed.restore(saved);
        expect(await take(resumed, 8)).toEqual(expected);
      }),
      { numRuns: 25 },
    );
  });

  it("refuses a position saved by a differently configured loader", async () => {
    const a = createLoader(counting(50), { batchSize: 7, seed: 1, cycle: true });
    const b = createLoader(counting(50), { batchSize: 8, seed: 1, cycle: true });
    const e = await caught(() => b.restore(a.position()));
    expect(e._tag).toBe("InvalidOption");
    expect(e.field).toBe("position.batchSize");
    expect((await caught(() => b.restore({ epoch: 1 })))._tag).toBe("InvalidOption");
  });

  it("shards each epoch into disjoint, equal parts across ranks", async () => {
    const worldSize = 3;
    const perRank = await Promise.all(
      Array.from({ length: worldSize }, (_, rank) => take(createLoader(counting(31), { batchSize: 5, seed: 2, rank, worldSize }), 2)),
    );
    const seen = perRank.map((r) => r.flat());
    seen.forEach((s) => expect(s).toHaveLength(10));
    const union = new Set(seen.flat());
    expect(union.size).toBe(30); // disjoint
    const shards = Array.from({ length: worldSize }, (_, rank) => Array.from(epochIndices(31, 0, { seed: 2, shuffle: true, rank, worldSize })));
    expect(new Set(shards.flat()).size).toBe(30);
    shards.forEach((s) => expect(s).toHaveLength(10));
  });

  it("prefetches batches ahead of the consumer", async () => {
    const src = counting(100);
    const l = createLoader(src, { batchSize: 10, seed: 0, prefetch: 2 });
    await new Promise((r) => setTimeout(r, 0));
    expect(src.requests.length).toBe(3); // the next batch plus two ahead, before anyone asked
    await l.next();
    expect(src.requests.length).toBe(4);
    await l.close();
  });

  it("loads action chunks from the real dataset in batches", async () => {
    const ds = await openDataset(SO101, { exclude: SO101_VIDEO_KEYS, deltaTimestamps: { action: Array.from({ length: 50 }, (_, i) => i / 30) } });
    const l = createLoader(ds, { batchSize: 32, seed: 1, cycle: true });
    expect(l.batchesPerEpoch).toBe(46);
    const b = await l.next();
    expect(b.features.action!.shape).toEqual([32, 50, 6]);
    expect(b.features["observation.state"]!.shape).toEqual([32, 6]);
    expect(b.task).toHaveLength(32);
  });
});
