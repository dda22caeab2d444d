import type { WriteFeatureSpec } from "../writer.js";

/** What the camera and the arm's encoders report: exactly the dataset's observation features. */
export interface EnvObservation {
  /** [ee.x, ee.y, ee.z, gripper, wrist, radius], as `observation.state` in the synthetic datasets. */
  readonly "observation.state": Float32Array;
  /** Top-down RGB camera [size, size, 3], as `observation.images.front`. */
  readonly "observation.images.front": Uint8Array;
}

/** How an episode ended, from the environment's side (the evaluator adds invalid-decode and NaN). */
export type EnvOutcome = "success" | "other_target" | "running";

export interface StepInfo {
  readonly is_success: boolean;
  /** success, reached the target the instruction did not name (two-target scene), or still running. */
  readonly outcome: EnvOutcome;
}

export interface StepResult {
  readonly observation: EnvObservation;
  readonly reward: number;
  readonly terminated: boolean;
  readonly truncated: boolean;
  readonly info: StepInfo;
}

export interface EnvSpec {
  readonly type: EnvType;
  /** The language instruction given with every observation (LeRobot's `task`). */
  readonly instruction: string;
  readonly fps: number;
  /** Steps after which an episode is truncated. */
  readonly maxEpisodeSteps: number;
  /** Dataset features of observations and actions, as `meta/info.json` declares them. */
  readonly features: Readonly<Record<string, WriteFeatureSpec>>;
}

/**
 * A simulated environment in gymnasium's shape: `reset(seed)` then `step(action)` until
 * `terminated || truncated`. Deterministic given the seed and the actions.
 */
export interface SimEnv {
  readonly spec: EnvSpec;
  reset(seed: number): EnvObservation;
  step(action: ArrayLike<number>): StepResult;
  /** The camera image of the current state (the same pixels the observation carries). */
  render(): Uint8Array;
  /** The scripted expert's next action (privileged: it sees the target/block positions); `noise` draws in [-0.5, 0.5). */
  expertAction(noise: () => number): number[];
}

export type EnvType = "reach" | "push" | "two_target";
