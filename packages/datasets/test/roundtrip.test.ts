import { join } from "node:path";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { tableFromIPC } from "apache-arrow";
import { readFileSync } from "node:fs";
import * as parquetWasm from "parquet-wasm";
import { parquetReadObjects } from "hyparquet";
import { compressors } from "hyparquet-compressors";
import { writeDataset, openDataset, makeSyntheticDataset, syntheticEpisodes, datasetInfoReport, probeVideo, type WriteEpisode } from "../src/index.js";
import { tempDir } from "./helpers.js";

const dir = tempDir("roundtrip");

/** Episodes whose every value is distinct and recognisable: frame f of episode e has action [e, f, …]. */
const episodes = (n: number, sizes: number[], h: number, w: number): WriteEpisode[] =>
  sizes.slice(0, n).map((len, e) => ({
    task: e % 2 === 0 ? "task even" : "task odd",
    frames: Array.from({ length: len }, (_, f) => {
      const img = new Uint8Array(h * w * 3);
      // a flat colour per frame, far apart between neighbours so lossy video keeps them distinguishable
      const c = [(f * 37 + e * 90) % 256, (f * 83 + 40) % 256, (e * 120 + f * 11) % 256];
      for (let i = 0; i < h * w; i++) img.set(c, i * 3);
      return { "observation.state": [e, f, 0.5, -1.25], action: Float32Array.of(e + 0.25, f / 3, -f, 7), "observation.images.front": img };
    }),
  }));

const features = (h: number, w: number) => ({
  "observation.state": { dtype: "float32" as const, shape: [4], names: ["a", "b", "c", "d"] },
  action: { dtype: "float32" as const, shape: [4] },
  "observation.images.front": { dtype: "image" as const, shape: [h, w, 3] },
});

