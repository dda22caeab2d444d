import { mkdirSync, writeFileSync, rmSync, existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import type { FeatureStats } from "./batch.js";
import { DatasetError } from "./errors.js";
import { formatTemplate } from "./info.js";
import { encodePng } from "./image.js";
import { writeParquetTable } from "./parquet.js";
import { encodeVideo, pickVideoCodec, type VideoCodec } from "./video.js";
import { computeFeatureStats, computeImageStats } from "./stats.js";
import {
  buildTable,
  fixedFloat32ListColumn,
  float32Column,
  float64Column,
  imageStructColumn,
  int64Column,
  numberListColumn,
  stringColumn,
  stringListColumn,
  type BuiltColumn,
} from "./arrowBuild.js";

/** A feature to write: float vectors (`float32`) or RGB images (`image`, [height, width, 3]). */
export interface WriteFeatureSpec {
  readonly dtype: "float32" | "image";
  readonly shape: readonly number[];
  readonly names?: readonly string[] | null;
}

/** One frame: per feature key, a float vector (array or Float32Array) or RGB bytes [h, w, 3]. */
export type FrameValues = Readonly<Record<string, readonly number[] | Float32Array | Uint8Array>>;

export interface WriteEpisode {
  readonly task: string;
  readonly frames: readonly FrameValues[];
}

export interface WriteDatasetOptions {
  readonly fps: number;
  readonly robotType?: string;
  readonly features: Readonly<Record<string, WriteFeatureSpec>>;
  readonly episodes: readonly WriteEpisode[];
  /** Store image features as MP4 video (one file per camera, episodes concatenated) instead of PNG in Parquet. */
  readonly video?: boolean;
  readonly videoCodec?: VideoCodec;
  /** Replace an existing directory (default false: refuse to write into a non-empty one). */
  readonly overwrite?: boolean;
}

const DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet";
const VIDEO_PATH = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4";
const EPISODES_FILE = "meta/episodes/chunk-000/file-000.parquet";

const hfValue = (dtype: string) => ({ dtype, _type: "Value" });

const nestImageStats = (s: FeatureStats): Record<string, unknown> =>
  Object.fromEntries(Object.entries(s).map(([k, v]) => [k, k === "count" ? v : (v as number[]).map((x) => [[x]])]));

const codecName = (c: VideoCodec) => (c === "libx264" ? "h264" : "av1");

/** A dataset may be written at `root`: it is absent or empty, or `overwrite` allows replacing it. */
export const checkWritableRoot = (root: string, overwrite = false): void => {
  if (existsSync(root) && readdirSync(root).length > 0 && !overwrite) {
    throw new DatasetError("InvalidOption", { file: root, field: "root", expected: "an empty or absent directory (or overwrite: true)", actual: "a non-empty directory" });
  }
};

/**
 * Write a LeRobot v3.0 dataset: one data Parquet file, one episodes file, tasks.parquet,
 * stats.json and info.json, with images embedded as PNG or encoded to MP4.
 */
export const writeDataset = async (root: string, options: WriteDatasetOptions): Promise<void> => {
  const { fps, features, episodes } = options;
  const bad = (field: string, expected: string, actual: string) => new DatasetError("InvalidOption", { file: root, field, expected, actual });
  if (!(fps > 0)) throw bad("fps", "a positive number", String(fps));
  if (episodes.length === 0) throw bad("episodes", "at least one episode", "0");
  checkWritableRoot(root, options.overwrite);
  if (options.overwrite) rmSync(root, { recursive: true, force: true });
  mkdirSync(join(root, "meta"), { recursive: true });

  const floatKeys = Object.keys(features).filter((k) => features[k]!.dtype === "float32");
  const imageKeys = Object.keys(features).filter((k) => features[k]!.dtype === "image");
  const useVideo = options.video === true && imageKeys.length > 0;
  const smallest = Math.min(...imageKeys.flatMap((k) => features[k]!.shape.slice(0, 2)));
  const codec = useVideo ? (options.videoCodec ?? pickVideoCodec(smallest, smallest)) : undefined;

  const tasks: string[] = [];
  const taskIndexOf = (t: string) => {
    let i = tasks.indexOf(t);
    if (i < 0) i = tasks.push(t) - 1;
    return i;
  };
  const total = episodes.reduce((a, e) => a + e.frames.length, 0);
  const dims = new Map(floatKeys.map((k) => [k, features[k]!.shape.reduce((a, b) => a * b, 1)]));
  const floatData = new Map(floatKeys.map((k) => [k, new Float32Array(total * dims.get(k)!)]));
  const images = new Map(imageKeys.map((k) => [k, [] as Uint8Array[]]));
  const timestamp = new Float32Array(total);
  const frameIndex = new Int32Array(total);
  const episodeIndex = new Int32Array(total);
  const taskIndex = new Int32Array(total);
  const epFrom: number[] = [];

  let row = 0;
  episodes.forEach((ep, e) => {
    if (ep.frames.length === 0) throw bad(`episodes[${e}].frames`, "at least one frame", "0");
    const ti = taskIndexOf(ep.task);
    epFrom.push(row);
    ep.frames.forEach((frame, f) => {
      for (const k of floatKeys) {
        const v = frame[k];
        const d = dims.get(k)!;
        if (v === undefined || v.length !== d) throw bad(`episodes[${e}].frames[${f}].${k}`, `${d} float values`, v === undefined ? "missing" : `${v.length}`);
        for (let j = 0; j < d; j++) {
          const x = Number(v[j]);
          if (!Number.isFinite(x)) throw new DatasetError("NonFiniteValue", { file: root, field: `episodes[${e}].frames[${f}].${k}[${j}]`, expected: "a finite number", actual: String(x) });
          floatData.get(k)![row * d + j] = x;
        }
      }
      for (const k of imageKeys) {
        const [h, w] = features[k]!.shape;
        const v = frame[k];
        if (!(v instanceof Uint8Array) || v.length !== h! * w! * 3) throw bad(`episodes[${e}].frames[${f}].${k}`, `a Uint8Array of ${h}x${w}x3 RGB bytes`, v === undefined ? "missing" : `${v.length} values`);
        images.get(k)!.push(v);
      }
      timestamp[row] = f / fps;
      frameIndex[row] = f;
      episodeIndex[row] = e;
      taskIndex[row] = ti;
      row++;
    });
  });
  const index = Int32Array.from({ length: total }, (_, i) => i);

  // data/chunk-000/file-000.parquet
  const hfFeatures: Record<string, unknown> = {};
  const dataColumns: BuiltColumn[] = [];
  for (const k of floatKeys) {
    dataColumns.push(fixedFloat32ListColumn(k, floatData.get(k)!, dims.get(k)!));
    hfFeatures[k] = { feature: hfValue("float32"), length: dims.get(k)!, _type: "List" };
  }
  if (!useVideo) {
    for (const k of imageKeys) {
      const [h, w] = features[k]!.shape;
      const frames = images.get(k)!;
      const pngs = frames.map((data) => encodePng({ width: w!, height: h!, data }));
      dataColumns.push(imageStructColumn(k, pngs, frames.map((_, i) => `frame_${String(i).padStart(6, "0")}.png`)));
      hfFeatures[k] = { _type: "Image" };
    }
  }
  dataColumns.push(float32Column("timestamp", timestamp), int64Column("frame_index", frameIndex), int64Column("episode_index", episodeIndex), int64Column("index", index), int64Column("task_index", taskIndex));
  for (const k of ["frame_index", "episode_index", "index", "task_index"]) hfFeatures[k] = hfValue("int64");
  hfFeatures.timestamp = hfValue("float32");
  const dataFile = formatTemplate(DATA_PATH, { chunk_index: 0, file_index: 0 });
  writeParquetTable(join(root, dataFile), buildTable(dataColumns, new Map([["huggingface", JSON.stringify({ info: { features: hfFeatures } })]])));

  // videos: one MP4 per camera, episodes back to back; each episode's offset goes in the episodes table.
  if (useVideo) {
    for (const k of imageKeys) {
      const [h, w] = features[k]!.shape;
      await encodeVideo(join(root, formatTemplate(VIDEO_PATH, { video_key: k, chunk_index: 0, file_index: 0 })), images.get(k)!, { width: w!, height: h!, fps, codec });
    }
  }

  // stats
  const stats: Record<string, unknown> = {};
  const episodeStats: Record<string, FeatureStats>[] = episodes.map(() => ({}));
  const scalarColumns: [string, ArrayLike<number>][] = [["timestamp", timestamp], ["frame_index", frameIndex], ["episode_index", episodeIndex], ["index", index], ["task_index", taskIndex]];
  for (const k of floatKeys) stats[k] = computeFeatureStats(floatData.get(k)!, dims.get(k)!);
  for (const [k, v] of scalarColumns) stats[k] = computeFeatureStats(v, 1);
  for (const k of imageKeys) stats[k] = nestImageStats(computeImageStats(images.get(k)!));
  episodes.forEach((ep, e) => {
    const a = epFrom[e]!;
    const b = a + ep.frames.length;
    for (const k of floatKeys) episodeStats[e]![k] = computeFeatureStats(floatData.get(k)!.subarray(a * dims.get(k)!, b * dims.get(k)!), dims.get(k)!);
    for (const [k, v] of scalarColumns) episodeStats[e]![k] = computeFeatureStats(Array.prototype.slice.call(v, a, b) as number[], 1);
  });
  writeFileSync(join(root, "meta/stats.json"), JSON.stringify(stats, null, 4));

  // meta/episodes
  const epCols: BuiltColumn[] = [
    int64Column("episode_index", episodes.map((_, e) => e)),
    stringListColumn("tasks", episodes.map((ep) => [ep.task])),
    int64Column("length", episodes.map((ep) => ep.frames.length)),
    int64Column("data/chunk_index", episodes.map(() => 0)),
    int64Column("data/file_index", episodes.map(() => 0)),
    int64Column("dataset_from_index", epFrom),
    int64Column("dataset_to_index", episodes.map((ep, e) => epFrom[e]! + ep.frames.length)),
  ];
  if (useVideo) {
    for (const k of imageKeys) {
      epCols.push(
        int64Column(`videos/${k}/chunk_index`, episodes.map(() => 0)),
        int64Column(`videos/${k}/file_index`, episodes.map(() => 0)),
        float64Column(`videos/${k}/from_timestamp`, epFrom.map((f) => f / fps)),
        float64Column(`videos/${k}/to_timestamp`, episodes.map((ep, e) => (epFrom[e]! + ep.frames.length) / fps)),
      );
    }
  }
  const statKeys = [...floatKeys, ...scalarColumns.map(([k]) => k)];
  for (const k of statKeys) {
    for (const s of ["min", "max", "mean", "std", "count", "q01", "q10", "q50", "q90", "q99"] as const) {
      epCols.push(numberListColumn(`stats/${k}/${s}`, episodeStats.map((es) => [...(es[k]![s] ?? [])]), s === "count" ? "int64" : "float64"));
    }
  }
  epCols.push(int64Column("meta/episodes/chunk_index", episodes.map(() => 0)), int64Column("meta/episodes/file_index", episodes.map(() => 0)));
  writeParquetTable(join(root, EPISODES_FILE), buildTable(epCols));

  // meta/tasks.parquet: pandas frame indexed by the task string, as LeRobot writes it.
  const pandas = {
    index_columns: ["__index_level_0__"],
    column_indexes: [{ name: null, field_name: null, pandas_type: "unicode", numpy_type: "object", metadata: { encoding: "UTF-8" } }],
    columns: [
      { name: "task_index", field_name: "task_index", pandas_type: "int64", numpy_type: "int64", metadata: null },
      { name: null, field_name: "__index_level_0__", pandas_type: "unicode", numpy_type: "object", metadata: null },
    ],
    attributes: {},
    creator: { library: "craft-ts", version: "0.1.0" },
    pandas_version: "2.3.3",
  };
  writeParquetTable(join(root, "meta/tasks.parquet"), buildTable([int64Column("task_index", tasks.map((_, i) => i)), stringColumn("__index_level_0__", tasks)], new Map([["pandas", JSON.stringify(pandas)]])));

  // meta/info.json
  const infoFeatures: Record<string, unknown> = {};
  for (const k of floatKeys) infoFeatures[k] = { dtype: "float32", shape: [...features[k]!.shape], names: features[k]!.names ?? null };
  for (const k of imageKeys) {
    const [h, w] = features[k]!.shape;
    infoFeatures[k] = useVideo
      ? {
          dtype: "video",
          shape: [h, w, 3],
          names: ["height", "width", "channels"],
          info: { "video.height": h, "video.width": w, "video.codec": codecName(codec!), "video.pix_fmt": "yuv420p", "video.is_depth_map": false, "video.fps": fps, "video.channels": 3, has_audio: false },
        }
      : { dtype: "image", shape: [h, w, 3], names: ["height", "width", "channels"] };
  }
  infoFeatures.timestamp = { dtype: "float32", shape: [1], names: null };
  for (const k of ["frame_index", "episode_index", "index", "task_index"]) infoFeatures[k] = { dtype: "int64", shape: [1], names: null };
  const info = {
    codebase_version: "v3.0",
    robot_type: options.robotType ?? null,
    total_episodes: episodes.length,
    total_frames: total,
    total_tasks: tasks.length,
    chunks_size: 1000,
    data_files_size_in_mb: 100,
    video_files_size_in_mb: 500,
    fps,
    splits: { train: `0:${episodes.length}` },
    data_path: DATA_PATH,
    video_path: useVideo ? VIDEO_PATH : null,
    features: infoFeatures,
  };
  writeFileSync(join(root, "meta/info.json"), JSON.stringify(info, null, 4));
};
