import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Table } from "apache-arrow";
import type { ArrayTensor, Batch, DatasetStats } from "./batch.js";
import { DatasetError } from "./errors.js";
import { INFO_PATH, isFloatFeature, isImageFeature, isVideoFeature, type CodebaseVersion, type FeatureSpec } from "./info.js";
import { readDatasetMeta, type DatasetMeta, type EpisodeInfo } from "./metadata.js";
import { floatColumn, floatColumnWidth, imageColumn, intColumn, readParquetTable } from "./parquet.js";
import { decodeImage } from "./image.js";
import { VideoWindowCache, probeVideo } from "./video.js";
import { deltaIndices } from "./deltaTimestamps.js";
import { selectEpisodes } from "./episodes.js";

export interface OpenDatasetOptions {
  /** Episode indices to keep (default: all), in the order given. */
  readonly episodes?: readonly number[];
  /** Feature keys to leave out, e.g. cameras whose videos you do not have. Unknown keys are ignored. */
  readonly exclude?: readonly string[];
  /** Seconds relative to each frame, per feature (LeRobot `delta_timestamps`). */
  readonly deltaTimestamps?: Readonly<Record<string, readonly number[]>>;
  readonly videoBackend?: "ffmpeg";
  /** Decode video frames at this size (square, or [height, width]) by letting ffmpeg scale. Default: the stream's size. */
  readonly imageSize?: number | readonly [number, number];
  /**
   * Frames decoded per ffmpeg process (one window of the video file); default 32. Each process costs
   * ~0.2 s to start, so sequential readers (shuffle: false) should raise this (e.g. 300).
   */
  readonly videoWindowFrames?: number;
  /** Budget of the decoded-video cache in MiB; default 512. */
  readonly videoCacheMiB?: number;
}

/** One episode of the opened dataset. `from`/`to` are positions in this dataset (what getFrames takes), `to` exclusive. */
export interface DatasetEpisode {
  readonly episodeIndex: number;
  readonly length: number;
  readonly from: number;
  readonly to: number;
  readonly tasks: readonly string[];
}

/** Anything that yields frames by position: a LeRobot dataset or an anchor set. */
export interface FrameSource {
  readonly numFrames: number;
  getFrames(indices: readonly number[]): Promise<Batch>;
  close(): Promise<void> | void;
}

export interface LeRobotDataset extends FrameSource {
  readonly root: string;
  readonly version: CodebaseVersion;
  readonly fps: number;
  readonly numFrames: number;
  readonly numEpisodes: number;
  /** Features from info.json, less the excluded ones. */
  readonly features: Readonly<Record<string, FeatureSpec>>;
  readonly stats: DatasetStats;
  readonly tasks: readonly string[];
  readonly episodes: readonly DatasetEpisode[];
  readonly deltaTimestamps: Readonly<Record<string, readonly number[]>>;
  getFrames(indices: readonly number[]): Promise<Batch>;
  close(): Promise<void>;
}

interface FloatColumn {
  readonly dim: number;
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

const SCALAR_INDEX_COLUMNS = ["frame_index", "episode_index", "index", "task_index"] as const;

const prod = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/** Shape of one frame of a float feature as it appears in a batch ([1] scalars become no axis). */
const frameShape = (shape: readonly number[]) => (shape.length === 1 && shape[0] === 1 ? [] : [...shape]);

class LoadedDataset implements LeRobotDataset {
  readonly root: string;
  readonly version: CodebaseVersion;
  readonly fps: number;
  readonly numFrames: number;
  readonly numEpisodes: number;
  readonly features: Readonly<Record<string, FeatureSpec>>;
  readonly stats: DatasetStats;
  readonly tasks: readonly string[];
  readonly episodes: readonly DatasetEpisode[];
  readonly deltaTimestamps: Readonly<Record<string, readonly number[]>>;

  private readonly deltaOffsets: ReadonlyMap<string, Int32Array>;
  private readonly imageCache = new Map<string, Uint8Array>();
  private readonly videoCache: VideoWindowCache;
  private readonly videoSize: ReadonlyMap<string, readonly [number, number]>;

