import { existsSync, readFileSync, writeFileSync, mkdirSync, readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import * as t from "io-ts";
import { isLeft } from "fp-ts/lib/Either.js";
import { Type } from "apache-arrow";
import type { ArrayTensor, Batch, DatasetStats } from "./batch.js";
import { DatasetError } from "./errors.js";
import type { CodebaseVersion, FeatureSpec } from "./info.js";
import { openDataset, type DatasetEpisode, type LeRobotDataset, type OpenDatasetOptions } from "./dataset.js";
import { readParquetTable, writeParquetTable, floatColumn, intColumn, stringListColumn as readStrings } from "./parquet.js";
import { buildTable, fixedFloat32ListColumn, int64Column, stringColumn, type BuiltColumn } from "./arrowBuild.js";
import { Binary, makeData } from "apache-arrow";
import { shuffleGenerator, shuffleInPlace } from "./random.js";

/**
 * Anchor cache layout (a directory):
 * - `anchor_manifest.json`: format tag, source dataset (absolute root, version, fps), seed,
 *   numSamples, the selected frame positions, the open options used (exclude, episodes,
 *   deltaTimestamps, imageSize), per-column dtype/shape, tasks and the source's stats. Enough to
 *   rebuild the cache identically with buildAnchorCache(source, out, {numSamples, seed, ...}).
 * - `anchors.parquet`: one row per selected frame, columns named by feature key, already gathered
 *   (action chunks, `_is_pad` masks, decoded images as raw RGB bytes): float32 → FixedSizeList<float32>,
 *   uint8 → binary, int32 → int64, plus `task` (string).
 * - `teacher.parquet` (optional, for retention_loss=distill): column `teacher.action_top_log_probs`,
 *   FixedSizeList<float32> of the reference policy's outputs per row (pi0-FAST: its top-k token ids
 *   and log-probs at the action positions, [max_action_tokens − 1, k, 2]); the manifest's `teacher`
 *   records the shape and the `signature` the student must share (vocab_size, max_action_tokens,
 *   tokenizer hash). Written by addTeacherDistributions, checked by checkTeacherSignature.
 */
export const ANCHOR_MANIFEST = "anchor_manifest.json";
export const ANCHOR_DATA = "anchors.parquet";
export const ANCHOR_TEACHER = "teacher.parquet";
/** The batch feature key of the teacher outputs; @craft/policy-pi0fast reads the same key (TEACHER_LOG_PROBS_KEY). */
export const TEACHER_COLUMN = "teacher.action_top_log_probs";

const ColumnCodec = t.type({ dtype: t.union([t.literal("float32"), t.literal("uint8"), t.literal("int32")]), shape: t.array(t.number) });
const ManifestCodec = t.type({
  format: t.literal("craft.anchor-cache"),
  formatVersion: t.literal(1),
  source: t.type({ root: t.string, version: t.union([t.literal("v2.1"), t.literal("v3.0")]), fps: t.number }),
  seed: t.number,
  numSamples: t.number,
  selection: t.intersection([
    t.type({ method: t.literal("stratified-by-episode"), positions: t.array(t.number), episodeIndices: t.array(t.number), frameIndices: t.array(t.number) }),
    t.partial({ startFrames: t.number }),
  ]),
  options: t.type({
    exclude: t.array(t.string),
    episodes: t.union([t.array(t.number), t.null]),
    deltaTimestamps: t.record(t.string, t.array(t.number)),
    imageSize: t.union([t.number, t.array(t.number), t.null]),
  }),
  columns: t.record(t.string, ColumnCodec),
  features: t.record(t.string, t.unknown),
  tasks: t.array(t.string),
  stats: t.record(t.string, t.unknown),
  teacher: t.union([t.null, t.type({ file: t.string, column: t.string, shape: t.array(t.number), signature: t.record(t.string, t.union([t.string, t.number])) })]),
});
export type TeacherSignatureRecord = Readonly<Record<string, string | number>>;
export type AnchorManifest = t.TypeOf<typeof ManifestCodec>;

export interface BuildAnchorCacheOptions {
  readonly numSamples: number;
  readonly seed: number;
  /** Open options for the source (leave out missing cameras, pick episodes, gather action chunks…). */
  readonly exclude?: readonly string[];
  readonly episodes?: readonly number[];
  readonly deltaTimestamps?: Readonly<Record<string, readonly number[]>>;
  readonly imageSize?: number | readonly [number, number];
  /** Each episode's first frames always selected (see stratifiedSelection); 0 when absent. */
  readonly startFrames?: number;
}

/**
 * Frame positions stratified over episodes: each episode's first `startFrames` frames, then the rest
 * of `numSamples` shared out in proportion to what is left of each episode (largest remainder),
 * frames inside an episode drawn without replacement from the seeded PRNG. Sorted, deterministic
 * from (lengths, numSamples, seed, startFrames). `startFrames` weights the anchors toward the frames
 * where a policy commits to a motion (its first chunk, decided by the instruction alone).
 */
export const stratifiedSelection = (episodes: readonly { from: number; length: number }[], numSamples: number, seed: number, startFrames = 0): number[] => {
  const starts = episodes.map((e) => Math.min(startFrames, e.length));
  const rest = episodes.map((e, i) => e.length - starts[i]!);
  const budget = numSamples - starts.reduce((a, b) => a + b, 0);
  const total = rest.reduce((a, b) => a + b, 0);
  const exact = rest.map((n) => (total === 0 ? 0 : (budget * n) / total));
  const counts = exact.map(Math.floor);
  let left = budget - counts.reduce((a, b) => a + b, 0);
  const order = exact.map((x, i) => [x - Math.floor(x), i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  for (const [, i] of order) {
    if (left === 0) break;
    if (counts[i]! < rest[i]!) {
      counts[i]!++;
      left--;
    }
  }
  const generator = shuffleGenerator(seed);
  const out: number[] = [];
  episodes.forEach((e, i) => {
    const s = starts[i]!;
    for (let k = 0; k < s; k++) out.push(e.from + k);
    const frames = shuffleInPlace(Int32Array.from({ length: rest[i]! }, (_, k) => e.from + s + k), generator);
    out.push(...Array.from(frames.subarray(0, counts[i]!)));
  });
  return out.sort((a, b) => a - b);
};

const uint8Binary = (name: string, rows: readonly Uint8Array[]): BuiltColumn => {
  const offsets = new Int32Array(rows.length + 1);
  rows.forEach((r, i) => (offsets[i + 1] = offsets[i]! + r.length));
  const bytes = new Uint8Array(offsets[rows.length]!);
  rows.forEach((r, i) => bytes.set(r, offsets[i]!));
  return { name, data: makeData({ type: new Binary(), length: rows.length, nullCount: 0, valueOffsets: offsets, data: bytes } as never) };
};

const chunksOf = <T>(xs: readonly T[], n: number): T[][] => Array.from({ length: Math.ceil(xs.length / n) }, (_, i) => xs.slice(i * n, (i + 1) * n));

const sequential = async <A, B>(xs: readonly A[], f: (a: A) => Promise<B>): Promise<B[]> => {
  const out: B[] = [];
  for (const x of xs) out.push(await f(x));
  return out;
};

/** Concatenate batches along the batch axis (same features and per-row shapes). */
const concatBatches = (batches: readonly Batch[]): Batch => {
  if (batches.length === 1) return batches[0]!;
  const size = batches.reduce((a, b) => a + b.size, 0);
  const features: Record<string, ArrayTensor> = {};
  for (const [key, first] of Object.entries(batches[0]!.features)) {
    const Ctor = first.data.constructor as new (n: number) => Float32Array | Uint8Array | Int32Array;
    const data = new Ctor(batches.reduce((a, b) => a + b.features[key]!.data.length, 0));
    let off = 0;
    for (const b of batches) {
      data.set(b.features[key]!.data as never, off);
      off += b.features[key]!.data.length;
    }
    features[key] = { data, shape: [size, ...first.shape.slice(1)] };
  }
  return { size, features, task: batches.flatMap((b) => b.task) };
};

const dtypeOf = (a: ArrayTensor): "float32" | "uint8" | "int32" => (a.data instanceof Float32Array ? "float32" : a.data instanceof Uint8Array ? "uint8" : "int32");

/** `craft dataset build-anchor-cache`: select frames from a dataset and store them ready to load. */
export const buildAnchorCache = async (datasetRoot: string, output: string, options: BuildAnchorCacheOptions): Promise<AnchorManifest> => {
  const openOptions: OpenDatasetOptions = { exclude: options.exclude, episodes: options.episodes, deltaTimestamps: options.deltaTimestamps, imageSize: options.imageSize };
  const ds = await openDataset(datasetRoot, openOptions);
  try {
    if (!Number.isInteger(options.numSamples) || options.numSamples < 1 || options.numSamples > ds.numFrames) {
      throw new DatasetError("InvalidOption", { file: datasetRoot, field: "num_samples", expected: `an integer in 1..${ds.numFrames} (frames in the dataset)`, actual: String(options.numSamples) });
    }
    if (existsSync(output) && readdirSync(output).some((f) => f !== ANCHOR_MANIFEST && f !== ANCHOR_DATA && f !== ANCHOR_TEACHER)) {
      throw new DatasetError("InvalidOption", { file: output, field: "output", expected: "an empty directory or an existing anchor cache" });
    }
    const startFrames = options.startFrames ?? 0;
    const firstFrames = ds.episodes.reduce((a, e) => a + Math.min(startFrames, e.length), 0);
    if (!Number.isInteger(startFrames) || startFrames < 0 || firstFrames > options.numSamples) {
      throw new DatasetError("InvalidOption", {
        file: datasetRoot,
        field: "start_frames",
        expected: `an integer ≥ 0 whose frames (${firstFrames} over ${ds.episodes.length} episodes) fit in num_samples=${options.numSamples}`,
        actual: String(startFrames),
      });
    }
    const positions = stratifiedSelection(ds.episodes, options.numSamples, options.seed, startFrames);
    const batch = concatBatches(await sequential(chunksOf(positions, 256), (p) => ds.getFrames(p)));
    const columns: BuiltColumn[] = [];
    const columnSpecs: Record<string, t.TypeOf<typeof ColumnCodec>> = {};
    for (const [key, tensor] of Object.entries(batch.features)) {
      const rowShape = tensor.shape.slice(1);
      const width = rowShape.reduce((a, b) => a * b, 1);
      const dtype = dtypeOf(tensor);
      columnSpecs[key] = { dtype, shape: rowShape };
      if (dtype === "float32") columns.push(fixedFloat32ListColumn(key, tensor.data as Float32Array, width));
      else if (dtype === "int32") columns.push(int64Column(key, tensor.data as Int32Array));
      else columns.push(uint8Binary(key, Array.from({ length: batch.size }, (_, i) => (tensor.data as Uint8Array).subarray(i * width, (i + 1) * width))));
    }
    columns.push(stringColumn("task", batch.task));
    mkdirSync(output, { recursive: true });
    writeParquetTable(join(output, ANCHOR_DATA), buildTable(columns));
    const ep = batch.features.episode_index!.data;
    const fr = batch.features.frame_index!.data;
    const manifest: AnchorManifest = {
      format: "craft.anchor-cache",
      formatVersion: 1,
      source: { root: resolve(datasetRoot), version: ds.version, fps: ds.fps },
      seed: options.seed,
      numSamples: options.numSamples,
      selection: { method: "stratified-by-episode", positions, episodeIndices: Array.from(ep), frameIndices: Array.from(fr), ...(startFrames > 0 ? { startFrames } : {}) },
      options: {
        exclude: [...(options.exclude ?? [])],
        episodes: options.episodes === undefined ? null : [...options.episodes],
        deltaTimestamps: Object.fromEntries(Object.entries(ds.deltaTimestamps).map(([k, v]) => [k, [...v]])),
        imageSize: options.imageSize === undefined ? null : typeof options.imageSize === "number" ? options.imageSize : [...options.imageSize],
      },
      columns: columnSpecs,
      features: ds.features,
      tasks: [...ds.tasks],
      stats: ds.stats as Record<string, unknown>,
      teacher: null,
    };
    writeFileSync(join(output, ANCHOR_MANIFEST), JSON.stringify(manifest, null, 2));
    return manifest;
  } finally {
    await ds.close();
  }
};

export const isAnchorCache = (path: string): boolean => existsSync(join(path, ANCHOR_MANIFEST));

export const readAnchorManifest = (dir: string): AnchorManifest => {
  const file = join(dir, ANCHOR_MANIFEST);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    throw new DatasetError("InvalidJson", { file, field: "(root)", expected: "a JSON anchor manifest", actual: (e as Error).message });
  }
  const d = ManifestCodec.decode(raw);
  if (isLeft(d)) {
    const ctx = d.left[0]?.context.map((c) => c.key).filter(Boolean).join(".") ?? "?";
    throw new DatasetError("InvalidInfo", { file, field: ctx, expected: d.left[0]?.context.at(-1)?.type.name ?? "a valid manifest" });
  }
  return d.right;
};

/**
 * Store the reference policy's outputs for each anchor row (retention_loss=distill): `data` holds
 * numSamples × prod(shape) floats, row-major in the cache's row order; `signature` is what a
 * student must match to use them (see checkTeacherSignature).
 */
export const addTeacherDistributions = async (
  cacheDir: string,
  teacher: { shape: readonly number[]; data: Float32Array; signature: TeacherSignatureRecord },
): Promise<void> => {
  const manifest = readAnchorManifest(cacheDir);
  const width = teacher.shape.reduce((a, b) => a * b, 1);
  if (teacher.data.length !== manifest.numSamples * width) {
    throw new DatasetError("InvalidOption", { file: join(cacheDir, ANCHOR_TEACHER), field: TEACHER_COLUMN, expected: `${manifest.numSamples} × ${width} floats`, actual: String(teacher.data.length) });
  }
  writeParquetTable(join(cacheDir, ANCHOR_TEACHER), buildTable([fixedFloat32ListColumn(TEACHER_COLUMN, teacher.data, width)]));
  const next: AnchorManifest = { ...manifest, teacher: { file: ANCHOR_TEACHER, column: TEACHER_COLUMN, shape: [...teacher.shape], signature: { ...teacher.signature } } };
  writeFileSync(join(cacheDir, ANCHOR_MANIFEST), JSON.stringify(next, null, 2));
};

/**
 * retention_loss=distill: the anchor set must be a cache with teacher outputs whose signature
 * equals the student's, key by key; otherwise one DatasetError naming the manifest, the field
 * (`teacher.signature.<key>`) and the value the student expects.
 */
export const checkTeacherSignature = (anchors: LeRobotDataset | AnchorCache, student: TeacherSignatureRecord): void => {
  const file = join(anchors.root, ANCHOR_MANIFEST);
  const teacher = "manifest" in anchors ? anchors.manifest.teacher : null;
  if (teacher === null) {
    throw new DatasetError("SchemaMismatch", {
      file: "manifest" in anchors ? file : anchors.root,
      field: "teacher",
      expected: "an anchor cache with the teacher's outputs for retention_loss=distill",
      actual: "manifest" in anchors ? "none" : "a LeRobot dataset",
      hint: "build one with craft dataset build-anchor-cache --policy.path=BASE",
    });
  }
  for (const [key, value] of Object.entries(student)) {
    if (teacher.signature[key] !== value) {
      throw new DatasetError("SchemaMismatch", {
        file,
        field: `teacher.signature.${key}`,
        expected: `${JSON.stringify(value)} (the student's)`,
        actual: JSON.stringify(teacher.signature[key] ?? null),
        hint: "rebuild the cache with --policy.path set to the policy being fine-tuned",
      });
    }
  }
};

/** An opened anchor cache: a LeRobotDataset over the cached rows, plus its manifest. */
export interface AnchorCache extends LeRobotDataset {
  readonly manifest: AnchorManifest;
}

const sameDeltas = (a: Readonly<Record<string, readonly number[]>>, b: Readonly<Record<string, readonly number[]>>) =>
  JSON.stringify(Object.entries(a).sort()) === JSON.stringify(Object.entries(b).sort());

const openCache = (dir: string, options: OpenDatasetOptions): AnchorCache => {
  const manifest = readAnchorManifest(dir);
  const file = join(dir, ANCHOR_DATA);
  if (options.deltaTimestamps !== undefined && !sameDeltas(options.deltaTimestamps, manifest.options.deltaTimestamps)) {
    throw new DatasetError("InvalidOption", {
      file: join(dir, ANCHOR_MANIFEST),
      field: "deltaTimestamps",
      expected: `the delta timestamps the cache was built with (${JSON.stringify(Object.fromEntries(Object.entries(manifest.options.deltaTimestamps).map(([k, v]) => [k, v.length])))} steps)`,
      hint: "rebuild the cache with the policy's chunk size",
    });
  }
  const table = readParquetTable(file, "anchors");
  const n = table.numRows;
  const exclude = new Set(options.exclude ?? []);
  const cols = new Map<string, { spec: t.TypeOf<typeof ColumnCodec>; data: Float32Array | Int32Array | Uint8Array[] }>();
  for (const [key, spec] of Object.entries(manifest.columns)) {
    if (exclude.has(key) || exclude.has(key.replace(/_is_pad$/, ""))) continue;
    const v = table.getChild(key);
    if (v === null) throw new DatasetError("SchemaMismatch", { file, field: key, expected: `a column listed in ${ANCHOR_MANIFEST}`, actual: "missing" });
    const width = spec.shape.reduce((a, b) => a * b, 1);
    if (spec.dtype === "float32") cols.set(key, { spec, data: floatColumn(v, width, file, key) });
    else if (spec.dtype === "int32") cols.set(key, { spec, data: intColumn(v, file, key) });
    else {
      if (v.type.typeId !== Type.Binary) throw new DatasetError("SchemaMismatch", { file, field: key, expected: "binary (uint8 rows)", actual: String(v.type) });
      const rows = Array.from({ length: n }, (_, i) => v.get(i) as Uint8Array);
      rows.forEach((r, i) => {
        if (r.length !== width) throw new DatasetError("SchemaMismatch", { file, field: key, expected: `${width} bytes per row`, actual: `${r.length} at row ${i}` });
      });
      cols.set(key, { spec, data: rows });
    }
  }
  if (manifest.teacher !== null) {
    const tfile = join(dir, manifest.teacher.file);
    const tt = readParquetTable(tfile, "teacher");
    const width = manifest.teacher.shape.reduce((a, b) => a * b, 1);
    const v = tt.getChild(manifest.teacher.column);
    if (v === null || v.length !== n) throw new DatasetError("SchemaMismatch", { file: tfile, field: manifest.teacher.column, expected: `${n} rows of ${width} floats`, actual: v === null ? "missing" : `${v.length} rows` });
    cols.set(manifest.teacher.column, { spec: { dtype: "float32", shape: manifest.teacher.shape }, data: floatColumn(v, width, tfile, manifest.teacher.column) });
  }
  const tasks = readStrings(table.getChild("task") ?? (() => { throw new DatasetError("SchemaMismatch", { file, field: "task", expected: "a string column", actual: "missing" }); })()).map((x) => x[0] ?? "");
  const episodeOf = manifest.selection.episodeIndices;
  const episodes: DatasetEpisode[] = [];
  episodeOf.forEach((e, i) => {
    const last = episodes[episodes.length - 1];
    if (last !== undefined && last.episodeIndex === e) episodes[episodes.length - 1] = { ...last, length: last.length + 1, to: i + 1 };
    else episodes.push({ episodeIndex: e, length: 1, from: i, to: i + 1, tasks: [tasks[i]!] });
  });
  const features = Object.fromEntries(Object.entries(manifest.features).filter(([k]) => !exclude.has(k))) as Record<string, FeatureSpec>;
  return {
    manifest,
    root: dir,
    version: manifest.source.version as CodebaseVersion,
    fps: manifest.source.fps,
    numFrames: n,
    numEpisodes: episodes.length,
    features,
    stats: manifest.stats as DatasetStats,
    tasks: manifest.tasks,
    episodes,
    deltaTimestamps: manifest.options.deltaTimestamps,
    async getFrames(indices: readonly number[]): Promise<Batch> {
      for (const i of indices) {
        if (!Number.isInteger(i) || i < 0 || i >= n) throw new DatasetError("IndexOutOfRange", { file, field: "anchor row", expected: `an integer in 0..${n - 1}`, actual: String(i) });
      }
      const B = indices.length;
      const out: Record<string, ArrayTensor> = {};
      for (const [key, { spec, data }] of cols) {
        const width = spec.shape.reduce((a, b) => a * b, 1);
        const shape = [B, ...spec.shape];
        if (Array.isArray(data)) {
          const buf = new Uint8Array(B * width);
          indices.forEach((i, b) => buf.set(data[i]!, b * width));
          out[key] = { data: buf, shape };
        } else if (data instanceof Float32Array) {
          const buf = new Float32Array(B * width);
          indices.forEach((i, b) => buf.set(data.subarray(i * width, (i + 1) * width), b * width));
          out[key] = { data: buf, shape };
        } else {
          out[key] = { data: Int32Array.from(indices, (i) => (data as Int32Array)[i]!), shape };
        }
      }
      return { size: B, features: out, task: indices.map((i) => tasks[i]!) };
    },
    async close() {
      cols.clear();
    },
  };
};

/**
 * `craft.anchor_dataset_path`: an anchor cache directory (detected by its manifest) or a LeRobot
 * dataset directory (opened with openDataset and the same options).
 */
export const openAnchorSet = async (path: string, options: OpenDatasetOptions = {}): Promise<LeRobotDataset | AnchorCache> =>
  isAnchorCache(path) ? openCache(path, options) : openDataset(path, options);


