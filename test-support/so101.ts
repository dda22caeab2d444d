/**
 * The shared real so101 dataset (../shared/datasets/so101-pick-orange-cube) as plain arrays, for the
 * policy package's tests and the tools that run a step on it (the WebGPU step bench): raw actions by
 * episode and normalised chunks (FAST and processor tests), frames as loader-shaped batches (state,
 * action chunk with is_pad, task; the dataset has no decoded video). No package is imported, so a
 * package's tests and a tool share this one reader. Directory: $SO101_ROOT (the GPU machine's
 * bundles), else $CRAFT_SO101_DIR, else `../shared/datasets/` beside the repository, else the
 * workplace's copy.
 */
import { existsSync, readFileSync } from "node:fs";
import { parquetReadObjects } from "hyparquet";

const besideRepo = new URL("../../shared/datasets/so101-pick-orange-cube/", import.meta.url).pathname;
const fromEnv = process.env.SO101_ROOT ?? process.env.CRAFT_SO101_DIR;
export const SO101_ROOT = fromEnv
  ? `${fromEnv.replace(/\/$/, "")}/`
  : ([besideRepo, "/work/shared/datasets/so101-pick-orange-cube/"].find((dir) => existsSync(dir)) ?? besideRepo);

async function readDataRows<T>(columns: string[]): Promise<T[]> {
  const buf = readFileSync(`${SO101_ROOT}data/chunk-000/file-000.parquet`);
  const file = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
  return (await parquetReadObjects({ file, columns })) as T[];
}

const readStats = (): Record<string, Record<string, number[]>> => JSON.parse(readFileSync(`${SO101_ROOT}meta/stats.json`, "utf8"));

export interface So101Actions {
  /** Per episode, row-major [frames, 6], raw (un-normalised). */
  readonly episodes: Float32Array[];
  readonly q01: number[];
  readonly q99: number[];
  readonly stats: Record<string, Record<string, number[]>>;
}

export async function loadSo101Actions(): Promise<So101Actions> {
  const rows = await readDataRows<{ action: number[]; episode_index: bigint | number }>(["action", "episode_index"]);
  const byEpisode = new Map<number, number[]>();
  for (const r of rows) {
    const e = Number(r.episode_index);
    const list = byEpisode.get(e) ?? [];
    list.push(...r.action);
    byEpisode.set(e, list);
  }
  const stats = readStats();
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

export interface So101Frames {
  readonly state: Float32Array[];
  readonly action: Float32Array[];
  readonly episode: number[];
  readonly stats: Record<string, Record<string, number[]>>;
  readonly task: string;
}

export async function loadSo101Frames(): Promise<So101Frames> {
  const rows = await readDataRows<{ "observation.state": number[]; action: number[]; episode_index: bigint | number }>([
    "observation.state",
    "action",
    "episode_index",
  ]);
  return {
    state: rows.map((r) => Float32Array.from(r["observation.state"])),
    action: rows.map((r) => Float32Array.from(r.action)),
    episode: rows.map((r) => Number(r.episode_index)),
    stats: readStats(),
    task: "pick cube",
  };
}

/** Structurally the batch of @craft/datasets and of the policy's processor. */
export interface So101Batch {
  readonly size: number;
  readonly task: readonly string[];
  readonly features: Readonly<Record<string, { readonly data: Float32Array | Uint8Array; readonly shape: readonly number[] }>>;
}

/** A batch of the frames at `indices` with `chunkSize`-step action chunks (padded past the episode end). */
export function so101Batch(frames: So101Frames, indices: readonly number[], chunkSize: number): So101Batch {
  const B = indices.length;
  const D = 6;
  const state = new Float32Array(B * D);
  const action = new Float32Array(B * chunkSize * D);
  const isPad = new Uint8Array(B * chunkSize);
  indices.forEach((idx, b) => {
    state.set(frames.state[idx], b * D);
    let last = idx;
    while (last + 1 < frames.action.length && frames.episode[last + 1] === frames.episode[idx]) last++;
    for (let t = 0; t < chunkSize; t++) {
      const inEpisode = idx + t <= last;
      action.set(frames.action[inEpisode ? idx + t : last], (b * chunkSize + t) * D);
      isPad[b * chunkSize + t] = inEpisode ? 0 : 1;
    }
  });
  return {
    size: B,
    task: indices.map(() => frames.task),
    features: {
      "observation.state": { data: state, shape: [B, D] },
      action: { data: action, shape: [B, chunkSize, D] },
      action_is_pad: { data: isPad, shape: [B, chunkSize] },
    },
  };
}
