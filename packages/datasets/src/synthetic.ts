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
export type SyntheticTask = "reach" | "push" | "reach_red" | "reach_blue" | "reach_yellow" | "reach_red_yellow";
export const SYNTHETIC_TASKS: readonly SyntheticTask[] = ["reach", "push", "reach_red", "reach_blue", "reach_yellow", "reach_red_yellow"];

/** The environment (LeRobot's `env.type` and `env.task`) each synthetic task records. */
type EnvRef = { readonly type: string; readonly task: string | null };
export const SYNTHETIC_ENVS: Readonly<Record<SyntheticTask, readonly EnvRef[]>> = {
  reach: [{ type: "reach", task: null }],
  push: [{ type: "push", task: null }],
  reach_red: [{ type: "two_target", task: "red" }],
  reach_blue: [{ type: "two_target", task: "blue" }],
  reach_yellow: [{ type: "two_target", task: "yellow" }],
  reach_red_yellow: [{ type: "two_target", task: "red" }, { type: "two_target", task: "yellow" }],
};


/** `robot_type` in the synthetic datasets' `meta/info.json`, the expert's and a recorded policy's alike. */
export const SYNTHETIC_ROBOT_TYPE = "craft_synthetic_arm";

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
 * One recorded episode: the expert acts until the environment reports success, then, like a
 * teleoperator who holds the arm at the goal a moment before stopping the recording, `hold` ticks
 * more (at most maxEpisodeSteps in all). Most frames show the arm on its way, where the instruction
 * decides where it goes.
 */
export const expertEpisode = (envOptions: MakeEnvOptions, envSeed: number, hold: number, noise: () => number): WriteEpisode => {
  const env = makeEnv(envOptions);
  let observation = env.reset(envSeed);
  const frames: FrameValues[] = [];
  let left = Infinity;
  while (frames.length < env.spec.maxEpisodeSteps && left-- > 0) {
    const action = env.expertAction(noise);
    frames.push({ ...observation, action });
    const result = env.step(action);
    observation = result.observation;
    if (result.info.is_success && left === Infinity) left = hold;
  }
  return { task: env.spec.instruction, frames };
};

/** Ticks the expert holds the arm after success before the recording stops: drawn from this range. */
export const HOLD_TICKS = [10, 20] as const;

/** Episodes of a synthetic task, deterministic from the seed (no I/O). */
export const syntheticEpisodes = (options: Omit<SyntheticOptions, "fps" | "video" | "overwrite">): WriteEpisode[] => {
  if (!SYNTHETIC_TASKS.includes(options.task)) {
    throw new DatasetError("InvalidOption", { file: "(make-synthetic)", field: "task", expected: SYNTHETIC_TASKS.join(" | "), actual: String(options.task) });
  }
  if (!Number.isInteger(options.episodes) || options.episodes < 1) {
    throw new DatasetError("InvalidOption", { file: "(make-synthetic)", field: "episodes", expected: "a positive integer", actual: String(options.episodes) });
  }
  const envs = SYNTHETIC_ENVS[options.task].map((e) => ({ ...e, imageSize: options.imageSize ?? 64 }));
  // Seeded per scene, not per instruction: reach_red and reach_blue of one seed show the same scenes.
  const scene = ENV_TYPES.indexOf(envs[0]!.type as EnvType) + 1;
  const rand = seededUniform(((options.seed | 0) * 2654435761 + scene) | 0);
  return Array.from({ length: options.episodes }, (_, i) => {
    // Three draws an episode whatever its length: episode i shows the same scene for every instruction.
    const envSeed = Math.floor(rand() * 2 ** 32);
    const hold = HOLD_TICKS[0] + Math.floor(rand() * (HOLD_TICKS[1] - HOLD_TICKS[0] + 1));
    const noiseRand = seededUniform(Math.floor(rand() * 2 ** 32) | 0);
    return expertEpisode(envs[i % envs.length]!, envSeed, hold, () => noiseRand() - 0.5);
  });
};

/** `craft dataset make-synthetic`: write a v3.0 dataset of a synthetic task to `output`. */
export const makeSyntheticDataset = async (output: string, options: SyntheticOptions): Promise<void> => {
  await writeDataset(output, {
    fps: options.fps ?? 10,
    robotType: SYNTHETIC_ROBOT_TYPE,
    features: armFeatures(options.imageSize ?? 64),
    episodes: syntheticEpisodes(options),
    video: options.video,
    overwrite: options.overwrite,
  });
};
