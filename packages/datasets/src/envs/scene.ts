import { seededUniform } from "../random.js";
import { armState, moveArm, type ArmPose } from "./arm.js";
import { renderScene, type SceneDrawing } from "./render.js";
import type { EnvObservation, EnvOutcome, EnvSpec, SimEnv, StepResult } from "./types.js";

/**
 * What every scene shares: the arm, the episode clock, the camera, and gymnasium's step tuple —
 * a sparse reward (1 on the success tick), termination on success or on reaching the wrong
 * target, truncation at `spec.maxEpisodeSteps`. A scene adds its objects and its outcome.
 */
export abstract class ArmScene implements SimEnv {
  abstract readonly spec: EnvSpec;
  protected pose: ArmPose = { ee: [0, 0, 1], gripper: 0, wrist: 0 };
  private steps = 0;

  constructor(protected readonly imageSize: number) {}

  /** Draw the scene's objects and the arm's start pose from the episode's random stream. */
  protected abstract place(rand: () => number): void;
  /** The episode's outcome once the arm has moved from `before` to `this.pose` (and objects reacted). */
  protected abstract outcomeAfterMove(before: ArmPose["ee"]): EnvOutcome;
  protected abstract drawing(): SceneDrawing;
  abstract expertAction(noise: () => number): number[];

  reset(seed: number): EnvObservation {
    this.place(seededUniform(seed));
    this.steps = 0;
    return this.observe();
  }

  step(action: ArrayLike<number>): StepResult {
    const before = this.pose.ee;
    this.pose = moveArm(this.pose, action);
    this.steps += 1;
    const outcome = this.outcomeAfterMove(before);
    return {
      observation: this.observe(),
      reward: outcome === "success" ? 1 : 0,
      terminated: outcome !== "running",
      truncated: outcome === "running" && this.steps >= this.spec.maxEpisodeSteps,
      info: { is_success: outcome === "success", outcome },
    };
  }

  render(): Uint8Array {
    return renderScene(this.drawing(), this.imageSize);
  }

  private observe(): EnvObservation {
    return { "observation.state": armState(this.pose), "observation.images.front": this.render() };
  }
}
