import { DatasetError } from "../errors.js";
import { PushEnv } from "./push.js";
import { ReachEnv, reachInstruction, TARGET_COLORS, type TargetColor } from "./reach.js";
import type { EnvType, SimEnv } from "./types.js";

export const ENV_TYPES: readonly EnvType[] = ["reach", "push", "two_target"];

export interface MakeEnvOptions {
  readonly type: string;
  /**
   * The instruction, where a scene has more than one: for `two_target`, `red` or `blue` (or the
   * full text, "reach the red target"). Other scenes accept only their own instruction, or nothing.
   */
  readonly task?: string | null;
  /** Square camera side in pixels (default 64). */
  readonly imageSize?: number;
}

const invalid = (field: string, expected: string, actual: unknown) =>
  new DatasetError("InvalidOption", { file: "(env)", field, expected, actual: JSON.stringify(actual) });

const colorOf = (task: string): TargetColor | undefined => TARGET_COLORS.find((c) => task === c || task === reachInstruction(c));

/** A simulated environment by LeRobot-style `env.type` (and `env.task`); bad names are one clear error. */
export const makeEnv = (options: MakeEnvOptions): SimEnv => {
  const size = options.imageSize ?? 64;
  if (!Number.isInteger(size) || size < 8) throw invalid("env.image_size", "an integer ≥ 8", size);
  const task = options.task ?? null;
  switch (options.type) {
    case "two_target": {
      const color = task === null ? undefined : colorOf(task);
      if (color === undefined) throw invalid("env.task", `the instruction of the two-target scene: ${TARGET_COLORS.join(" | ")}`, task);
      return new ReachEnv(TARGET_COLORS, color, size);
    }
    case "reach": {
      const env = new ReachEnv(["red"], "red", size);
      if (task !== null && colorOf(task) !== "red") throw invalid("env.task", `nothing or "${env.spec.instruction}" (the reach scene has one target)`, task);
      return env;
    }
    case "push": {
      const env = new PushEnv(size);
      if (task !== null && task !== env.spec.instruction) throw invalid("env.task", `nothing or "${env.spec.instruction}"`, task);
      return env;
    }
    default:
      throw invalid("env.type", ENV_TYPES.join(" | "), options.type);
  }
};

export { ARM_NAMES, MAX_STEP } from "./arm.js";
export { SUCCESS_RADIUS, SUCCESS_HEIGHT, SETTLE_STEP, STATIONS, STATION_JITTER, TARGET_COLORS, reachInstruction, type TargetColor } from "./reach.js";
export { GOAL_X, PUSH_INSTRUCTION } from "./push.js";
export type { SimEnv, EnvSpec, EnvObservation, StepResult, StepInfo, EnvOutcome, EnvType } from "./types.js";