  constructor(
    private readonly meta: DatasetMeta,
    private readonly selected: readonly EpisodeInfo[],
    features: Record<string, FeatureSpec>,
    private readonly floats: ReadonlyMap<string, FloatColumn>,
    private readonly ints: ReadonlyMap<string, Int32Array>,
    private readonly images: ReadonlyMap<string, { file: string[]; bytes: Uint8Array[]; shape: readonly number[] }>,
    private readonly videoKeys: readonly string[],
    private readonly posEpisode: Int32Array,
    deltaTimestamps: Record<string, readonly number[]>,
    options: OpenDatasetOptions,
  ) {
    this.root = meta.root;
    this.version = meta.version;
    this.fps = meta.fps;
    this.features = features;
    this.stats = meta.stats;
    this.tasks = meta.tasks;
    let cursor = 0;
    this.episodes = selected.map((e) => {
      const ep = { episodeIndex: e.episodeIndex, length: e.length, from: cursor, to: cursor + e.length, tasks: e.tasks };
      cursor += e.length;
      return ep;
    });
    this.numFrames = cursor;
    this.numEpisodes = selected.length;
    this.deltaTimestamps = deltaTimestamps;
    this.deltaOffsets = new Map(Object.entries(deltaTimestamps).map(([k, d]) => [k, deltaIndices(d, this.fps, join(this.root, INFO_PATH), k)]));
    this.videoCache = new VideoWindowCache(options.videoWindowFrames ?? 32, (options.videoCacheMiB ?? 512) * 1024 * 1024);
    const size = options.imageSize;
    this.videoSize = new Map(
      videoKeys.map((k) => {
        const s = features[k]!.shape;
        const hw: readonly [number, number] = size === undefined ? [s[0]!, s[1]!] : typeof size === "number" ? [size, size] : [size[0], size[1]];
        return [k, hw];
      }),
    );
  }

  private checkIndex(i: number): void {
    if (!Number.isInteger(i) || i < 0 || i >= this.numFrames) {
      throw new DatasetError("IndexOutOfRange", { file: this.root, field: "frame position", expected: `an integer in 0..${this.numFrames - 1}`, actual: String(i) });
    }
  }

  /** Positions gathered for a feature: [B*T] source positions and the [B*T] pad mask (T=1 without deltas). */
  private gather(key: string, indices: readonly number[]): { pos: Int32Array; pad: Uint8Array | undefined; steps: number | undefined } {
    const offs = this.deltaOffsets.get(key);
    if (offs === undefined) return { pos: Int32Array.from(indices), pad: undefined, steps: undefined };
    const T = offs.length;
    const pos = new Int32Array(indices.length * T);
    const pad = new Uint8Array(indices.length * T);
    indices.forEach((i, b) => {
      const ep = this.episodes[this.posEpisode[i]!]!;
      for (let t = 0; t < T; t++) {
        const j = i + offs[t]!;
        // LeRobot: neighbours outside the episode are clamped to its edge and flagged as padding.
        if (j < ep.from) {
          pos[b * T + t] = ep.from;
          pad[b * T + t] = 1;
        } else if (j >= ep.to) {
          pos[b * T + t] = ep.to - 1;
          pad[b * T + t] = 1;
        } else pos[b * T + t] = j;
      }
    });
    return { pos, pad, steps: T };
  }

  private decodedImage(key: string, pos: number): Uint8Array {
    const cacheKey = `${key}|${pos}`;
    const hit = this.imageCache.get(cacheKey);
    if (hit !== undefined) return hit;
    const col = this.images.get(key)!;
    const img = decodeImage(col.bytes[pos]!, col.file[pos]!, key);
    const [h, w] = col.shape;
    if (img.height !== h || img.width !== w) {
      throw new DatasetError("SchemaMismatch", { file: col.file[pos]!, field: key, expected: `images of ${h}x${w} (info.json shape)`, actual: `${img.height}x${img.width} at frame ${pos}` });
    }
    if (this.imageCache.size > 4096) this.imageCache.delete(this.imageCache.keys().next().value as string);
    this.imageCache.set(cacheKey, img.data);
    return img.data;
  }