describe("writer → reader, v3.0", () => {
  it("reads back every value and embedded PNG image identically", async () => {
    const root = join(dir, "png");
    const eps = episodes(3, [5, 7, 4], 12, 10);
    await writeDataset(root, { fps: 15, robotType: "test_bot", features: features(12, 10), episodes: eps });
    const ds = await openDataset(root);
    expect(ds.version).toBe("v3.0");
    expect(ds.numFrames).toBe(16);
    expect(ds.episodes.map((e) => e.length)).toEqual([5, 7, 4]);
    expect(ds.tasks).toEqual(["task even", "task odd"]);
    expect(ds.features["observation.images.front"]!.dtype).toBe("image");
    const all = Array.from({ length: 16 }, (_, i) => i);
    const b = await ds.getFrames(all);
    let pos = 0;
    eps.forEach((ep, e) =>
      ep.frames.forEach((fr, f) => {
        expect(Array.from(b.features.action!.data.subarray(pos * 4, pos * 4 + 4))).toEqual(Array.from(fr.action as Float32Array));
        expect(Array.from(b.features["observation.state"]!.data.subarray(pos * 4, pos * 4 + 4))).toEqual(fr["observation.state"]);
        expect(b.features["observation.images.front"]!.data.subarray(pos * 360, pos * 360 + 360)).toEqual(fr["observation.images.front"]);
        expect(b.features.episode_index!.data[pos]).toBe(e);
        expect(b.features.frame_index!.data[pos]).toBe(f);
        expect(b.features.timestamp!.data[pos]).toBeCloseTo(f / 15, 6);
        expect(b.task[pos]).toBe(ep.task);
        pos++;
      }),
    );
    expect(b.features["observation.images.front"]!.shape).toEqual([16, 12, 10, 3]);
    // stats are computed over the written frames
    expect(ds.stats.action!.mean![3]).toBeCloseTo(7, 6);
    expect(ds.stats.action!.max![1]).toBeCloseTo(2, 6);
    expect(ds.stats["observation.images.front"]!.mean).toHaveLength(3);
  });

  it("writes Parquet the way LeRobot does: Snappy, FixedSizeList<float32>, image struct, pandas-indexed tasks", async () => {
    const root = join(dir, "png");
    const data = readFileSync(join(root, "data/chunk-000/file-000.parquet"));
    const t = tableFromIPC(parquetWasm.readParquet(new Uint8Array(data)).intoIPCStream());
    const types = Object.fromEntries(t.schema.fields.map((f) => [f.name, String(f.type)]));
    expect(types.action).toBe("FixedSizeList[4]<Float32>");
    expect(types["observation.images.front"]).toMatch(/Struct<\{bytes:Binary, path:Utf8\}>/);
    expect(types.index).toBe("Int64");
    // a second, independent Parquet reader agrees, and sees Snappy + the pandas index for tasks
    const ab = data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
    const rows = await parquetReadObjects({ file: ab, compressors, columns: ["action", "episode_index"] });
    expect(rows[6]).toEqual({ action: [1.25, 1 / 3, -1, 7].map(Math.fround), episode_index: 1n });
    const tasks = readFileSync(join(root, "meta/tasks.parquet"));
    const tt = tableFromIPC(parquetWasm.readParquet(new Uint8Array(tasks)).intoIPCStream());
    expect(JSON.parse(tt.schema.metadata.get("pandas")!).index_columns).toEqual(["__index_level_0__"]);
    const meta = parquetWasm.readParquet(new Uint8Array(data));
    expect(meta.numBatches).toBeGreaterThan(0);
    const { parquetMetadata } = await import("hyparquet");
    const md = parquetMetadata(ab);
    expect(md.row_groups[0]!.columns.every((c) => c.meta_data!.codec === "SNAPPY")).toBe(true);
    // pandas/HF metadata sit in the footer key-value metadata where pyarrow looks for them
    const hf = md.key_value_metadata!.find((k) => k.key === "huggingface");
    expect(JSON.parse(hf!.value!).info.features["observation.images.front"]).toEqual({ _type: "Image" });
    const tb = tasks.buffer.slice(tasks.byteOffset, tasks.byteOffset + tasks.byteLength);
    expect(parquetMetadata(tb).key_value_metadata!.map((k) => k.key)).toContain("pandas");
  });

  it("encodes images as MP4 (episodes concatenated) and decodes each frame at its timestamp", async () => {
    const root = join(dir, "mp4");
    const eps = episodes(3, [9, 40, 6], 64, 64);
    await writeDataset(root, { fps: 10, features: features(64, 64), episodes: eps, video: true });
    const file = join(root, "videos/observation.images.front/chunk-000/file-000.mp4");
    expect(existsSync(file)).toBe(true);
    expect(probeVideo(file, "observation.images.front").codec).toBe("av1");
    const ds = await openDataset(root, { videoWindowFrames: 16 });
    expect(ds.features["observation.images.front"]!.dtype).toBe("video");
    const n = ds.numFrames;
    expect(n).toBe(55);
    // shuffled order, mixing windows and episodes; each decoded frame must match the colour written
    const order = Array.from({ length: n }, (_, i) => (i * 23) % n);
    const b = await ds.getFrames(order);
    const img = b.features["observation.images.front"]!;
    expect(img.shape).toEqual([n, 64, 64, 3]);
    const flat = eps.flatMap((e) => e.frames);
    order.forEach((p, r) => {
      const want = flat[p]!["observation.images.front"] as Uint8Array;
      const got = img.data.subarray(r * 64 * 64 * 3, (r + 1) * 64 * 64 * 3);
      // mean colour of the centre 16x16 within a few levels (AV1 is lossy)
      for (let c = 0; c < 3; c++) {
        let s = 0;
        for (let y = 24; y < 40; y++) for (let x = 24; x < 40; x++) s += got[(y * 64 + x) * 3 + c]!;
        expect(Math.abs(s / 256 - want[c]!)).toBeLessThan(12);
      }
    });
    // with delta timestamps the video feature is gathered like any other, padding at the episode end
    const dsd = await openDataset(root, { deltaTimestamps: { "observation.images.front": [-0.1, 0] } });
    const bd = await dsd.getFrames([9]);
    expect(bd.features["observation.images.front"]!.shape).toEqual([1, 2, 64, 64, 3]);
    expect(Array.from(bd.features["observation.images.front_is_pad"]!.data)).toEqual([1, 0]);
    const report = await datasetInfoReport(root);
    expect(report).toContain("all referenced files exist");
  });

  it("decodes video at another size when asked (imageSize, scaled by ffmpeg)", async () => {
    const ds = await openDataset(join(dir, "mp4"), { imageSize: 32 });
    const b = await ds.getFrames([0, 54]);
    expect(b.features["observation.images.front"]!.shape).toEqual([2, 32, 32, 3]);
  });
});

