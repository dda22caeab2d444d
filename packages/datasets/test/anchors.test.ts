import { join } from "node:path";
import { existsSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  addTeacherDistributions,
  buildAnchorCache,
  checkTeacherSignature,
  DatasetError,
  TEACHER_COLUMN,
  createLoader,
  deltaTimestampsForChunk,
  makeSyntheticDataset,
  openAnchorSet,
  openDataset,
  stratifiedSelection,
  type AnchorCache,
} from "../src/index.js";
import { SO101, SO101_VIDEO_KEYS, caught, tempDir } from "./helpers.js";

describe("anchor sets", () => {
  const dir = tempDir("anchors");
  const source = join(dir, "reach");
  const chunk = { action: deltaTimestampsForChunk(10, 5) };

  it("select frames stratified over episodes, proportional to length, deterministically", () => {
    const eps = [{ from: 0, length: 100 }, { from: 100, length: 300 }, { from: 400, length: 100 }];
    const a = stratifiedSelection(eps, 50, 3);
    expect(a).toEqual(stratifiedSelection(eps, 50, 3));
    expect(a).not.toEqual(stratifiedSelection(eps, 50, 4));
    expect(new Set(a).size).toBe(50);
    expect(a.filter((p) => p < 100)).toHaveLength(10);
    expect(a.filter((p) => p >= 100 && p < 400)).toHaveLength(30);
    expect(a.filter((p) => p >= 400)).toHaveLength(10);
  });

  it("select every episode's first frames with start frames, and share the rest as before", () => {
    const eps = [{ from: 0, length: 100 }, { from: 100, length: 300 }, { from: 400, length: 100 }];
    expect(stratifiedSelection(eps, 50, 3, 0)).toEqual(stratifiedSelection(eps, 50, 3));
    const a = stratifiedSelection(eps, 50, 3, 2);
    expect(a).toEqual(stratifiedSelection(eps, 50, 3, 2));
    expect(new Set(a).size).toBe(50);
    for (const p of [0, 1, 100, 101, 400, 401]) expect(a).toContain(p);
    // 44 left over 98 + 298 + 98 remaining frames: 8.7, 26.5, 8.7 → 9, 26, 9 (largest remainder).
    expect(a.filter((p) => p < 100)).toHaveLength(2 + 9);
    expect(a.filter((p) => p >= 100 && p < 400)).toHaveLength(2 + 26);
    expect(a.filter((p) => p >= 400)).toHaveLength(2 + 9);
    // Every frame of a short episode is a start frame: nothing else is drawn from it.
    const short = stratifiedSelection([{ from: 0, length: 3 }, { from: 3, length: 50 }], 10, 1, 4);
    expect(short.filter((p) => p < 3)).toEqual([0, 1, 2]);
    expect(short.slice(3)).toEqual(expect.arrayContaining([3, 4, 5, 6]));
    expect(short).toHaveLength(10);
  });

  it("store the selected, gathered frames and read them back as the source gives them", async () => {
    await makeSyntheticDataset(source, { task: "reach", episodes: 4, seed: 2 });
    const out = join(dir, "cache");
    const manifest = await buildAnchorCache(source, out, { numSamples: 24, seed: 7, deltaTimestamps: chunk });
    expect(manifest.source.root).toBe(source);
    expect(manifest.seed).toBe(7);
    expect(manifest.selection.positions).toHaveLength(24);
    const cache = (await openAnchorSet(out)) as AnchorCache;
    expect(cache.manifest.numSamples).toBe(24);
    expect(cache.numFrames).toBe(24);
    expect(cache.tasks).toEqual(["reach the red target"]);
    expect(cache.stats.action!.mean).toHaveLength(6);
    const ds = await openDataset(source, { deltaTimestamps: chunk });
    const want = await ds.getFrames(manifest.selection.positions);
    const got = await cache.getFrames(Array.from({ length: 24 }, (_, i) => i));
    expect(Object.keys(got.features).sort()).toEqual(Object.keys(want.features).sort());
    for (const [k, v] of Object.entries(want.features)) {
      expect(got.features[k]!.shape).toEqual(v.shape);
      expect(Buffer.from(got.features[k]!.data.buffer, got.features[k]!.data.byteOffset, got.features[k]!.data.byteLength).equals(Buffer.from(v.data.buffer, v.data.byteOffset, v.data.byteLength))).toBe(true);
    }
    expect(got.task).toEqual(want.task);
  });

  it("rebuild identically from the recorded source, seed and options", async () => {
    const a = join(dir, "cache");
    const b = join(dir, "cache-again");
    const m = JSON.parse(readFileSync(join(a, "anchor_manifest.json"), "utf8"));
    await buildAnchorCache(m.source.root, b, { numSamples: m.numSamples, seed: m.seed, deltaTimestamps: m.options.deltaTimestamps });
    expect(readFileSync(join(b, "anchors.parquet")).equals(readFileSync(join(a, "anchors.parquet")))).toBe(true);
    expect(JSON.parse(readFileSync(join(b, "anchor_manifest.json"), "utf8")).selection).toEqual(m.selection);
  });

  it("cycle endlessly through a loader", async () => {
    const cache = await openAnchorSet(join(dir, "cache"));
    const l = createLoader(cache, { batchSize: 8, seed: 1, cycle: true });
    expect(l.batchesPerEpoch).toBe(3);
    for (let i = 0; i < 7; i++) expect((await l.next()).features.action!.shape).toEqual([8, 5, 6]);
  });

  it("carry the reference policy's outputs and the signature a student must match", async () => {
    const out = join(dir, "cache");
    const data = Float32Array.from({ length: 24 * 3 * 4 }, (_, i) => i / 10);
    const signature = { vocab_size: 1024, max_action_tokens: 4, tokenizer_sha256: "ab12" };
    await addTeacherDistributions(out, { shape: [3, 4], data, signature });
    const cache = (await openAnchorSet(out)) as AnchorCache;
    expect(cache.manifest.teacher).toEqual({ file: "teacher.parquet", column: TEACHER_COLUMN, shape: [3, 4], signature });
    const b = await cache.getFrames([2]);
    expect(b.features[TEACHER_COLUMN]!.shape).toEqual([1, 3, 4]);
    expect(Array.from(b.features[TEACHER_COLUMN]!.data)).toEqual(Array.from(data.subarray(24, 36)));
    expect(() => checkTeacherSignature(cache, signature)).not.toThrow();
    const mismatch = (() => {
      try {
        checkTeacherSignature(cache, { ...signature, vocab_size: 2048 });
      } catch (e) {
        return e as DatasetError;
      }
      throw new Error("no error");
    })();
    expect(mismatch.field).toBe("teacher.signature.vocab_size");
    expect(mismatch.file).toMatch(/anchor_manifest\.json$/);
    expect(mismatch.message).toContain("expected 2048 (the student's), found 1024");
    expect(mismatch.message.split("\n")).toHaveLength(1);
    expect((await caught(() => addTeacherDistributions(out, { shape: [3, 4], data: new Float32Array(5), signature })))._tag).toBe("InvalidOption");
  });

  it("refuse retention_loss=distill on a LeRobot dataset without teacher outputs", async () => {
    const ds = await openAnchorSet(source);
    expect(() => checkTeacherSignature(ds, { vocab_size: 1 })).toThrow(/field "teacher": expected an anchor cache with the teacher's outputs.*--policy\.path=BASE/);
  });

  it("refuse a chunk size the cache was not built with", async () => {
    const e = await caught(() => openAnchorSet(join(dir, "cache"), { deltaTimestamps: { action: deltaTimestampsForChunk(10, 8) } }));
    expect(e._tag).toBe("InvalidOption");
    expect(e.field).toBe("deltaTimestamps");
    expect(e.file).toMatch(/anchor_manifest\.json$/);
  });

  it("accept a plain LeRobot dataset directory too", async () => {
    const ds = await openAnchorSet(SO101, { exclude: SO101_VIDEO_KEYS });
    expect(ds.numFrames).toBe(1492);
    const out = join(dir, "so101-cache");
    const m = await buildAnchorCache(SO101, out, { numSamples: 40, seed: 0, exclude: SO101_VIDEO_KEYS });
    expect(m.options.exclude).toEqual(SO101_VIDEO_KEYS);
    const eps = m.selection.episodeIndices;
    expect([0, 1, 2, 3].map((e) => eps.filter((x) => x === e).length)).toEqual([10, 10, 10, 10]);
    expect((await caught(() => buildAnchorCache(SO101, join(dir, "x"), { numSamples: 5000, seed: 0, exclude: SO101_VIDEO_KEYS })))._tag).toBe("InvalidOption");
  });

  it("record start frames in the manifest, and refuse more start frames than samples before writing", async () => {
    const out = join(dir, "so101-starts");
    const m = await buildAnchorCache(SO101, out, { numSamples: 40, seed: 0, exclude: SO101_VIDEO_KEYS, startFrames: 3 });
    expect(m.selection.startFrames).toBe(3);
    for (const e of [0, 1, 2, 3]) {
      const frames = m.selection.frameIndices.filter((_, i) => m.selection.episodeIndices[i] === e);
      expect(frames.slice(0, 3)).toEqual([0, 1, 2]);
    }
    expect((await openAnchorSet(out)).numFrames).toBe(40);
    const target = join(dir, "so101-too-many-starts");
    const e = await caught(() => buildAnchorCache(SO101, target, { numSamples: 40, seed: 0, exclude: SO101_VIDEO_KEYS, startFrames: 11 }));
    expect(e._tag).toBe("InvalidOption");
    expect(e.field).toBe("start_frames");
    expect(String(e.message)).toMatch(/44 over 4 episodes.*num_samples=40/);
    expect(existsSync(target)).toBe(false);
  });

  it("gather large selections in pieces without changing a value", async () => {
    const out = join(dir, "so101-big");
    const deltas = { action: deltaTimestampsForChunk(30, 10) };
    const m = await buildAnchorCache(SO101, out, { numSamples: 600, seed: 9, exclude: SO101_VIDEO_KEYS, deltaTimestamps: deltas });
    const cache = await openAnchorSet(out, { deltaTimestamps: deltas });
    const ds = await openDataset(SO101, { exclude: SO101_VIDEO_KEYS, deltaTimestamps: deltas });
    const rows = [0, 255, 256, 511, 512, 599];
    const got = await cache.getFrames(rows);
    const want = await ds.getFrames(rows.map((r) => m.selection.positions[r]!));
    expect(Array.from(got.features.action!.data)).toEqual(Array.from(want.features.action!.data));
    expect(Array.from(got.features.action_is_pad!.data)).toEqual(Array.from(want.features.action_is_pad!.data));
    expect(Array.from(got.features.index!.data)).toEqual(rows.map((r) => m.selection.positions[r]!));
  });
});