  private videoFrame(key: string, pos: number): Promise<Uint8Array> {
    const ordinal = this.posEpisode[pos]!;
    const ep = this.episodes[ordinal]!;
    const loc = this.selected[ordinal]!.videos[key]!;
    const [h, w] = this.videoSize.get(key)!;
    const fileFrames = Math.round(probeVideo(loc.file, key).duration * this.fps);
    const fileFrame = Math.round(loc.fromTimestamp * this.fps) + (pos - ep.from);
    return this.videoCache.frame(loc.file, key, fileFrame, fileFrames, this.fps, w, h);
  }

  async getFrames(indices: readonly number[]): Promise<Batch> {
    for (const i of indices) this.checkIndex(i);
    const B = indices.length;
    const features: Record<string, ArrayTensor> = {};
    for (const [key, col] of this.floats) {
      const { pos, pad, steps } = this.gather(key, indices);
      const out = new Float32Array(pos.length * col.dim);
      for (let r = 0; r < pos.length; r++) out.set(col.data.subarray(pos[r]! * col.dim, (pos[r]! + 1) * col.dim), r * col.dim);
      const shape = frameShape(col.shape);
      features[key] = { data: out, shape: steps === undefined ? [B, ...shape] : [B, steps, ...shape] };
      if (pad !== undefined) features[`${key}_is_pad`] = { data: pad, shape: [B, steps!] };
    }
    for (const [key, col] of this.ints) features[key] = { data: Int32Array.from(indices, (i) => col[i]!), shape: [B] };
    for (const [key, col] of this.images) {
      const { pos, pad, steps } = this.gather(key, indices);
      const frameBytes = prod(col.shape);
      const out = new Uint8Array(pos.length * frameBytes);
      for (let r = 0; r < pos.length; r++) out.set(this.decodedImage(key, pos[r]!), r * frameBytes);
      features[key] = { data: out, shape: steps === undefined ? [B, ...col.shape] : [B, steps, ...col.shape] };
      if (pad !== undefined) features[`${key}_is_pad`] = { data: pad, shape: [B, steps!] };
    }
    for (const key of this.videoKeys) {
      const { pos, pad, steps } = this.gather(key, indices);
      const [h, w] = this.videoSize.get(key)!;
      const frameBytes = h * w * 3;
      const frames = await Promise.all(Array.from(pos, (p) => this.videoFrame(key, p)));
      const out = new Uint8Array(pos.length * frameBytes);
      frames.forEach((f, r) => out.set(f, r * frameBytes));
      features[key] = { data: out, shape: steps === undefined ? [B, h, w, 3] : [B, steps, h, w, 3] };
      if (pad !== undefined) features[`${key}_is_pad`] = { data: pad, shape: [B, steps!] };
    }
    const taskIndex = this.ints.get("task_index")!;
    const task = indices.map((i) => this.tasks[taskIndex[i]!] ?? "");
    return { size: B, features, task };
  }

