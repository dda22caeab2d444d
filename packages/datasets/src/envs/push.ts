import { armFeatures, type ArmPose } from "./arm.js";
import type { SceneDrawing } from "./render.js";
import { ArmScene } from "./scene.js";
import type { EnvOutcome, EnvSpec } from "./types.js";

/**
 * Pushing a block left. The block starts right of centre; the end effector pushes it when it is
 * low (z < CONTACT_HEIGHT), level with it (|Δy| < CONTACT_HALF_WIDTH) and was on its right: the
 * block then stays PUSH_OFFSET left of the end effector. Success: the block's centre is at
 * x ≤ GOAL_X (it crossed to the left part of the table).
 */
export const CONTACT_HEIGHT = 0.15;
export const CONTACT_HALF_WIDTH = 0.15;
export const PUSH_OFFSET = 0.15;
export const GOAL_X = -0.3;
export const PUSH_INSTRUCTION = "push the block left";

export class PushEnv extends ArmScene {
  readonly spec: EnvSpec;
  private block: [number, number] = [0, 0];

  constructor(imageSize = 64) {
    super(imageSize);
    this.spec = { type: "push", instruction: PUSH_INSTRUCTION, fps: 10, maxEpisodeSteps: 80, features: armFeatures(imageSize) };
  }

  protected place(rand: () => number): void {
    this.block = [rand() * 0.5 + 0.1, rand() * 1.2 - 0.6];
    this.pose = { ee: [this.block[0] + 0.3 + rand() * 0.3, this.block[1] + (rand() - 0.5) * 0.4, 0.7 + rand() * 0.2], gripper: 0, wrist: 0 };
  }

  protected outcomeAfterMove(before: ArmPose["ee"]): EnvOutcome {
    const [x, y, z] = this.pose.ee;
    if (z < CONTACT_HEIGHT && Math.abs(y - this.block[1]) < CONTACT_HALF_WIDTH && before[0] > this.block[0]) {
      this.block[0] = Math.max(-0.95, Math.min(this.block[0], x - PUSH_OFFSET));
    }
    return this.block[0] <= GOAL_X ? "success" : "running";
  }

  protected drawing(): SceneDrawing {
    return { ee: this.pose.ee, gripper: this.pose.gripper, targets: [], block: this.block };
  }

  /**
   * Descend behind (right of) the block to z 0.05 with the gripper closed and the wrist turning to
   * 0.8, then sweep left 0.04 per tick. The gripper command is exactly 0 (no noise on a constant
   * command: see ReachEnv.expertAction).
   */
  expertAction(noise: () => number): number[] {
    const [x, y, z] = this.pose.ee;
    const behind = [this.block[0] + PUSH_OFFSET, this.block[1]];
    const approaching = Math.hypot(x - behind[0], y - behind[1]) > 0.05 || z > 0.1;
    const next = approaching
      ? [x + 0.3 * (behind[0] - x) + noise() * 0.01, y + 0.3 * (behind[1] - y) + noise() * 0.01, z + 0.3 * (0.05 - z)]
      : [x - 0.04 + noise() * 0.01, y + noise() * 0.01, 0.05];
    const wrist = this.pose.wrist + 0.3 * (0.8 - this.pose.wrist);
    return [next[0], next[1], next[2], 0, wrist, Math.hypot(next[0], next[1])];
  }
}
