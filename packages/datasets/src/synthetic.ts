import { DatasetError } from "./errors.js";
import { mulberry32 } from "./random.js";
import { writeDataset, type FrameValues, type WriteEpisode } from "./writer.js";

/** The procedurally generated tasks. Their action distributions differ on purpose (see README). */
export type SyntheticTask = "reach" | "push";
export const SYNTHETIC_TASKS: readonly SyntheticTask[] = ["reach", "push"];

export const TASK_TEXT: Readonly<Record<SyntheticTask, string>> = {
  reach: "reach the red target",
  push: "push the block left",
};

/** Joint-like names of the 6-dim state and action: end-effector x, y, height, gripper, wrist, reach radius. */
export const SYNTHETIC_NAMES = ["ee.x", "ee.y", "ee.z", "gripper", "wrist", "radius"] as const;

export interface SyntheticOptions {
  readonly task: SyntheticTask;
  readonly episodes: number;
  readonly seed: number;
  readonly fps?: number;
  /** Square camera image side in pixels (default 64). */
  readonly imageSize?: number;
  /** Encode the camera as MP4 instead of embedded PNG. */
  readonly video?: boolean;
  readonly overwrite?: boolean;
}

type Rgb = readonly [number, number, number];

const toPixel = (v: number, size: number) => ((v + 1) / 2) * (size - 1);

const fillDisk = (img: Uint8Array, size: number, cx: number, cy: number, r: number, c: Rgb) => {
  for (let y = Math.max(0, Math.floor(cy - r)); y <= Math.min(size - 1, Math.ceil(cy + r)); y++) {
    for (let x = Math.max(0, Math.floor(cx - r)); x <= Math.min(size - 1, Math.ceil(cx + r)); x++) {
      if ((x - cx) ** 2 + (y - cy) ** 2 <= r * r) img.set(c, (y * size + x) * 3);
    }
  }
};

const fillSquare = (img: Uint8Array, size: number, cx: number, cy: number, half: number, c: Rgb) => {
  for (let y = Math.max(0, Math.round(cy - half)); y <= Math.min(size - 1, Math.round(cy + half)); y++) {
    for (let x = Math.max(0, Math.round(cx - half)); x <= Math.min(size - 1, Math.round(cx + half)); x++) img.set(c, (y * size + x) * 3);
  }
};

interface Scene {
  readonly ee: readonly [number, number, number];
  readonly gripper: number;
  readonly target?: readonly [number, number];
  readonly block?: readonly [number, number];
}

/** Top-down camera: grey table, red target or blue block, green end-effector dot that grows as it rises. */
const render = (scene: Scene, size: number): Uint8Array => {
  const img = new Uint8Array(size * size * 3);
  for (let i = 0; i < size * size; i++) img.set([190, 185, 175], i * 3);
  const s = size / 64;
  if (scene.target !== undefined) fillDisk(img, size, toPixel(scene.target[0], size), toPixel(scene.target[1], size), 4 * s, [220, 30, 30]);
  if (scene.block !== undefined) fillSquare(img, size, toPixel(scene.block[0], size), toPixel(scene.block[1], size), 4 * s, [40, 60, 210]);
  const [x, y, z] = scene.ee;
  fillDisk(img, size, toPixel(x, size), toPixel(y, size), (2 + 3 * z) * s, scene.gripper > 0.5 ? [30, 200, 60] : [20, 110, 40]);
  return img;
};

const stateOf = (ee: readonly [number, number, number], gripper: number, wrist: number): number[] => [ee[0], ee[1], ee[2], gripper, wrist, Math.hypot(ee[0], ee[1])];

/**
 * reach: from a random start high above the table, move to a random red target while descending
 * to z≈0.2, gripper open (1), wrist 0.
 * push: descend behind (right of) the blue block to z≈0.05 with the gripper closed (0) and the
 * wrist turned (0.8), then sweep left, dragging the block.
 */