  async close(): Promise<void> {
    this.videoCache.clear();
    this.imageCache.clear();
  }
}

const featureExpectation = (spec: FeatureSpec): string =>
  isImageFeature(spec) ? "struct{bytes, path} image column" : `${spec.dtype} column of ${prod(spec.shape)} value(s) per row (shape [${spec.shape.join(", ")}])`;

/** Check a data file's columns against info.json before trusting any value in it. */
const checkSchema = (table: Table, file: string, features: Readonly<Record<string, FeatureSpec>>): void => {
  for (const [key, spec] of Object.entries(features)) {
    if (isVideoFeature(spec)) continue;
    const col = table.getChild(key);
    if (col === null) {
      throw new DatasetError("SchemaMismatch", { file, field: key, expected: `a ${featureExpectation(spec)} (declared in meta/info.json)`, actual: "no such column" });
    }
    if (isFloatFeature(spec)) {
      const width = floatColumnWidth(col);
      if (width !== prod(spec.shape) && !(width === 0 && col.length === 0)) {
        throw new DatasetError("SchemaMismatch", { file, field: key, expected: featureExpectation(spec), actual: width === undefined ? String(col.type) : `${width} value(s) per row` });
      }
    } else if (spec.dtype.startsWith("int")) {
      if (String(col.type).indexOf("Int") < 0) throw new DatasetError("SchemaMismatch", { file, field: key, expected: featureExpectation(spec), actual: String(col.type) });
    }
  }
};

/** Rows of `ep` inside a data file, found through the file's `index` column. */
const episodeRows = (index: Int32Array, episodeIndex: Int32Array, ep: EpisodeInfo, file: string): Int32Array => {
  const rows = new Int32Array(ep.length);
  const first = index[0] ?? 0;
  const contiguous = index.length > 0 && index[index.length - 1] === first + index.length - 1;
  let byIndex: Map<number, number> | undefined;
  if (!contiguous) byIndex = new Map(Array.from(index, (g, r) => [g, r]));
  for (let k = 0; k < ep.length; k++) {
    const g = ep.from + k;
    const r = byIndex === undefined ? g - first : byIndex.get(g);
    if (r === undefined || r < 0 || r >= index.length || index[r] !== g) {
      throw new DatasetError("SchemaMismatch", { file, field: "index", expected: `rows with index ${ep.from}..${ep.to - 1} for episode ${ep.episodeIndex}`, actual: `index ${g} missing` });
    }
    if (episodeIndex[r] !== ep.episodeIndex) {
      throw new DatasetError("SchemaMismatch", { file, field: "episode_index", expected: `${ep.episodeIndex} at index ${g}`, actual: String(episodeIndex[r]) });
    }
    rows[k] = r;
  }
  return rows;
};

/**
 * Open a LeRobot v2.1 or v3.0 dataset: metadata, then all Parquet rows of the selected episodes
 * into contiguous columns. Video features are checked at open time: a referenced MP4 that does not
 * exist fails here (naming the file and the `exclude` option), not later in the middle of training.
 */
export const openDataset = async (root: string, options: OpenDatasetOptions = {}): Promise<LeRobotDataset> => {
  const meta = readDatasetMeta(root);
  const infoFile = join(root, INFO_PATH);
  if (options.videoBackend !== undefined && options.videoBackend !== "ffmpeg") {
    throw new DatasetError("InvalidOption", { file: infoFile, field: "videoBackend", expected: '"ffmpeg"', actual: JSON.stringify(options.videoBackend) });
  }
  const exclude = new Set(options.exclude ?? []);
  const features: Record<string, FeatureSpec> = {};
  for (const [k, s] of Object.entries(meta.info.features)) if (!exclude.has(k)) features[k] = s;

  const selected = selectEpisodes(meta, options.episodes);

  const deltaTimestamps: Record<string, readonly number[]> = {};
  for (const [k, d] of Object.entries(options.deltaTimestamps ?? {})) {
    if (exclude.has(k)) continue;
    if (features[k] === undefined) throw new DatasetError("InvalidOption", { file: infoFile, field: `deltaTimestamps.${k}`, expected: `a feature of the dataset (${Object.keys(features).join(", ")})`, actual: k });
    deltaTimestamps[k] = d;
  }

  const videoKeys = Object.keys(features).filter((k) => isVideoFeature(features[k]!));
  for (const key of videoKeys) {
    const [h, w] = features[key]!.shape;
    for (const ep of selected) {
      const loc = ep.videos[key];
      if (loc === undefined || !existsSync(loc.file)) {
        throw new DatasetError("MissingFile", {
          file: loc?.file ?? join(root, "videos"),
          field: key,
          expected: `the MP4 of video feature ${key} for episode ${ep.episodeIndex} (from info.json video_path)`,
          exclude: videoKeys,
        });
      }
      const probe = probeVideo(loc.file, key);
      if (probe.width !== w || probe.height !== h) {
        throw new DatasetError("SchemaMismatch", { file: loc.file, field: key, expected: `${h}x${w} video (info.json shape)`, actual: `${probe.height}x${probe.width}` });
      }
      const end = (loc.toTimestamp ?? loc.fromTimestamp + ep.length / meta.fps) - 0.5 / meta.fps;
      if (probe.duration + 1e-3 < end) {
        throw new DatasetError("CorruptVideo", { file: loc.file, field: key, expected: `at least ${end.toFixed(3)} s of video for episode ${ep.episodeIndex}`, actual: `${probe.duration.toFixed(3)} s (truncated?)` });
      }
    }
  }

  const total = selected.reduce((a, e) => a + e.length, 0);
  const floatKeys = Object.keys(features).filter((k) => isFloatFeature(features[k]!));
  const imageKeys = Object.keys(features).filter((k) => isImageFeature(features[k]!));
  const floats = new Map<string, FloatColumn>(floatKeys.map((k) => [k, { dim: prod(features[k]!.shape), shape: features[k]!.shape, data: new Float32Array(total * prod(features[k]!.shape)) }]));
  if (!floats.has("timestamp")) floats.set("timestamp", { dim: 1, shape: [1], data: new Float32Array(total) });
  const ints = new Map<string, Int32Array>(SCALAR_INDEX_COLUMNS.map((k) => [k, new Int32Array(total)]));
  const images = new Map(imageKeys.map((k) => [k, { file: [] as string[], bytes: [] as Uint8Array[], shape: features[k]!.shape }]));
  const posEpisode = new Int32Array(total);

  const byFile = new Map<string, number[]>();
  selected.forEach((ep, ordinal) => byFile.set(ep.dataFile, [...(byFile.get(ep.dataFile) ?? []), ordinal]));
  const offsets: number[] = [];
  selected.reduce((acc, e, i) => ((offsets[i] = acc), acc + e.length), 0);

  for (const [file, ordinals] of byFile) {
    if (!existsSync(file)) {
      throw new DatasetError("MissingFile", { file, field: "data_path", expected: `the data file of episode(s) ${ordinals.map((o) => selected[o]!.episodeIndex).join(", ")} (from info.json data_path)` });
    }
    const table = readParquetTable(file, "data");
    checkSchema(table, file, { ...features, timestamp: { dtype: "float32", shape: [1] } });
    const col = (k: string) => table.getChild(k)!;
    const indexCol = intColumn(col("index"), file, "index");
    const epCol = intColumn(col("episode_index"), file, "episode_index");
    const srcFloats = new Map([...floats.entries()].map(([k, f]) => [k, floatColumn(col(k), f.dim, file, k)]));
    const srcInts = new Map<string, Int32Array>(SCALAR_INDEX_COLUMNS.map((k) => [k, k === "index" ? indexCol : k === "episode_index" ? epCol : intColumn(col(k), file, k)]));
    const srcImages = new Map(imageKeys.map((k) => [k, imageColumn(col(k), file, k)]));
    const taskIdx = srcInts.get("task_index")!;
    for (let r = 0; r < taskIdx.length; r++) {
      if (taskIdx[r]! < 0 || taskIdx[r]! >= meta.tasks.length) {
        throw new DatasetError("SchemaMismatch", { file, field: "task_index", expected: `a task index in 0..${meta.tasks.length - 1} (meta/tasks)`, actual: `${taskIdx[r]} at row ${r}` });
      }
    }
    for (const o of ordinals) {
      const ep = selected[o]!;
      const rows = episodeRows(indexCol, epCol, ep, file);
      const base = offsets[o]!;
      posEpisode.fill(o, base, base + ep.length);
      for (const [k, f] of floats) {
        const src = srcFloats.get(k)!;
        for (let i = 0; i < rows.length; i++) f.data.set(src.subarray(rows[i]! * f.dim, (rows[i]! + 1) * f.dim), (base + i) * f.dim);
      }
      for (const [k, dst] of ints) {
        const src = srcInts.get(k)!;
        for (let i = 0; i < rows.length; i++) dst[base + i] = src[rows[i]!]!;
      }
      for (const [k, dst] of images) {
        const src = srcImages.get(k)!;
        for (let i = 0; i < rows.length; i++) {
          dst.bytes[base + i] = src[rows[i]!]!;
          dst.file[base + i] = file;
        }
      }
    }
  }
  return new LoadedDataset(meta, selected, features, floats, ints, images, videoKeys, posEpisode, deltaTimestamps, options);
};
