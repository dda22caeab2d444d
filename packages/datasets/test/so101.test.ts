import { describe, expect, it } from "vitest";
import { openDataset, deltaTimestampsForChunk, datasetInfoReport, DatasetError } from "../src/index.js";
import { SO101, SO101_VIDEO_KEYS, caught } from "./helpers.js";

// Expected values read independently with hyparquet (a second, pure-JS Parquet implementation;
// the package reads with parquet-wasm), e.g.
//   parquetReadObjects({file, compressors}) → rows[i].action  on data/chunk-000/file-000.parquet
//   and the columns episode_index/length/dataset_from_index of meta/episodes/chunk-000/file-000.parquet.
const ACTION: Record<number, number[]> = {
  0: [-6.891271114349365, -98.28291320800781, 99.63948059082031, 76.9132080078125, -56.389400482177734, 4.505229473114014],
  100: [-30.091882705688477, -21.831562042236328, 31.951330184936523, 48.268489837646484, -69.45683288574219, 20.273530960083008],
  372: [-13.399693489074707, -87.89861297607422, 100, 74.26250457763672, -44.266597747802734, 1.769911527633667],
  373: [-0.22970902919769287, -87.89861297607422, 100, 73.83496856689453, -45.736026763916016, 1.8503620624542236],
  1000: [-2.373660087585449, -31.152902603149414, 27.985578536987305, 68.70457458496094, -52.29598617553711, 31.697505950927734],
  1491: [-3.0627870559692383, -78.25020599365234, 100, 63.488670349121094, -49.881919860839844, 2.41351580619812],
};
const LENGTHS = [373, 374, 372, 373];
const TASK = "Pick the orange cube and place it in the box";

