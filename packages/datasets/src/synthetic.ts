import { DatasetError } from "./errors.js";
import { ARM_NAMES, armFeatures } from "./envs/arm.js";
import { ENV_TYPES, makeEnv, type EnvObservation, type EnvType, type MakeEnvOptions, type SimEnv } from "./envs/index.js";
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
  /**
   * Share of episodes whose recording starts after a detour (see DETOUR_TICKS): the arm is first
   * taken, unrecorded, towards a random point of the workspace, and the expert acts from there. 0
   * (default) records the plain expert. Every recorded frame is the expert's own command, so the
   * action chunks stay smooth; the detours add the states a policy that strays reaches — low and
   * away from the target, near the wrong one — with the expert's way back (recovery data, as
   * DART and DAgger give an imitation learner).
   */
  readonly perturbation?: number;
}

/** A detour lasts 1 … DETOUR_TICKS[1] ticks, each moving the arm 15% of the way to the detour's point. */
export const DETOUR_TICKS = [1, 20] as const;

/** Take the arm, unrecorded, `ticks` ticks towards a point drawn from `rand` (x, y on the table, height 0.2 … 1). */
const detour = (env: SimEnv, observation: EnvObservation, rand: () => number): EnvObservation => {
  const point = [rand() * 1.6 - 0.8, rand() * 1.6 - 0.8, 0.2 + rand() * 0.8];
  const ticks = DETOUR_TICKS[0] + Math.floor(rand() * (DETOUR_TICKS[1] - DETOUR_TICKS[0] + 1));
  let current = observation;
  for (let t = 0; t < ticks; t++) {
    const state = current["observation.state"] as ArrayLike<number>;
    const x = state[0]! + 0.15 * (point[0]! - state[0]!);
    const y = state[1]! + 0.15 * (point[1]! - state[1]!);
    current = env.step([x, y, state[2]! + 0.15 * (point[2]! - state[2]!), 1, 0, Math.hypot(x, y)]).observation;
  }
  return current;
};

/**
 * One recorded episode: the expert acts until the environment reports success, then, like a
 * teleoperator who holds the arm at the goal a moment before stopping the recording, `hold` ticks
 * more (at most maxEpisodeSteps in all). Most frames show the arm on its way, where the instruction
 * decides where it goes. With `detourRand`, the recording starts after a detour (see `detour`).
 */
export const expertEpisode = (
  envOptions: MakeEnvOptions,
  envSeed: number,
  hold: number,
  noise: () => number,
  detourRand?: () => number,
): WriteEpisode => {
  const env = makeEnv(envOptions);
  let observation = env.reset(envSeed);
  if (detourRand !== undefined) observation = detour(env, observation, detourRand);
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
  const perturbation = options.perturbation ?? 0;
  if (!(perturbation >= 0 && perturbation <= 1)) {
    throw new DatasetError("InvalidOption", { file: "(make-synthetic)", field: "perturbation", expected: "a share of episodes in [0, 1]", actual: String(options.perturbation) });
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
    // Detours draw from their own stream, so the scenes, holds and noise are those of the plain dataset.
    const detourRand = seededUniform((envSeed ^ 0x2545f491) | 0);
    const detoured = perturbation > 0 && detourRand() < perturbation;
    return expertEpisode(envs[i % envs.length]!, envSeed, hold, () => noiseRand() - 0.5, detoured ? detourRand : undefined);
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
