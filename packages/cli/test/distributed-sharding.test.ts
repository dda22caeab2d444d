import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Batch, FrameSource, LeRobotDataset } from "@craft/datasets";
import { batchesOf } from "../src/datasetSetup.js";

/** A dataset whose frame i carries the value i in its `index` feature. */
const counting = (n: number): LeRobotDataset => {
  const source: FrameSource = {
    numFrames: n,
    async getFrames(indices: readonly number[]): Promise<Batch> {
      return { size: indices.length, features: { index: { data: Int32Array.from(indices), shape: [indices.length] } }, task: indices.map(() => "t") };
    },
    close() {},
  };
  return { ...source, root: "(counting)" } as unknown as LeRobotDataset;
};

const ids = (b: Batch): number[] => Array.from(b.features.index!.data as Int32Array);
const sorted = (xs: number[]): number[] => [...xs].sort((a, b) => a - b);

/** `steps` batches of each rank of a `worldSize`-rank job, as the CLI's loaders yield them. */
async function perRank(numFrames: number, batchSize: number, worldSize: number, seed: number, steps: number): Promise<number[][][]> {
  return Promise.all(
    Array.from({ length: worldSize }, async (_, rank) => {
      const loader = batchesOf(counting(numFrames), { batchSize, seed, rank, worldSize });
      const out: number[][] = [];
      for (let s = 0; s < steps; s++) out.push(ids(await loader.next()));
      await loader.close();
      return out;
    }),
  );
}

describe("data-parallel sharding of the CLI's loaders", () => {
  it("at every step the ranks' batches (B each) are a split of the single process's batch of B × world size", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 4 }), // worldSize
        fc.integer({ min: 1, max: 6 }), // batch size per rank
        fc.integer({ min: 0, max: 40 }), // frames beyond the minimum
        fc.integer({ min: -1000, max: 1000 }), // seed
        async (worldSize, batchSize, extra, seed) => {
          const numFrames = batchSize * worldSize + extra;
          const global = batchSize * worldSize;
          const epochBatches = Math.floor(numFrames / global);
          const steps = 2 * epochBatches + 1; // crosses two epoch boundaries (reshuffles)
          const ranks = await perRank(numFrames, batchSize, worldSize, seed, steps);
          const [single] = await perRank(numFrames, global, 1, seed, steps);
          for (let s = 0; s < steps; s++) {
            const parts = ranks.map((r) => r[s]);
            parts.forEach((p) => expect(p).toHaveLength(batchSize));
            const union = parts.flat();
            expect(new Set(union).size).toBe(global); // disjoint slices
            expect(sorted(union)).toEqual(sorted(single[s])); // together: exactly the global batch
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it("each epoch, the ranks' samples are disjoint and together the single process's epoch", async () => {
    const numFrames = 101;
    const worldSize = 2;
    const batchSize = 5;
    const epochBatches = Math.floor(numFrames / (batchSize * worldSize)); // 10 (one frame per epoch left out, as with B × 2)
    const ranks = await perRank(numFrames, batchSize, worldSize, 3, 2 * epochBatches);
    const [single] = await perRank(numFrames, batchSize * worldSize, 1, 3, 2 * epochBatches);
    for (let epoch = 0; epoch < 2; epoch++) {
      const slice = (r: number[][]) => r.slice(epoch * epochBatches, (epoch + 1) * epochBatches).flat();
      const [a, b] = ranks.map(slice);
      expect(a.filter((x) => b.includes(x))).toEqual([]);
      expect(new Set([...a, ...b]).size).toBe(epochBatches * batchSize * worldSize);
      expect(sorted([...a, ...b])).toEqual(sorted(slice(single)));
    }
    // Reshuffled between epochs, identically on every rank (same seed + epoch).
    expect(ranks[0].slice(0, epochBatches)).not.toEqual(ranks[0].slice(epochBatches));
  });

  it("differs between ranks and is deterministic per (seed, rank)", async () => {
    const a = await perRank(60, 4, 2, 11, 5);
    const b = await perRank(60, 4, 2, 11, 5);
    expect(a).toEqual(b);
    expect(a[0]).not.toEqual(a[1]);
  });
});
