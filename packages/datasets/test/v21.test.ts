import { join } from "node:path";
import { readFileSync, writeFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { openDataset, datasetInfoReport, deltaTimestampsForChunk, encodeVideo } from "../src/index.js";
import { tempDir } from "./helpers.js";
import { buildV21 } from "./v21Layout.js";

describe("LeRobot v2.1 layout", () => {
  const dir = tempDir("v21");

  it("reads episodes, tasks and per-episode Parquet files through the info.json templates", async () => {
    const root = join(dir, "a");
    buildV21(root, [6, 4, 5], { chunksSize: 2 }); // episode 2 lives in data/chunk-001/
    const ds = await openDataset(root);
    expect(ds.version).toBe("v2.1");
    expect(ds.numFrames).toBe(15);
    expect(ds.episodes.map((e) => [e.episodeIndex, e.from, e.to])).toEqual([[0, 0, 6], [1, 6, 10], [2, 10, 15]]);
    expect(ds.tasks).toEqual(["fold the towel", "stack cups"]);
    const b = await ds.getFrames([0, 7, 14]);
    expect(Array.from(b.features.action!.data)).toEqual([0, -0, 101, -1, 204, -4]);
    expect(Array.from(b.features["observation.state"]!.data)).toEqual([0, -0, 50.5, -0.5, 102, -2]);
    expect(b.task).toEqual(["fold the towel", "stack cups", "fold the towel"]);
  });

  it("aggregates episodes_stats.jsonl into dataset stats (count-weighted mean, pooled std, min/max)", async () => {
    const ds = await openDataset(join(dir, "a"));
    const all = [...[0, 1, 2, 3, 4, 5], ...[100, 101, 102, 103], ...[200, 201, 202, 203, 204]];
    const mean = all.reduce((a, b) => a + b, 0) / all.length;
    const std = Math.sqrt(all.reduce((a, b) => a + (b - mean) ** 2, 0) / all.length);
    const s = ds.stats.action!;
    expect(s.mean![0]).toBeCloseTo(mean, 9);
    expect(s.std![0]).toBeCloseTo(std, 9);
    expect(s.min![0]).toBe(0);
    expect(s.max![0]).toBe(204);
    expect(s.count).toEqual([15]);
  });

  it("gathers chunks with padding and selects episodes", async () => {
    const ds = await openDataset(join(dir, "a"), { episodes: [2], deltaTimestamps: { action: deltaTimestampsForChunk(20, 3) } });
    expect(ds.numFrames).toBe(5);
    const b = await ds.getFrames([3]);
    expect(Array.from(b.features.action!.data)).toEqual([203, -3, 204, -4, 204, -4]);
    expect(Array.from(b.features.action_is_pad!.data)).toEqual([0, 0, 1]);
  });

  it("reports the v2.1 files", async () => {
    const text = await datasetInfoReport(join(dir, "a"));
    expect(text).toContain("version:   v2.1");
    expect(text).toMatch(/ok\s+data\/chunk-001\/episode_000002\.parquet/);
    expect(text).toMatch(/ok\s+meta\/episodes_stats\.jsonl/);
  });
});

describe("LeRobot v2.1 layout with videos", () => {
  const dir = tempDir("v21v");

  it("decodes per-episode MP4s found through video_path (chunk/video_key/episode templates)", async () => {
    const root = join(dir, "v");
    const lengths = [6, 8];
    buildV21(root, lengths);
    const key = "observation.images.cam";
    const info = JSON.parse(readFileSync(join(root, "meta/info.json"), "utf8"));
    info.features[key] = { dtype: "video", shape: [64, 64, 3], names: ["height", "width", "channels"], info: { "video.fps": 20, "video.codec": "av1" } };
    writeFileSync(join(root, "meta/info.json"), JSON.stringify(info));
    const colour = (e: number, f: number) => [(e * 120 + f * 30) % 256, 255 - f * 25, 60 + e * 100];
    for (const [e, len] of lengths.entries()) {
      const frames = Array.from({ length: len }, (_, f) => {
        const img = new Uint8Array(64 * 64 * 3);
        for (let i = 0; i < 64 * 64; i++) img.set(colour(e, f), i * 3);
        return img;
      });
      await encodeVideo(join(root, `videos/chunk-000/${key}/episode_${String(e).padStart(6, "0")}.mp4`), frames, { width: 64, height: 64, fps: 20 });
    }
    const ds = await openDataset(root);
    const b = await ds.getFrames([0, 5, 6, 13]);
    const img = b.features[key]!;
    expect(img.shape).toEqual([4, 64, 64, 3]);
    [[0, 0], [0, 5], [1, 0], [1, 7]].forEach(([e, f], r) => {
      const px = img.data.subarray((r * 64 * 64 + 32 * 64 + 32) * 3, (r * 64 * 64 + 32 * 64 + 32) * 3 + 3);
      colour(e!, f!).forEach((c, ch) => expect(Math.abs(px[ch]! - c)).toBeLessThan(12));
    });
  });
});
