import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../src/backend/index";
import { createPi0FastPolicy, loadPi0FastPolicy } from "../src/policy";
import { fitFastTokenizer } from "../src/fast/tokenizer";
import type { Batch } from "../src/processor";
import { MICRO_POLICY as MICRO } from "./model-helpers";

/**
 * pi0's cross-embodiment: one parameter set, robots of different state/action dims (each ≤
 * max_state_dim / max_action_dim), each normalised with its own statistics. A model of the CLI
 * tests' micro size keeps this fast.
 */

interface Robot {
  readonly mean: number[];
  readonly std: number[];
}
const robot = (dim: number, offset: number): Robot => ({
  mean: Array.from({ length: dim }, (_, d) => offset + (d % 4) - 1.5),
  std: Array.from({ length: dim }, (_, d) => 0.4 + 0.1 * (d % 3)),
});
const arm = robot(6, 0); // the base's robot
const gripper = robot(3, 5); // fine-tuned on
const humanoid = robot(9, -3); // anchors
const statsOf = (r: Robot) => ({ "observation.state": r, action: r });

function batchOf(r: Robot, phase: number): Batch {
  const D = r.mean.length;
  const value = (i: number, t: number) => r.mean[i] + r.std[i] * 0.8 * Math.sin(0.5 * t + i + phase);
  return {
    size: 2,
    task: ["move", "move"],
    features: {
      "observation.state": { data: Float32Array.from({ length: 2 * D }, (_, k) => value(k % D, Math.floor(k / D) * 7)), shape: [2, D] },
      action: { data: Float32Array.from({ length: 2 * 5 * D }, (_, k) => value(k % D, Math.floor(k / D))), shape: [2, 5, D] },
      action_is_pad: { data: new Uint8Array(10), shape: [2, 5] },
    },
  };
}

describe("cross-embodiment (pi0's padding to max_state_dim / max_action_dim)", () => {
  // one FAST tokenizer for all: fitted on the arm's normalised chunks only
  const fast = fitFastTokenizer(
    Array.from({ length: 30 }, (_, b) => Float32Array.from({ length: 5 * 6 }, (_, k) => 0.8 * Math.sin(0.5 * Math.floor(k / 6) + (k % 6) + b * 0.3))),
    { chunkSize: 5, actionDim: 6, vocabSize: 300 },
  );
  beforeAll(async () => {
    await initBackend("wasm");
  });

  it("a base trained on a 6-dim arm fine-tunes on a 3-dim gripper with anchors from a 9-dim robot", async () => {
    const base = createPi0FastPolicy({ config: MICRO, stats: statsOf(arm), fastTokenizer: fast, seed: 0 });
    const onArm = await base.computeGradients(batchOf(arm, 0));
    expect(Number.isFinite(onArm.loss)).toBe(true);
    // the base knows only the arm's statistics and says what it lacks
    expect(() => base.modelInputs(batchOf(gripper, 0))).toThrow(
      "batch: no statistics for a robot with state dim 3 and action dim 3 (stats describe state 6/action 6); pass that dataset's stats too",
    );
    const dir = mkdtempSync(join(tmpdir(), "craft-xemb-"));
    await base.save(dir);
    // fine-tuning: the checkpoint's parameters, the new robot's statistics, the anchor robot's too
    const tuned = await loadPi0FastPolicy(dir, { stats: statsOf(gripper), embodimentStats: [statsOf(humanoid)], warn: () => {} });
    const task = await tuned.computeGradients(batchOf(gripper, 1));
    const anchors = await tuned.computeGradients(batchOf(humanoid, 2));
    expect(Number.isFinite(task.loss) && Number.isFinite(anchors.loss)).toBe(true);
    // one parameter set: the same gradient names and sizes from both robots, and both non-zero
    expect(Object.keys(anchors.grads)).toEqual(Object.keys(task.grads));
    for (const [name, g] of Object.entries(task.grads)) expect(anchors.grads[name].length).toBe(g.length);
    const norm = (grads: Record<string, Float32Array>) => Math.sqrt(Object.values(grads).reduce((s, g) => s + g.reduce((a, v) => a + v * v, 0), 0));
    expect(norm(task.grads)).toBeGreaterThan(0);
    expect(norm(anchors.grads)).toBeGreaterThan(0);
    // and the loaded base's weights are the ones the fine-tune starts from
    const before = base.getParameters({ includeFrozen: true });
    const after = tuned.getParameters({ includeFrozen: true });
    for (const name of Object.keys(before)) expect(after[name]).toEqual(before[name]);
    // actions come back in each robot's own dims and units
    const onGripper = await tuned.selectAction(batchOf(gripper, 1));
    const onHumanoid = await tuned.selectAction(batchOf(humanoid, 2));
    expect(onGripper.actions.length).toBe(2 * 5 * 3);
    expect(onHumanoid.actions.length).toBe(2 * 5 * 9);
    expect(onGripper.actions.every(Number.isFinite) && onHumanoid.actions.every(Number.isFinite)).toBe(true);
    base.dispose();
    tuned.dispose();
  });
});
