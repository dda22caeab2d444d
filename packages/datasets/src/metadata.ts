import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import type { Table } from "apache-arrow";
import type { DatasetStats, FeatureStats } from "./batch.js";
import { DatasetError } from "./errors.js";
import { readInfo, formatTemplate, isVideoFeature, type CodebaseVersion, type DatasetInfo } from "./info.js";
import { readParquetTable, intColumn, stringListColumn } from "./parquet.js";

/** Where one episode's video lives: file and the episode's offset inside it (v3.0 shares files). */
export interface VideoLocation {
  readonly file: string;
  readonly fromTimestamp: number;
  readonly toTimestamp: number | undefined;
}

/** One episode as the metadata describes it. `from`/`to` are global frame indices, `to` exclusive. */
export interface EpisodeInfo {
  readonly episodeIndex: number;
  readonly length: number;
  readonly from: number;
  readonly to: number;
  readonly tasks: readonly string[];
  /** Data file holding the episode's rows (absolute path). */
  readonly dataFile: string;
  /** Video file per video feature key. */
  readonly videos: Readonly<Record<string, VideoLocation>>;
}

/** Everything known about a dataset without reading its frames. */
export interface DatasetMeta {
  readonly root: string;
  readonly version: CodebaseVersion;
  readonly info: DatasetInfo;
  readonly fps: number;
  readonly tasks: readonly string[];
  readonly episodes: readonly EpisodeInfo[];
  readonly stats: DatasetStats;
  /** Metadata files read (for reports). */
  readonly metaFiles: readonly string[];
}

const readJson = (file: string, field: string): unknown => {
  if (!existsSync(file)) throw new DatasetError("MissingFile", { file, field, expected: "an existing JSON file" });
  try {
    return JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    throw new DatasetError("InvalidJson", { file, field, expected: "valid JSON", actual: (e as Error).message });
  }
};

const readJsonl = (file: string, field: string): Record<string, unknown>[] => {
  if (!existsSync(file)) throw new DatasetError("MissingFile", { file, field, expected: "an existing JSON-lines file" });
  const out: Record<string, unknown>[] = [];
  readFileSync(file, "utf8")
    .split("\n")
    .forEach((line, i) => {
      if (line.trim() === "") return;
      try {
        out.push(JSON.parse(line) as Record<string, unknown>);
      } catch (e) {
        throw new DatasetError("InvalidJson", { file, field: `line ${i + 1}`, expected: "one JSON object per line", actual: (e as Error).message });
      }
    });
  return out;
};

const flatNumbers = (x: unknown): number[] => (Array.isArray(x) ? x.flatMap(flatNumbers) : typeof x === "number" ? [x] : []);

/** Normalise one feature's stats object (nested image arrays [[[v]]] become flat per-channel arrays). */
export const parseFeatureStats = (raw: unknown): FeatureStats => {
  const out: Record<string, number[]> = {};
  if (raw !== null && typeof raw === "object") {
    for (const [k, v] of Object.entries(raw as Record<string, unknown>)) out[k] = flatNumbers(v);
  }
  return out as FeatureStats;
};

const need = <T>(value: T | undefined | null, file: string, field: string, expected: string): T => {
  if (value === undefined || value === null) throw new DatasetError("SchemaMismatch", { file, field, expected, actual: "missing" });
  return value;
};

const column = (table: Table, name: string, file: string, expected: string) =>
  need(table.getChild(name), file, name, expected);

/** Task strings in task_index order from a v3.0 `meta/tasks.parquet` (task is the pandas index). */
const readTasksParquet = (file: string): string[] => {
  const table = readParquetTable(file, "tasks");
  const indices = intColumn(column(table, "task_index", file, "an int64 task_index column"), file, "task_index");
  let taskColumn = "task";
  const pandas = table.schema.metadata.get("pandas");
  if (pandas !== undefined) {
    try {
      const cols = (JSON.parse(pandas) as { index_columns?: unknown[] }).index_columns;
      const first = cols?.find((c) => typeof c === "string");
      if (typeof first === "string" && table.getChild("task") === null) taskColumn = first;
    } catch {
      /* fall through to the defaults below */
    }
  }
  if (table.getChild(taskColumn) === null) taskColumn = "__index_level_0__";
  const strings = stringListColumn(column(table, taskColumn, file, "a string column holding the task (\"task\" or the pandas index)"));
  const tasks: string[] = [];
  indices.forEach((ti, row) => {
    tasks[ti] = strings[row]?.[0] ?? "";
  });
  for (let i = 0; i < tasks.length; i++) {
    if (tasks[i] === undefined) throw new DatasetError("SchemaMismatch", { file, field: "task_index", expected: `contiguous task indices 0..${tasks.length - 1}`, actual: `no task ${i}` });
  }
  return tasks;
};