const episodeFrames = (task: SyntheticTask, rand: () => number, size: number): FrameValues[] => {
  const length = 40 + Math.floor(rand() * 21);
  const noise = () => (rand() - 0.5) * 0.01;
  const frames: FrameValues[] = [];
  if (task === "reach") {
    let ee: [number, number, number] = [rand() * 1.6 - 0.8, rand() * 1.6 - 0.8, 0.8 + rand() * 0.2];
    const target: [number, number] = [rand() * 1.6 - 0.8, rand() * 1.6 - 0.8];
    for (let f = 0; f < length; f++) {
      const next: [number, number, number] = [ee[0] + 0.15 * (target[0] - ee[0]) + noise(), ee[1] + 0.15 * (target[1] - ee[1]) + noise(), ee[2] + 0.1 * (0.2 - ee[2])];
      frames.push({
        "observation.state": stateOf(ee, 1 - Math.abs(noise()), noise()),
        action: stateOf(next, 1 - Math.abs(noise()), noise()),
        "observation.images.front": render({ ee, gripper: 1, target }, size),
      });
      ee = next;
    }
  } else {
    const block: [number, number] = [rand() * 0.5 + 0.1, rand() * 1.2 - 0.6];
    let ee: [number, number, number] = [block[0] + 0.3 + rand() * 0.3, block[1] + (rand() - 0.5) * 0.4, 0.7 + rand() * 0.2];
    let wrist = 0;
    for (let f = 0; f < length; f++) {
      const behind: [number, number] = [block[0] + 0.15, block[1]];
      const approaching = Math.hypot(ee[0] - behind[0], ee[1] - behind[1]) > 0.05 || ee[2] > 0.1;
      let next: [number, number, number];
      if (approaching) {
        next = [ee[0] + 0.3 * (behind[0] - ee[0]) + noise(), ee[1] + 0.3 * (behind[1] - ee[1]) + noise(), ee[2] + 0.3 * (0.05 - ee[2])];
      } else {
        next = [ee[0] - 0.04 + noise(), ee[1] + noise(), 0.05];
      }
      const nextWrist = wrist + 0.3 * (0.8 - wrist);
      frames.push({
        "observation.state": stateOf(ee, Math.abs(noise()), wrist),
        action: stateOf(next, Math.abs(noise()), nextWrist),
        "observation.images.front": render({ ee, gripper: 0, block: [block[0], block[1]] }, size),
      });
      if (!approaching) block[0] = Math.max(-0.95, next[0] - 0.15);
      ee = next;
      wrist = nextWrist;
    }
  }
  return frames;
};

/** Episodes of a synthetic task, deterministic from the seed (no I/O). */
export const syntheticEpisodes = (options: Omit<SyntheticOptions, "fps" | "video" | "overwrite">): WriteEpisode[] => {
  if (!SYNTHETIC_TASKS.includes(options.task)) {
    throw new DatasetError("InvalidOption", { file: "(make-synthetic)", field: "task", expected: SYNTHETIC_TASKS.join(" | "), actual: String(options.task) });
  }
  if (!Number.isInteger(options.episodes) || options.episodes < 1) {
    throw new DatasetError("InvalidOption", { file: "(make-synthetic)", field: "episodes", expected: "a positive integer", actual: String(options.episodes) });
  }
  const size = options.imageSize ?? 64;
  const rand = mulberry32(((options.seed | 0) * 2654435761 + (options.task === "reach" ? 1 : 2)) | 0);
  return Array.from({ length: options.episodes }, () => ({ task: TASK_TEXT[options.task], frames: episodeFrames(options.task, rand, size) }));
};

/** `craft dataset make-synthetic`: write a v3.0 dataset of a synthetic task to `output`. */
export const makeSyntheticDataset = async (output: string, options: SyntheticOptions): Promise<void> => {
  const size = options.imageSize ?? 64;
  await writeDataset(output, {
    fps: options.fps ?? 10,
    robotType: "craft_synthetic_arm",
    features: {
      "observation.state": { dtype: "float32", shape: [6], names: [...SYNTHETIC_NAMES] },
      action: { dtype: "float32", shape: [6], names: [...SYNTHETIC_NAMES] },
      "observation.images.front": { dtype: "image", shape: [size, size, 3] },
    },
    episodes: syntheticEpisodes(options),
    video: options.video,
    overwrite: options.overwrite,
  });
};