describe("synthetic tasks", () => {
  it("are deterministic from the seed and differ between seeds", () => {
    const a = syntheticEpisodes({ task: "reach", episodes: 2, seed: 7 });
    const b = syntheticEpisodes({ task: "reach", episodes: 2, seed: 7 });
    const c = syntheticEpisodes({ task: "reach", episodes: 2, seed: 8 });
    const digest = (eps: WriteEpisode[]) => {
      const h = createHash("sha256");
      for (const e of eps) {
        h.update(e.task);
        for (const f of e.frames) for (const k of Object.keys(f).sort()) h.update(k).update(Buffer.from(Float64Array.from(f[k]!).buffer));
      }
      return h.digest("hex");
    };
    expect(digest(a)).toBe(digest(b));
    expect(digest(a)).not.toBe(digest(c));
    expect(a[0]!.frames[3]!.action).not.toEqual(c[0]!.frames[3]!.action);
    for (const e of a) expect(e.frames.length).toBeLessThanOrEqual(60);
  });

  it("reach and push have clearly different action distributions and tasks", () => {
    const stats = (task: "reach" | "push") => {
      const eps = syntheticEpisodes({ task, episodes: 10, seed: 1 });
      const acts = eps.flatMap((e) => e.frames.map((f) => f.action as number[]));
      const mean = (j: number) => acts.reduce((s, a) => s + a[j]!, 0) / acts.length;
      const dx = eps.flatMap((e) => e.frames.map((f) => (f.action as number[])[0]! - (f["observation.state"] as number[])[0]!));
      return { task: eps[0]!.task, z: mean(2), gripper: mean(3), wrist: mean(4), meanDx: dx.reduce((s, v) => s + v, 0) / dx.length };
    };
    const reach = stats("reach");
    const push = stats("push");
    expect(reach.task).toBe("reach the red target");
    expect(push.task).toBe("push the block left");
    expect(reach.gripper).toBeGreaterThan(0.9);
    expect(push.gripper).toBeLessThan(0.1);
    expect(push.wrist - reach.wrist).toBeGreaterThan(0.4);
    expect(push.meanDx).toBeLessThan(-0.015); // push sweeps left
    expect(push.z).toBeLessThan(reach.z);
  });

  it("renders the red target (reach) and the blue block (push) into the camera image", async () => {
    const red = (img: Uint8Array) => Array.from({ length: img.length / 3 }, (_, i) => img[i * 3]! > 200 && img[i * 3 + 1]! < 60).filter(Boolean).length;
    const blue = (img: Uint8Array) => Array.from({ length: img.length / 3 }, (_, i) => img[i * 3 + 2]! > 180 && img[i * 3]! < 60).filter(Boolean).length;
    const r = syntheticEpisodes({ task: "reach", episodes: 1, seed: 3 })[0]!.frames[0]!["observation.images.front"] as Uint8Array;
    const p = syntheticEpisodes({ task: "push", episodes: 1, seed: 3 })[0]!.frames[0]!["observation.images.front"] as Uint8Array;
    expect(r.length).toBe(64 * 64 * 3);
    expect(red(r)).toBeGreaterThan(20);
    expect(blue(r)).toBe(0);
    expect(blue(p)).toBeGreaterThan(20);
    expect(red(p)).toBe(0);
  });

  it("encode small cameras as AV1 too (libaom when SVT-AV1's 64-pixel minimum rules it out)", async () => {
    const root = join(dir, "synthetic-small-video");
    await makeSyntheticDataset(root, { task: "reach", episodes: 1, seed: 4, imageSize: 32, video: true });
    const ds = await openDataset(root);
    expect(ds.features["observation.images.front"]!.dtype).toBe("video");
    expect(probeVideo(join(root, "videos/observation.images.front/chunk-000/file-000.mp4"), "cam").codec).toBe("av1");
    const b = await ds.getFrames([0, ds.numFrames - 1]);
    expect(b.features["observation.images.front"]!.shape).toEqual([2, 32, 32, 3]);
  });

  it("writes a dataset openDataset reads", async () => {
    const root = join(dir, "synthetic-push");
    await makeSyntheticDataset(root, { task: "push", episodes: 3, seed: 11 });
    const ds = await openDataset(root);
    expect(ds.numEpisodes).toBe(3);
    expect(ds.tasks).toEqual(["push the block left"]);
    const eps = syntheticEpisodes({ task: "push", episodes: 3, seed: 11 });
    const b = await ds.getFrames([0]);
    expect(Array.from(b.features.action!.data)).toEqual(Array.from(Float32Array.from(eps[0]!.frames[0]!.action as number[])));
    expect(b.features["observation.images.front"]!.data).toEqual(eps[0]!.frames[0]!["observation.images.front"]);
  });
});