describe("the real so101-pick-orange-cube dataset (v3.0)", () => {
  const open = (o: Parameters<typeof openDataset>[1] = {}) => openDataset(SO101, { exclude: SO101_VIDEO_KEYS, ...o });

  it("has 1,492 frames in 4 episodes with the lengths of its episode table", async () => {
    const ds = await open();
    expect(ds.version).toBe("v3.0");
    expect(ds.fps).toBe(30);
    expect(ds.numFrames).toBe(1492);
    expect(ds.numEpisodes).toBe(4);
    expect(ds.episodes.map((e) => e.length)).toEqual(LENGTHS);
    expect(ds.episodes.map((e) => e.from)).toEqual([0, 373, 747, 1119]);
    expect(ds.tasks).toEqual([TASK]);
    expect(Object.keys(ds.features)).not.toContain("observation.images.front");
  });

  it("returns the exact action values of chosen frames, with indices and task", async () => {
    const ds = await open();
    const idx = Object.keys(ACTION).map(Number);
    const b = await ds.getFrames(idx);
    expect(b.features.action!.shape).toEqual([idx.length, 6]);
    idx.forEach((i, r) => expect(Array.from(b.features.action!.data.subarray(r * 6, r * 6 + 6))).toEqual(ACTION[i]));
    expect(Array.from(b.features.episode_index!.data)).toEqual([0, 0, 0, 1, 2, 3]);
    expect(Array.from(b.features.frame_index!.data)).toEqual([0, 100, 372, 0, 253, 372]);
    expect(Array.from(b.features.index!.data)).toEqual(idx);
    expect(b.features.timestamp!.data[1]).toBeCloseTo(100 / 30, 5);
    expect(b.task).toEqual(idx.map(() => TASK));
  });

  it("gathers action chunks inside the episode and pads (clamped) past its end", async () => {
    const ds = await open({ deltaTimestamps: { action: deltaTimestampsForChunk(30, 50) } });
    const b = await ds.getFrames([0, 350, 1491]);
    const a = b.features.action!;
    const pad = b.features.action_is_pad!;
    expect(a.shape).toEqual([3, 50, 6]);
    expect(pad.shape).toEqual([3, 50]);
    // frame 0: whole chunk inside episode 0, step 0 is frame 0 and step t is frame t
    expect(Array.from(a.data.subarray(0, 6))).toEqual(ACTION[0]);
    expect(Array.from(pad.data.subarray(0, 50)).every((p) => p === 0)).toBe(true);
    // frame 350 of episode 0 (length 373): steps 0..22 real, 23..49 padded and clamped to frame 372
    const row = (b: number, t: number) => Array.from(a.data.subarray((b * 50 + t) * 6, (b * 50 + t + 1) * 6));
    expect(Array.from(pad.data.subarray(50, 100))).toEqual(Array.from({ length: 50 }, (_, t) => (t >= 23 ? 1 : 0)));
    expect(row(1, 22)).toEqual(ACTION[372]);
    expect(row(1, 23)).toEqual(ACTION[372]);
    expect(row(1, 49)).toEqual(ACTION[372]);
    // the next episode's first frame never leaks into the chunk
    expect(row(1, 49)).not.toEqual(ACTION[373]);
    // last frame of the dataset: only step 0 is real
    expect(row(2, 0)).toEqual(ACTION[1491]);
    expect(pad.data[100]).toBe(0);
    expect(Array.from(pad.data.subarray(101, 150)).every((p) => p === 1)).toBe(true);
  });

  it("selects episodes and renumbers positions within the selection", async () => {
    const ds = await open({ episodes: [1, 3] });
    expect(ds.numFrames).toBe(374 + 373);
    expect(ds.episodes.map((e) => [e.episodeIndex, e.from, e.to])).toEqual([[1, 0, 374], [3, 374, 747]]);
    const b = await ds.getFrames([0, 746]);
    expect(Array.from(b.features.action!.data.subarray(0, 6))).toEqual(ACTION[373]);
    expect(Array.from(b.features.action!.data.subarray(6, 12))).toEqual(ACTION[1491]);
  });

  it("reads normalisation stats from meta/stats.json", async () => {
    const ds = await open();
    expect(ds.stats.action!.mean).toHaveLength(6);
    expect(ds.stats.action!.q99).toHaveLength(6);
    expect(ds.stats.action!.count).toEqual([1492]);
    expect(ds.stats["observation.images.front"]!.mean).toHaveLength(3);
  });

  it("fails at open naming the missing MP4 when the video features are kept", async () => {
    const e = await caught(() => openDataset(SO101));
    expect(e).toBeInstanceOf(DatasetError);
    expect(e._tag).toBe("MissingFile");
    expect(e.file).toMatch(/videos\/observation\.images\.front\/chunk-000\/file-000\.mp4$/);
    expect(e.field).toBe("observation.images.front");
    expect(e.exclude).toEqual(["observation.images.front", "observation.images.top"]);
    expect(e.message).toContain('(pass exclude: ["observation.images.front", "observation.images.top"] to leave video features out)');
    expect((e as unknown as DatasetError).describeWith((keys) => `--dataset.exclude='${JSON.stringify(keys)}'`)).toContain(
      `pass --dataset.exclude='["observation.images.front","observation.images.top"]' to leave video features out`,
    );
  });

  it("prints an info report that flags the missing videos", async () => {
    const text = await datasetInfoReport(SO101);
    expect(text).toContain("version:   v3.0");
    expect(text).toContain("frames:    1492");
    expect(text).toContain("episodes:  4");
    expect(text).toMatch(/action\s+float32\s+\[6\]/);
    expect(text).toMatch(/observation\.images\.top\s+video\s+\[480, 640, 3\]/);
    expect(text).toContain(TASK);
    expect(text).toMatch(/ok\s+data\/chunk-000\/file-000\.parquet/);
    expect(text).toMatch(/MISSING videos\/observation\.images\.front\/chunk-000\/file-000\.mp4/);
    expect(text).toContain("2 referenced file(s) missing");
  });
});
