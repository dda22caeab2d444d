import { join } from "node:path";
import { mkdirSync, readFileSync, renameSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { isLeft, isRight } from "fp-ts/lib/Either.js";
import { describe, expect, it } from "vitest";
import { datasetInfoReport, encodeVideo, hasFfmpeg, openDataset, parseEpisodeList } from "../src/index.js";
import { parquetFooterProblem } from "../src/parquet.js";
import { SO101, SO101_VIDEO_KEYS, caught, so101Copy } from "./helpers.js";

const DATA = "data/chunk-000/file-000.parquet";
const videoOf = (key: string) => `videos/${key}/chunk-000/file-000.mp4`;

/** A few tiny frames per camera: enough for ffprobe to read the file (the report only probes). */
const writeCameraVideos = async (root: string, dir = "videos") => {
  for (const key of SO101_VIDEO_KEYS) {
    const frames = Array.from({ length: 3 }, (_, f) => new Uint8Array(32 * 32 * 3).fill(40 * f));
    await encodeVideo(join(root, dir, key, "chunk-000/file-000.mp4"), frames, { width: 32, height: 32, fps: 30 });
  }
};

describe("craft dataset info validates the files it lists", () => {
  it("the real dataset's Parquet files all pass the footer check", () => {
    for (const file of [DATA, "meta/tasks.parquet", "meta/episodes/chunk-000/file-000.parquet"]) {
      expect(parquetFooterProblem(join(SO101, file)), file).toBeNull();
    }
  });

  it("a truncated data Parquet is reported CORRUPT, never ok", async () => {
    const root = so101Copy();
    const file = join(root, DATA);
    truncateSync(file, Math.floor(statSync(file).size * 0.7));
    const text = await datasetInfoReport(root, { exclude: SO101_VIDEO_KEYS });
    expect(text).toMatch(/CORRUPT data\/chunk-000\/file-000\.parquet\s+\(data\): no PAR1 magic at the end/);
    expect(text).not.toMatch(/ok\s+data\/chunk-000/);
    expect(text).toContain("1 referenced file(s) corrupt or truncated");
    expect(text).not.toContain("all referenced files exist");
  });

  it("a footer whose length or Thrift bytes are wrong is caught by the footer check alone", () => {
    const root = so101Copy();
    const file = join(root, DATA);
    const bytes = readFileSync(file);
    const size = bytes.length;
    // footer length field larger than the file
    const tooLong = Buffer.from(bytes);
    tooLong.writeUInt32LE(size, size - 8);
    writeFileSync(file, tooLong);
    expect(parquetFooterProblem(file)).toMatch(/footer length \d+ exceeds/);
    // the footer's bytes scrambled: the length fits but the metadata does not decode
    const footerLength = bytes.readUInt32LE(size - 8);
    const scrambled = Buffer.from(bytes);
    scrambled.fill(0xff, size - 8 - footerLength, size - 8);
    writeFileSync(file, scrambled);
    expect(parquetFooterProblem(file)).toMatch(/footer does not decode/);
    // a middle cut with both ends intact: the column chunks run past where the footer now starts
    const cut = Buffer.concat([bytes.subarray(0, 4), bytes.subarray(4 + 64)]);
    writeFileSync(file, cut);
    expect(parquetFooterProblem(file)).toMatch(/ends at byte \d+, past the footer/);
  });

  it.runIf(hasFfmpeg())("videos under video/ instead of videos/: listed MISSING with where they are and the video_path template that disagrees", async () => {
    const root = so101Copy();
    await writeCameraVideos(root, "video");
    const text = await datasetInfoReport(root);
    for (const key of SO101_VIDEO_KEYS) {
      expect(text).toContain(`MISSING ${videoOf(key)}  (${key}) — found at video/${key}/chunk-000/file-000.mp4`);
    }
    expect(text).toContain("2 referenced file(s) missing");
    expect(text).toContain(
      'info.json video_path "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4" disagrees with where the files are: expected videos/observation.images.front/chunk-000/file-000.mp4, found video/observation.images.front/chunk-000/file-000.mp4',
    );

    // Moved to where the template says, the same files are found, probed and reported ok.
    renameSync(join(root, "video"), join(root, "videos"));
    const fixed = await datasetInfoReport(root);
    for (const key of SO101_VIDEO_KEYS) expect(fixed).toMatch(new RegExp(`ok\\s+${videoOf(key).replace(/\./g, "\\.")}`));
    expect(fixed).toContain("all referenced files exist and read");
    expect(fixed).not.toContain("disagrees");

    // A truncated MP4 is present but unreadable.
    const front = join(root, videoOf(SO101_VIDEO_KEYS[0]!));
    truncateSync(front, 200);
    const broken = await datasetInfoReport(root);
    expect(broken).toMatch(/CORRUPT videos\/observation\.images\.front\/chunk-000\/file-000\.mp4\s+\(observation\.images\.front\): \S/);
    expect(broken).toContain("1 referenced file(s) corrupt or truncated");
  });

  it("a data file moved to another chunk directory names data_path as the template that disagrees", async () => {
    const root = so101Copy();
    mkdirSync(join(root, "data/chunk-001"));
    renameSync(join(root, DATA), join(root, "data/chunk-001/file-000.parquet"));
    const text = await datasetInfoReport(root, { exclude: SO101_VIDEO_KEYS });
    expect(text).toContain(`MISSING ${DATA}  (data) — found at data/chunk-001/file-000.parquet`);
    expect(text).toContain('info.json data_path "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet" disagrees');
  });

  it("--dataset.episodes and --dataset.exclude narrow the report: only the selected episodes and kept cameras", async () => {
    const text = await datasetInfoReport(SO101, { episodes: [2], exclude: ["observation.images.top"] });
    expect(text).toContain("episodes:  1 selected of 4");
    expect(text).toMatch(/lengths:\s+2:\d+$/m);
    expect(text).toMatch(/observation\.images\.top\s+video\s+\[480, 640, 3\]\s+\(excluded\)/);
    expect(text).not.toContain(videoOf("observation.images.top"));
    expect(text).toContain(`MISSING ${videoOf("observation.images.front")}`);
    expect(text).toContain("1 referenced file(s) missing");
    const e = await caught(() => datasetInfoReport(SO101, { episodes: [4] }));
    expect(e._tag).toBe("EpisodeOutOfRange");
    expect(e.message).toMatch(/field "episodes": expected episode indices in 0\.\.3, found 4/);
  });
});

describe("parseEpisodeList: LeRobot's episodes: list[int]", () => {
  const ok = (v: unknown) => {
    const r = parseEpisodeList(v);
    if (!isRight(r)) throw new Error(`refused ${JSON.stringify(v)}: ${r.left.expected}`);
    return r.right;
  };
  const refused = (v: unknown) => {
    const r = parseEpisodeList(v);
    if (!isLeft(r)) throw new Error(`accepted ${JSON.stringify(v)}`);
    return r.left.expected;
  };

  it("a scalar 3 is [3], not episodes 0..3; lists and comma lists are taken as given; absent is every episode", () => {
    expect(ok(3)).toEqual([3]);
    expect(ok(0)).toEqual([0]);
    expect(ok([2, 0, 1])).toEqual([2, 0, 1]);
    expect(ok("1, 3")).toEqual([1, 3]);
    expect(ok(undefined)).toBeNull();
    expect(ok(null)).toBeNull();
  });

  it("ranges, negatives, non-integers, duplicates and an empty list are refused, saying why", () => {
    expect(refused("0-3")).toMatch(/ranges are not accepted/);
    expect(refused("0:3")).toMatch(/ranges are not accepted/);
    expect(refused(-1)).toMatch(/non-negative integers/);
    expect(refused([0, 1.5])).toMatch(/non-negative integers/);
    expect(refused(["a"])).toMatch(/non-negative integers/);
    expect(refused([1, 1])).toMatch(/each episode once/);
    expect(refused([])).toMatch(/empty list/);
    expect(refused({ episodes: 1 })).toMatch(/such as \[0,1,2\]/);
  });

  it("openDataset applies the same rules to its episodes option", async () => {
    const e = await caught(() => openDataset(SO101, { exclude: SO101_VIDEO_KEYS, episodes: [1, 1] }));
    expect(e._tag).toBe("InvalidOption");
    expect(e.field).toBe("episodes");
    const ds = await openDataset(SO101, { exclude: SO101_VIDEO_KEYS, episodes: [3, 1] });
    expect(ds.episodes.map((ep) => ep.episodeIndex)).toEqual([3, 1]);
    await ds.close();
  });
});
