import { join } from "node:path";
import { readFileSync, writeFileSync, truncateSync, statSync, rmSync, mkdirSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { openDataset, writeDataset, DatasetError, resolveDatasetRoot } from "../src/index.js";
import { readParquetTable, writeParquetTable } from "../src/parquet.js";
import { SO101, SO101_VIDEO_KEYS, caught, so101Copy, tempDir } from "./helpers.js";

const noVideo = { exclude: SO101_VIDEO_KEYS };
const editInfo = (root: string, edit: (info: Record<string, any>) => void) => {
  const file = join(root, "meta/info.json");
  const info = JSON.parse(readFileSync(file, "utf8"));
  edit(info);
  writeFileSync(file, JSON.stringify(info));
};
const expectError = (e: Error & Record<string, unknown>, tag: string, file: RegExp, field: string, expected: RegExp) => {
  expect(e).toBeInstanceOf(DatasetError);
  expect(e._tag).toBe(tag);
  expect(e.file).toMatch(file);
  expect(e.field).toBe(field);
  expect(e.expected).toMatch(expected);
  // the one-line message carries all three
  expect(e.message).toContain(String(e.file));
  expect(e.message).toContain(field);
};

describe("bad input gives an error naming file, field and expected value", () => {
  const dir = tempDir("errors");

  it("missing meta/info.json", async () => {
    mkdirSync(join(dir, "empty"));
    expectError(await caught(() => openDataset(join(dir, "empty"))), "MissingFile", /empty\/meta\/info\.json$/, "meta/info.json", /LeRobot dataset root/);
  });

  it("unknown codebase_version", async () => {
    const root = so101Copy();
    editInfo(root, (i) => (i.codebase_version = "v1.6"));
    const e = await caught(() => openDataset(root, noVideo));
    expectError(e, "UnknownVersion", /meta\/info\.json$/, "codebase_version", /v2\.1, v3\.0/);
    expect(e.actual).toBe('"v1.6"');
  });

  it("info.json missing a required field", async () => {
    const root = so101Copy();
    editInfo(root, (i) => delete i.fps);
    expectError(await caught(() => openDataset(root, noVideo)), "InvalidInfo", /meta\/info\.json$/, "fps", /number/);
  });

  it("a path template naming a file that does not exist", async () => {
    const root = so101Copy();
    editInfo(root, (i) => (i.data_path = "data/chunk-{chunk_index:03d}/shard-{file_index:05d}.parquet"));
    expectError(await caught(() => openDataset(root, noVideo)), "MissingFile", /data\/chunk-000\/shard-00000\.parquet$/, "data_path", /data file of episode/);
  });

  it("a Parquet schema that disagrees with info.json (shape and missing column)", async () => {
    const root = so101Copy();
    editInfo(root, (i) => (i.features.action.shape = [7]));
    const e = await caught(() => openDataset(root, noVideo));
    expectError(e, "SchemaMismatch", /data\/chunk-000\/file-000\.parquet$/, "action", /7 value\(s\) per row/);
    expect(e.actual).toBe("6 value(s) per row");
    editInfo(root, (i) => {
      i.features.action.shape = [6];
      i.features["observation.effort"] = { dtype: "float32", shape: [6], names: null };
    });
    expectError(await caught(() => openDataset(root, noVideo)), "SchemaMismatch", /file-000\.parquet$/, "observation.effort", /declared in meta\/info\.json/);
  });

  it("NaN or Inf in a float column", async () => {
    const root = join(dir, "nan");
    await writeDataset(root, { fps: 10, features: { action: { dtype: "float32", shape: [2] } }, episodes: [{ task: "t", frames: [{ action: [1, 2] }, { action: [3, 4] }] }] });
    const file = join(root, "data/chunk-000/file-000.parquet");
    const table = readParquetTable(file);
    const values = table.getChild("action")!.data[0]!.children[0]!.values as Float32Array;
    values[3] = Number.NaN;
    writeParquetTable(file, table);
    const e = await caught(() => openDataset(root));
    expectError(e, "NonFiniteValue", /file-000\.parquet$/, "action", /finite/);
    expect(e.actual).toContain("row 1, element 1");
    values[3] = Number.POSITIVE_INFINITY;
    writeParquetTable(file, table);
    expect((await caught(() => openDataset(root)))._tag).toBe("NonFiniteValue");
  });

  it("a truncated Parquet file (data and episodes metadata)", async () => {
    const root = so101Copy();
    const data = join(root, "data/chunk-000/file-000.parquet");
    truncateSync(data, Math.floor(statSync(data).size / 2));
    expectError(await caught(() => openDataset(root, noVideo)), "CorruptParquet", /data\/chunk-000\/file-000\.parquet$/, "data", /complete Parquet file/);
    const meta = join(root, "meta/episodes/chunk-000/file-000.parquet");
    truncateSync(meta, statSync(meta).size - 100);
    expectError(await caught(() => openDataset(root, noVideo)), "CorruptParquet", /meta\/episodes\/chunk-000\/file-000\.parquet$/, "meta/episodes", /Parquet/);
  });

  it("a truncated MP4", async () => {
    const root = join(dir, "mp4");
    const frames = Array.from({ length: 60 }, (_, f) => ({ action: [f, 0], "observation.images.front": new Uint8Array(64 * 64 * 3).fill(f * 4) }));
    await writeDataset(root, { fps: 10, video: true, features: { action: { dtype: "float32", shape: [2] }, "observation.images.front": { dtype: "image", shape: [64, 64, 3] } }, episodes: [{ task: "t", frames }] });
    const mp4 = join(root, "videos/observation.images.front/chunk-000/file-000.mp4");
    truncateSync(mp4, Math.floor(statSync(mp4).size * 0.4));
    const e = await caught(async () => {
      const ds = await openDataset(root);
      await ds.getFrames([0, 59]);
    });
    expectError(e, "CorruptVideo", /file-000\.mp4$/, "observation.images.front", /./);
  });

  it("an episode index out of range", async () => {
    expectError(await caught(() => openDataset(SO101, { ...noVideo, episodes: [0, 7] })), "EpisodeOutOfRange", /meta\/episodes$/, "episodes", /0\.\.3/);
  });

  it("a frame position out of range", async () => {
    const ds = await openDataset(SO101, noVideo);
    expectError(await caught(() => ds.getFrames([1492])), "IndexOutOfRange", /so101/, "frame position", /0\.\.1491/);
  });

  it("delta timestamps that are not whole frames, or name no feature", async () => {
    expectError(await caught(() => openDataset(SO101, { ...noVideo, deltaTimestamps: { action: [0, 0.05] } })), "InvalidOption", /info\.json$/, "deltaTimestamps.action", /multiples of 1\/fps/);
    expectError(await caught(() => openDataset(SO101, { ...noVideo, deltaTimestamps: { effort: [0] } })), "InvalidOption", /info\.json$/, "deltaTimestamps.effort", /a feature of the dataset/);
  });

  it("a repo_id that was never downloaded names the expected directory", () => {
    const e = (() => {
      try {
        resolveDatasetRoot({ repoId: "lerobot/nope" }, { HF_LEROBOT_HOME: join(dir, "home") });
      } catch (err) {
        return err as DatasetError;
      }
      throw new Error("no error");
    })();
    expect(e._tag).toBe("MissingFile");
    expect(e.file).toBe(join(dir, "home", "lerobot/nope"));
    expect(resolveDatasetRoot({ root: SO101 })).toBe(SO101);
    rmSync(join(dir, "empty"), { recursive: true, force: true });
  });
});
