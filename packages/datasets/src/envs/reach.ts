import { armFeatures, type ArmPose } from "./arm.js";
import { COLORS, type SceneDrawing } from "./render.js";
import { ArmScene } from "./scene.js";
import type { EnvOutcome, EnvSpec } from "./types.js";

/**
 * Reaching a round target on the table. Success: the end effector is within SUCCESS_RADIUS of the
 * target in the table plane, lowered below SUCCESS_HEIGHT, and moved less than SETTLE_STEP in that
 * tick — it arrived and stopped there, rather than swept through (which random actions would).
 *
 * `reach` has one red target, anywhere on the table. `two_target` has a red, a blue and a yellow
 * one in every episode, with the same images, state and actions; only the instruction says which
 * to reach (the name is the pair it was made for: red kept, blue learned; yellow is the base's
 * second instruction, so that the base reads the colour word).
 * Like two baskets on a work table, they stand at fixed stations (STATIONS), each placed within
 * ±STATION_JITTER of its own: where to go is decided by the instruction and the arm's state, as in
 * the forgetting pi0 users report ("place it in the red basket" going to the new blue one).
 * Reaching the other one ends the episode as its own outcome, `other_target`: the signature of an
 * instruction forgotten.
 */
export const SUCCESS_RADIUS = 0.1;
export const SUCCESS_HEIGHT = 0.35;
export const SETTLE_STEP = 0.05;

export type TargetColor = "red" | "blue" | "yellow";
/** The two-target scene's stations (table units): red at the back left, blue at the front right, yellow at the back right. */
export const STATIONS: Readonly<Record<TargetColor, readonly [number, number]>> = { red: [-0.4, 0.4], blue: [0.4, -0.4], yellow: [0.4, 0.4] };
/**
 * How far (in x and in y) a two-target scene's target may sit from its station. Smaller than
 * SUCCESS_RADIUS / √2, so an arm that settles on the station is inside the target wherever it sits.
 */
export const STATION_JITTER = 0.05;
export const TARGET_COLORS: readonly TargetColor[] = ["red", "blue", "yellow"];
export const reachInstruction = (color: TargetColor): string => `reach the ${color} target`;

interface Target {
  readonly color: TargetColor;
  readonly x: number;
  readonly y: number;
}


export class ReachEnv extends ArmScene {
  readonly spec: EnvSpec;
  private targets: Target[] = [];

  /** `colors`: the targets on the table; `instructed`: the one the instruction names. */
  constructor(
    private readonly colors: readonly TargetColor[],
    private readonly instructed: TargetColor,
    imageSize = 64,
  ) {
    super(imageSize);
    this.spec = {
      type: colors.length > 1 ? "two_target" : "reach",
      instruction: reachInstruction(instructed),
      fps: 10,
      maxEpisodeSteps: 60,
      features: armFeatures(imageSize),
    };
  }

  protected place(rand: () => number): void {
    const draw = () => rand() * 1.6 - 0.8;
    this.pose = { ee: [draw(), draw(), 0.8 + rand() * 0.2], gripper: 1, wrist: 0 };
    const jitter = () => (rand() * 2 - 1) * STATION_JITTER;
    this.targets =
      this.colors.length > 1
        ? this.colors.map((color) => ({ color, x: STATIONS[color][0] + jitter(), y: STATIONS[color][1] + jitter() }))
        : this.colors.map((color) => ({ color, x: draw(), y: draw() }));
  }

  protected outcomeAfterMove(before: ArmPose["ee"]): EnvOutcome {
    const [x, y, z] = this.pose.ee;
    const settled = Math.hypot(x - before[0], y - before[1], z - before[2]) < SETTLE_STEP && z < SUCCESS_HEIGHT;
    const reached = settled ? this.targets.find((t) => Math.hypot(x - t.x, y - t.y) < SUCCESS_RADIUS) : undefined;
    return reached === undefined ? "running" : reached.color === this.instructed ? "success" : "other_target";
  }

  protected drawing(): SceneDrawing {
    return { ee: this.pose.ee, gripper: this.pose.gripper, targets: this.targets.map((t) => ({ x: t.x, y: t.y, color: COLORS[t.color] })) };
  }

  /**
   * Glide 15% of the way to the instructed target per tick while descending towards z 0.2, gripper
   * open (exactly 1) and wrist level (exactly 0). Only the motion carries noise: noise on a
   * constant command would be stretched to the whole [-1, 1] range by quantile normalisation
   * (q01…q99 of ±0.005) and the policy would have to spend its FAST tokens on it.
   */
  expertAction(noise: () => number): number[] {
    const target = this.targets.find((t) => t.color === this.instructed)!;
    const [x, y, z] = this.pose.ee;
    const nx = x + 0.15 * (target.x - x) + noise() * 0.01;
    const ny = y + 0.15 * (target.y - y) + noise() * 0.01;
    const nz = z + 0.1 * (0.2 - z);
    return [nx, ny, nz, 1, 0, Math.hypot(nx, ny)];
  }
}
