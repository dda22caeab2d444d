import { DatasetError } from "./errors.js";

/** Offsets of an action chunk of `chunkSize` frames: [0, 1/fps, …, (chunkSize-1)/fps] seconds. */
export const deltaTimestampsForChunk = (fps: number, chunkSize: number): number[] =>
  Array.from({ length: chunkSize }, (_, i) => i / fps);

/** LeRobot's tolerance for a delta that is not a whole number of frames. */
export const DELTA_TOLERANCE_S = 1e-4;

/** Frame offsets for one feature's delta timestamps, checked to be whole frames (LeRobot semantics). */
export const deltaIndices = (deltas: readonly number[], fps: number, file: string, key: string): Int32Array =>
  Int32Array.from(deltas, (d) => {
    const k = Math.round(d * fps);
    if (!Number.isFinite(d) || Math.abs(d - k / fps) > DELTA_TOLERANCE_S) {
      throw new DatasetError("InvalidOption", {
        file,
        field: `deltaTimestamps.${key}`,
        expected: `multiples of 1/fps = ${(1 / fps).toFixed(6)} s (within ${DELTA_TOLERANCE_S} s)`,
        actual: String(d),
      });
    }
    return k;
  });