const listParquetFiles = (dir: string): string[] => {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listParquetFiles(p));
    else if (entry.name.endsWith(".parquet")) out.push(p);
  }
  return out;
};

const readV3 = (root: string, info: DatasetInfo): Omit<DatasetMeta, "root" | "version" | "info" | "fps"> => {
  const tasksFile = join(root, "meta/tasks.parquet");
  const tasks = readTasksParquet(tasksFile);
  const episodesDir = join(root, "meta/episodes");
  const episodeFiles = listParquetFiles(episodesDir);
  if (episodeFiles.length === 0) {
    throw new DatasetError("MissingFile", { file: join(episodesDir, "chunk-000/file-000.parquet"), field: "meta/episodes", expected: "at least one episodes Parquet file" });
  }
  const videoKeys = Object.entries(info.features).filter(([, s]) => isVideoFeature(s)).map(([k]) => k);
  const episodes: EpisodeInfo[] = [];
  for (const file of episodeFiles) {
    const table = readParquetTable(file, "meta/episodes");
    const int = (name: string) => intColumn(column(table, name, file, "an int64 column"), file, name);
    const epIdx = int("episode_index");
    const length = int("length");
    const from = int("dataset_from_index");
    const to = int("dataset_to_index");
    const dChunk = int("data/chunk_index");
    const dFile = int("data/file_index");
    const taskLists = table.getChild("tasks") === null ? undefined : stringListColumn(table.getChild("tasks")!);
    const videoCols = videoKeys.map((key) => {
      const p = `videos/${key}/`;
      const num = (name: string) => {
        const v = column(table, p + name, file, "a numeric column for the video feature");
        return Array.from({ length: v.length }, (_, i) => Number(v.get(i)));
      };
      return { key, chunk: num("chunk_index"), fileIdx: num("file_index"), fromTs: num("from_timestamp"), toTs: num("to_timestamp") };
    });
    for (let r = 0; r < table.numRows; r++) {
      const videos: Record<string, VideoLocation> = {};
      for (const vc of videoCols) {
        videos[vc.key] = {
          file: join(root, formatTemplate(info.video_path ?? "", { video_key: vc.key, chunk_index: vc.chunk[r]!, file_index: vc.fileIdx[r]! })),
          fromTimestamp: vc.fromTs[r]!,
          toTimestamp: vc.toTs[r]!,
        };
      }
      episodes.push({
        episodeIndex: epIdx[r]!,
        length: length[r]!,
        from: from[r]!,
        to: to[r]!,
        tasks: taskLists?.[r] ?? [],
        dataFile: join(root, formatTemplate(info.data_path, { chunk_index: dChunk[r]!, file_index: dFile[r]! })),
        videos,
      });
    }
  }
  episodes.sort((a, b) => a.episodeIndex - b.episodeIndex);
  const statsFile = join(root, "meta/stats.json");
  const stats: Record<string, FeatureStats> = {};
  if (existsSync(statsFile)) {
    const raw = readJson(statsFile, "stats") as Record<string, unknown>;
    for (const [k, v] of Object.entries(raw)) stats[k] = parseFeatureStats(v);
  }
  return { tasks, episodes, stats, metaFiles: [join(root, "meta/info.json"), tasksFile, ...episodeFiles, statsFile] };
};

/**
 * Combine per-episode stats the way LeRobot's aggregate_stats does: count-weighted mean, pooled
 * variance for std, elementwise min/max, count-weighted mean of quantiles.
 */
