import type { WriteFeatureSpec } from "../writer.js";

/**
 * The simulated arm shared by every scene: a position-controlled end effector over a table.
 * State and action are both [ee.x, ee.y, ee.z, gripper, wrist, radius]; the action is the pose
 * commanded for the next tick. The arm moves to it, limited to MAX_STEP per tick (table units)
 * and clamped to the workspace; `radius` is derived from x, y (its commanded value is ignored).
 */
export const ARM_NAMES = ["ee.x", "ee.y", "ee.z", "gripper", "wrist", "radius"] as const;
export const ARM_DIM = ARM_NAMES.length;
export const MAX_STEP = 0.4;

export interface ArmPose {
  readonly ee: readonly [number, number, number];
  readonly gripper: number;
  readonly wrist: number;
}

const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));

export const armState = (pose: ArmPose): Float32Array =>
  Float32Array.from([pose.ee[0], pose.ee[1], pose.ee[2], pose.gripper, pose.wrist, Math.hypot(pose.ee[0], pose.ee[1])]);

/** The pose after one tick under `action`; throws on a malformed action (the evaluator screens NaN first). */
export const moveArm = (pose: ArmPose, action: ArrayLike<number>): ArmPose => {
  if (action.length !== ARM_DIM) throw new Error(`action: expected ${ARM_DIM} values (${ARM_NAMES.join(", ")}), got ${action.length}`);
  for (let i = 0; i < ARM_DIM; i++) {
    if (!Number.isFinite(action[i])) throw new Error(`action[${i}] (${ARM_NAMES[i]}): expected a finite number, got ${action[i]}`);
  }
  const target = [clamp(action[0], -1, 1), clamp(action[1], -1, 1), clamp(action[2], 0, 1)];
  const delta = target.map((v, i) => v - pose.ee[i]);
  const length = Math.hypot(delta[0], delta[1], delta[2]);
  const k = length > MAX_STEP ? MAX_STEP / length : 1;
  return {
    ee: [pose.ee[0] + k * delta[0], pose.ee[1] + k * delta[1], pose.ee[2] + k * delta[2]],
    gripper: clamp(action[3], 0, 1),
    wrist: clamp(action[4], -1, 1),
  };
};

/** The features of every scene's datasets and observations, for a square camera of `imageSize`. */
export const armFeatures = (imageSize: number): Record<string, WriteFeatureSpec> => ({
  "observation.state": { dtype: "float32", shape: [ARM_DIM], names: [...ARM_NAMES] },
  action: { dtype: "float32", shape: [ARM_DIM], names: [...ARM_NAMES] },
  "observation.images.front": { dtype: "image", shape: [imageSize, imageSize, 3] },
});
