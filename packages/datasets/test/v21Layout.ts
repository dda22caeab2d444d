import { join } from "node:path";
import { mkdirSync, writeFileSync } from "node:fs";
import { writeParquetTable } from "../src/parquet.js";
import { buildTable, float32Column, int64Column, numberListColumn } from "../src/arrowBuild.js";

/**
 * A LeRobot v2.1 directory: info.json with episode_chunk templates, episodes.jsonl, tasks.jsonl,
 * episodes_stats.jsonl and one Parquet file per episode (float lists as List<float32>).
 */
export const buildV21 = (root: string, lengths: number[], opts: { chunksSize?: number } = {}) => {
  const chunksSize = opts.chunksSize ?? 1000;
  mkdirSync(join(root, "meta"), { recursive: true });
  const info = {
    codebase_version: "v2.1",
    robot_type: "koch",
    total_episodes: lengths.length,
    total_frames: lengths.reduce((a, b) => a + b, 0),
    total_tasks: 2,
    total_videos: 0,
    total_chunks: Math.ceil(lengths.length / chunksSize),
    chunks_size: chunksSize,
    fps: 20,
    splits: { train: `0:${lengths.length}` },
    data_path: "data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet",
    video_path: "videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4",
    features: {
      action: { dtype: "float32", shape: [2], names: ["x", "y"] },
      "observation.state": { dtype: "float32", shape: [2], names: ["x", "y"] },
      timestamp: { dtype: "float32", shape: [1], names: null },
      frame_index: { dtype: "int64", shape: [1], names: null },
      episode_index: { dtype: "int64", shape: [1], names: null },
      index: { dtype: "int64", shape: [1], names: null },
      task_index: { dtype: "int64", shape: [1], names: null },
    },
  };
  writeFileSync(join(root, "meta/info.json"), JSON.stringify(info, null, 2));
  writeFileSync(join(root, "meta/tasks.jsonl"), ['{"task_index": 0, "task": "fold the towel"}', '{"task_index": 1, "task": "stack cups"}'].join("\n") + "\n");
  let g = 0;
  const episodesLines: string[] = [];
  const statsLines: string[] = [];
  lengths.forEach((len, e) => {
    const ti = e % 2;
    const action = Array.from({ length: len }, (_, f) => [e * 100 + f, -f]);
    const stateRows = action.map(([a, b]) => [a! / 2, b! / 2]);
    const table = buildTable([
      numberListColumn("action", action, "float32"),
      numberListColumn("observation.state", stateRows, "float32"),
      float32Column("timestamp", Float32Array.from({ length: len }, (_, f) => f / 20)),
      int64Column("frame_index", Array.from({ length: len }, (_, f) => f)),
      int64Column("episode_index", Array.from({ length: len }, () => e)),
      int64Column("index", Array.from({ length: len }, (_, f) => g + f)),
      int64Column("task_index", Array.from({ length: len }, () => ti)),
    ]);
    const chunk = String(Math.floor(e / chunksSize)).padStart(3, "0");
    writeParquetTable(join(root, `data/chunk-${chunk}/episode_${String(e).padStart(6, "0")}.parquet`), table);
    episodesLines.push(JSON.stringify({ episode_index: e, tasks: [ti === 0 ? "fold the towel" : "stack cups"], length: len }));
    const col0 = action.map((a) => a[0]!);
    const mean0 = col0.reduce((a, b) => a + b, 0) / len;
    const std0 = Math.sqrt(col0.reduce((a, b) => a + (b - mean0) ** 2, 0) / len);
    statsLines.push(JSON.stringify({ episode_index: e, stats: { action: { min: [Math.min(...col0), -(len - 1)], max: [Math.max(...col0), 0], mean: [mean0, -(len - 1) / 2], std: [std0, 1], count: [len] } } }));
    g += len;
  });
  writeFileSync(join(root, "meta/episodes.jsonl"), episodesLines.join("\n") + "\n");
  writeFileSync(join(root, "meta/episodes_stats.jsonl"), statsLines.join("\n") + "\n");
};

