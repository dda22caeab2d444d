/** so101 frames as loader-shaped batches (state, action chunk with is_pad, task; the dataset has no decoded video). */
import { readFileSync } from "node:fs";
import { parquetReadObjects } from "hyparquet";
import type { Batch } from "../src/processor";
import { fitFastTokenizer, type FastTokenizer } from "../src/fast/tokenizer";
import { SO101_ROOT, loadSo101Actions, normalisedChunks } from "./fast-so101";

export interface So101Frames {
  readonly state: Float32Array[];
  readonly action: Float32Array[];
  readonly episode: number[];
  readonly stats: Record<string, Record<string, number[]>>;
  readonly task: string;
}

export async function loadSo101Frames(): Promise<So101Frames> {
  const buf = readFileSync(`${SO101_ROOT}data/chunk-000/file-000.parquet`);
  const file = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
  const rows = (await parquetReadObjects({ file, columns: ["observation.state", "action", "episode_index"] })) as {
    "observation.state": number[];
    action: number[];
    episode_index: bigint | number;
  }[];
  const stats = JSON.parse(readFileSync(`${SO101_ROOT}meta/stats.json`, "utf8"));
  return {
    state: rows.map((r) => Float32Array.from(r["observation.state"])),
    action: rows.map((r) => Float32Array.from(r.action)),
    episode: rows.map((r) => Number(r.episode_index)),
    stats,
    task: "pick cube",
  };
}

/** A batch of the frames at `indices` with `chunkSize`-step action chunks (padded past the episode end). */
export function so101Batch(frames: So101Frames, indices: readonly number[], chunkSize: number): Batch {
  const B = indices.length;
  const D = 6;
  const state = new Float32Array(B * D);
  const action = new Float32Array(B * chunkSize * D);
  const isPad = new Uint8Array(B * chunkSize);
  indices.forEach((idx, b) => {
    state.set(frames.state[idx], b * D);
    for (let t = 0; t < chunkSize; t++) {
      const j = idx + t;
      const inEpisode = j < frames.action.length && frames.episode[j] === frames.episode[idx];
      const src = inEpisode ? j : (() => {
        let last = idx;
        while (last + 1 < frames.action.length && frames.episode[last + 1] === frames.episode[idx]) last++;
        return last;
      })();
      action.set(frames.action[src], (b * chunkSize + t) * D);
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

export async function so101FastTokenizer(chunkSize: number, vocabSize = 256): Promise<FastTokenizer> {
  const data = await loadSo101Actions();
  return fitFastTokenizer(normalisedChunks(data, chunkSize, 5), { chunkSize, actionDim: 6, vocabSize });
}
