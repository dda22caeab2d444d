/** Real so101 action chunks for the FAST and processor tests (normalised with the dataset's q01/q99). */
import { existsSync, readFileSync } from "node:fs";
import { parquetReadObjects } from "hyparquet";

/** $CRAFT_SO101_DIR, else `../shared/datasets/` beside the repository, else the workplace's copy. */
const besideRepo = new URL("../../../../shared/datasets/so101-pick-orange-cube/", import.meta.url).pathname;
export const SO101_ROOT = process.env.CRAFT_SO101_DIR
  ? `${process.env.CRAFT_SO101_DIR.replace(/\/$/, "")}/`
  : ([besideRepo, "/work/shared/datasets/so101-pick-orange-cube/"].find((dir) => existsSync(dir)) ?? besideRepo);

export interface So101Actions {
  /** Per episode, row-major [frames, 6], raw (un-normalised). */
  readonly episodes: Float32Array[];
  readonly q01: number[];
  readonly q99: number[];
  readonly stats: Record<string, Record<string, number[]>>;
}

export async function loadSo101Actions(): Promise<So101Actions> {
  const buf = readFileSync(`${SO101_ROOT}data/chunk-000/file-000.parquet`);
  const file = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
  const rows = (await parquetReadObjects({ file, columns: ["action", "episode_index"] })) as { action: number[]; episode_index: bigint | number }[];
  const byEpisode = new Map<number, number[]>();
  for (const r of rows) {
    const e = Number(r.episode_index);
    const list = byEpisode.get(e) ?? [];
    list.push(...r.action);
    byEpisode.set(e, list);
  }
  const stats = JSON.parse(readFileSync(`${SO101_ROOT}meta/stats.json`, "utf8"));
  return {
    episodes: [...byEpisode.keys()].sort((a, b) => a - b).map((e) => Float32Array.from(byEpisode.get(e)!)),
    q01: stats.action.q01,
    q99: stats.action.q99,
    stats,
  };
}

/** Full chunks of `chunkSize` consecutive frames within an episode, every `stride` frames, normalised to [−1, 1]. */
export function normalisedChunks(data: So101Actions, chunkSize: number, stride: number): Float32Array[] {
  const D = data.q01.length;
  const chunks: Float32Array[] = [];
  for (const ep of data.episodes) {
    const frames = ep.length / D;
    for (let s = 0; s + chunkSize <= frames; s += stride) {
      const c = ep.slice(s * D, (s + chunkSize) * D);
      for (let i = 0; i < c.length; i++) c[i] = (2 * (c[i] - data.q01[i % D])) / (data.q99[i % D] - data.q01[i % D]) - 1;
      chunks.push(c);
    }
  }
  return chunks;
}
