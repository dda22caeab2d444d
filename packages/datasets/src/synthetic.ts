import { DatasetError } from "./errors.js";
import { ARM_NAMES, armFeatures } from "./envs/arm.js";
import { ENV_TYPES, makeEnv, type EnvType, type MakeEnvOptions } from "./envs/index.js";
import { seededUniform } from "./random.js";
import { writeDataset, type FrameValues, type WriteEpisode } from "./writer.js";

/**
 * The synthetic tasks: scripted expert rollouts in the simulated environments (`envs/`), so the
 * datasets and closed-loop evaluation share one physics and one camera. Their action
 * distributions differ on purpose (see README). `reach_red`/`reach_blue` are the two instructions
 * of the two-target scene: same images, states and actions space, only the instruction differs.
 */
export type SyntheticTask = "reach" | "push" | "reach_red" | "reach_blue";
export const SYNTHETIC_TASKS: readonly SyntheticTask[] = ["reach", "push", "reach_red", "reach_blue"];

/** The environment (LeRobot's `env.type` and `env.task`) each synthetic task records. */
export const SYNTHETIC_ENVS: Readonly<Record<SyntheticTask, { readonly type: string; readonly task: string | null }>> = {
  reach: { type: "reach", task: null },
  push: { type: "push", task: null },
  reach_red: { type: "two_target", task: "red" },
  reach_blue: { type: "two_target", task: "blue" },
};

/** The instruction each task's episodes carry: its environment's own. */
export const TASK_TEXT = Object.fromEntries(SYNTHETIC_TASKS.map((t) => [t, makeEnv(SYNTHETIC_ENVS[t]).spec.instruction])) as Readonly<Record<SyntheticTask, string>>;

/** Joint-like names of the 6-dim state and action: end-effector x, y, height, gripper, wrist, reach radius. */
export const SYNTHETIC_NAMES = ARM_NAMES;

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

/**
 * One recorded episode: the expert acts for `length` ticks. Like a teleoperator who holds the arm
 * at the goal before stopping the recording, it keeps acting after the environment reports success.
 */
const expertEpisode = (envOptions: MakeEnvOptions, envSeed: number, length: number, noise: () => number): FrameValues[] => {
  const env = makeEnv(envOptions);
  let observation = env.reset(envSeed);
  const frames: FrameValues[] = [];
  for (let f = 0; f < length; f++) {
    const action = env.expertAction(noise);
    frames.push({ ...observation, action });
    observation = env.step(action).observation;
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
  const envOptions = { ...SYNTHETIC_ENVS[options.task], imageSize: options.imageSize ?? 64 };
  // Seeded per scene, not per instruction: reach_red and reach_blue of one seed show the same scenes.
  const scene = ENV_TYPES.indexOf(envOptions.type as EnvType) + 1;
  const rand = seededUniform(((options.seed | 0) * 2654435761 + scene) | 0);
  const noise = () => rand() - 0.5;
  return Array.from({ length: options.episodes }, () => {
    const envSeed = Math.floor(rand() * 2 ** 32);
    const length = 40 + Math.floor(rand() * 21);
    return { task: TASK_TEXT[options.task], frames: expertEpisode(envOptions, envSeed, length, noise) };
  });
};

/** `craft dataset make-synthetic`: write a v3.0 dataset of a synthetic task to `output`. */
export const makeSyntheticDataset = async (output: string, options: SyntheticOptions): Promise<void> => {
  await writeDataset(output, {
    fps: options.fps ?? 10,
    robotType: "craft_synthetic_arm",
    features: armFeatures(options.imageSize ?? 64),
    episodes: syntheticEpisodes(options),
    video: options.video,
    overwrite: options.overwrite,
  });
};