export const aggregateStats = (perEpisode: readonly Readonly<Record<string, FeatureStats>>[]): DatasetStats => {
  const keys = new Set(perEpisode.flatMap((s) => Object.keys(s)));
  const out: Record<string, FeatureStats> = {};
  for (const key of keys) {
    const parts = perEpisode.map((s) => s[key]).filter((s): s is FeatureStats => s !== undefined && s.mean !== undefined);
    if (parts.length === 0) continue;
    const dim = parts[0]!.mean!.length;
    const counts = parts.map((p) => p.count?.[0] ?? 1);
    const total = counts.reduce((a, b) => a + b, 0);
    const weighted = (name: keyof FeatureStats): number[] | undefined => {
      if (!parts.every((p) => p[name] !== undefined)) return undefined;
      return Array.from({ length: dim }, (_, j) => parts.reduce((acc, p, i) => acc + p[name]![j]! * counts[i]!, 0) / total);
    };
    const mean = weighted("mean")!;
    const stat: Record<string, number[]> = { mean };
    if (parts.every((p) => p.std !== undefined)) {
      stat.std = Array.from({ length: dim }, (_, j) => {
        const v = parts.reduce((acc, p, i) => acc + counts[i]! * (p.std![j]! ** 2 + (p.mean![j]! - mean[j]!) ** 2), 0) / total;
        return Math.sqrt(v);
      });
    }
    if (parts.every((p) => p.min !== undefined)) stat.min = Array.from({ length: dim }, (_, j) => Math.min(...parts.map((p) => p.min![j]!)));
    if (parts.every((p) => p.max !== undefined)) stat.max = Array.from({ length: dim }, (_, j) => Math.max(...parts.map((p) => p.max![j]!)));
    for (const q of ["q01", "q10", "q50", "q90", "q99"] as const) {
      const w = weighted(q);
      if (w !== undefined) stat[q] = w;
    }
    stat.count = [total];
    out[key] = stat as FeatureStats;
  }
  return out;
};

const readV21 = (root: string, info: DatasetInfo): Omit<DatasetMeta, "root" | "version" | "info" | "fps"> => {
  const tasksFile = join(root, "meta/tasks.jsonl");
  const tasks: string[] = [];
  for (const row of readJsonl(tasksFile, "tasks")) {
    const ti = row.task_index;
    const task = row.task;
    if (typeof ti !== "number" || typeof task !== "string") {
      throw new DatasetError("SchemaMismatch", { file: tasksFile, field: "task_index/task", expected: "{task_index: int, task: string} per line", actual: JSON.stringify(row) });
    }
    tasks[ti] = task;
  }
  const episodesFile = join(root, "meta/episodes.jsonl");
  const chunksSize = info.chunks_size ?? 1000;
  const videoKeys = Object.entries(info.features).filter(([, s]) => isVideoFeature(s)).map(([k]) => k);
  const rows = readJsonl(episodesFile, "episodes").sort((a, b) => Number(a.episode_index) - Number(b.episode_index));
  let cursor = 0;
  const episodes: EpisodeInfo[] = rows.map((row) => {
    const episodeIndex = row.episode_index;
    const length = row.length;
    if (typeof episodeIndex !== "number" || typeof length !== "number") {
      throw new DatasetError("SchemaMismatch", { file: episodesFile, field: "episode_index/length", expected: "integers on every line", actual: JSON.stringify(row) });
    }
    const chunk = Math.floor(episodeIndex / chunksSize);
    const videos: Record<string, VideoLocation> = {};
    for (const key of videoKeys) {
      videos[key] = {
        file: join(root, formatTemplate(info.video_path ?? "", { episode_chunk: chunk, video_key: key, episode_index: episodeIndex })),
        fromTimestamp: 0,
        toTimestamp: undefined,
      };
    }
    const ep: EpisodeInfo = {
      episodeIndex,
      length,
      from: cursor,
      to: cursor + length,
      tasks: Array.isArray(row.tasks) ? row.tasks.map(String) : [],
      dataFile: join(root, formatTemplate(info.data_path, { episode_chunk: chunk, episode_index: episodeIndex })),
      videos,
    };
    cursor += length;
    return ep;
  });
  const statsFile = join(root, "meta/episodes_stats.jsonl");
  const metaFiles = [join(root, "meta/info.json"), tasksFile, episodesFile];
  let stats: DatasetStats = {};
  if (existsSync(statsFile)) {
    metaFiles.push(statsFile);
    const perEpisode = readJsonl(statsFile, "episodes_stats").map((row) => {
      const s: Record<string, FeatureStats> = {};
      for (const [k, v] of Object.entries((row.stats ?? {}) as Record<string, unknown>)) s[k] = parseFeatureStats(v);
      return s;
    });
    stats = aggregateStats(perEpisode);
  } else if (existsSync(join(root, "meta/stats.json"))) {
    const raw = readJson(join(root, "meta/stats.json"), "stats") as Record<string, unknown>;
    stats = Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, parseFeatureStats(v)]));
  }
  return { tasks, episodes, stats, metaFiles };
};

/** Read `meta/` of a v2.1 or v3.0 dataset: info, tasks, episodes (with file locations), stats. */
export const readDatasetMeta = (root: string): DatasetMeta => {
  const { info, version } = readInfo(root);
  const rest = version === "v3.0" ? readV3(root, info) : readV21(root, info);
  return { root, version, info, fps: info.fps, ...rest };
};
