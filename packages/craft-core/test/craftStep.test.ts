import { describe, expect, it } from "vitest";
import {
  craftStep,
  decodeCraftState,
  float32Space,
  initialCraftState,
  isRetentionStep,
  makeCraftConfig,
  namedFloat32Space,
  type CraftConfig,
} from "../src/index.js";
import { f32, genericFloat32Space, genericNamedSpace, maxAbsDiff } from "./helpers.js";

const config = makeCraftConfig({
  enable: true,
  initial_lambda: 2,
  lambda_lr: 0.1,
  epsilon_schedule: "linear",
  epsilon_start: 1,
  epsilon_end: 0,
});

describe("craftStep on a conflicting 2-D pair (project_task + sum)", () => {
  const gTask = f32(1, 1);
  const gRetain = f32(-1, 0);
  const input = { gTask, gRetain, retentionLoss: 0.9, step: 50 };

  it.each([
    ["fused path", float32Space],
    ["generic path", genericFloat32Space],
  ])("%s: g = (0,1) + 2·(−1,0) = (−2,1), metrics worked by hand", (_name, space) => {
    const { grad, metrics, state } = craftStep(config, space, 100)(initialCraftState(config), input);
    expect(grad[0]).toBeCloseTo(-2, 9);
    expect(grad[1]).toBeCloseTo(1, 9);
    expect(metrics.dot).toBe(-1);
    expect(metrics.cosine).toBeCloseTo(-Math.SQRT1_2, 12);
    expect(metrics.conflict).toBe(true);
    expect(metrics.taskNorm).toBeCloseTo(Math.SQRT2, 12);
    expect(metrics.retainNorm).toBe(1);
    expect(metrics.taskNormAfter).toBeCloseTo(1, 9);
    expect(metrics.retainNormAfter).toBe(1);
    expect(metrics.gradNorm).toBeCloseTo(Math.sqrt(5), 9);
    // ε(50 of 100) = 0.5; merge used λ = 2; then λ ← 2 + 0.1·(0.9 − 0.5) = 2.04.
    expect(metrics.epsilon).toBe(0.5);
    expect(metrics.lambda).toBe(2);
    expect(metrics.lambdaNext).toBeCloseTo(2.04, 12);
    expect(state.lambda.lambda).toBeCloseTo(2.04, 12);
    expect(metrics.violation).toBeCloseTo(0.4, 12);
    expect(metrics.retentionLoss).toBe(0.9);
  });

  it("violation is 0 while the constraint holds", () => {
    const out = craftStep(config, float32Space, 100)(initialCraftState(config), { ...input, retentionLoss: 0.2 });
    expect(out.metrics.violation).toBe(0);
    expect(out.state.lambda.lambda).toBeCloseTo(2 + 0.1 * (0.2 - 0.5), 12);
  });

  it("uses the λ from the state for the merge and only then updates it", () => {
    const step = craftStep(config, float32Space, 100);
    const first = step(initialCraftState(config), input);
    const second = step(first.state, input);
    expect(second.metrics.lambda).toBe(first.state.lambda.lambda);
    expect(second.grad[0]).toBeCloseTo(-first.state.lambda.lambda, 6);
  });

  it("is pure: inputs untouched, same input → same output, state survives JSON", () => {
    const step = craftStep(config, float32Space, 100);
    const state = initialCraftState(config);
    const a = step(state, input);
    const b = step(JSON.parse(JSON.stringify(state)), input);
    expect(Array.from(gTask)).toEqual([1, 1]);
    expect(Array.from(gRetain)).toEqual([-1, 0]);
    expect(state).toEqual(initialCraftState(config));
    expect(b).toEqual(a);
    expect(decodeCraftState(JSON.parse(JSON.stringify(a.state)))).toEqual({ _tag: "Right", right: a.state });
  });
});

describe("craftStep under every surgery × merge: the fused and generic paths agree", () => {
  const gTask = f32(0.3, -1.2, 2.5, 0.7, -0.1);
  const gRetain = f32(-0.5, 0.8, -1.1, 0.2, 0.9);
  const cases: [CraftConfig["surgery"], CraftConfig["merge"]][] = [
    ["none", "sum"],
    ["none", "normalized"],
    ["project_task", "sum"],
    ["project_task", "normalized"],
    ["pcgrad", "sum"],
    ["pcgrad", "normalized"],
  ];
  it.each(cases)("%s + %s", (surgery, merge) => {
    const c = makeCraftConfig({ surgery, merge, initial_lambda: 1.7 });
    const input = { gTask, gRetain, retentionLoss: 0.4, step: 3 };
    const fused = craftStep(c, float32Space, 10)(initialCraftState(c), input);
    const generic = craftStep(c, genericFloat32Space, 10)(initialCraftState(c), input);
    expect(fused.metrics.conflict).toBe(true);
    expect(maxAbsDiff(fused.grad, generic.grad)).toBeLessThan(1e-6);
    for (const key of ["taskNormAfter", "retainNormAfter", "gradNorm", "cosine", "dot"] as const) {
      expect(fused.metrics[key]).toBeCloseTo(generic.metrics[key], 6);
    }
    expect(fused.state).toEqual(generic.state);
  });

  it("pcgrad + sum worked by hand on g_t=(1,1), g_r=(−1,0), λ=2: (0,1) + 2·(−1/2,1/2) = (−1,2)", () => {
    const c = makeCraftConfig({ surgery: "pcgrad", initial_lambda: 2 });
    const { grad, metrics } = craftStep(c, float32Space, 10)(initialCraftState(c), {
      gTask: f32(1, 1),
      gRetain: f32(-1, 0),
      retentionLoss: 0,
      step: 0,
    });
    expect(grad[0]).toBeCloseTo(-1, 9);
    expect(grad[1]).toBeCloseTo(2, 9);
    expect(metrics.retainNormAfter).toBeCloseTo(Math.SQRT1_2, 9);
  });

  it("named maps go through the same fused and generic paths", () => {
    const c = makeCraftConfig({ surgery: "pcgrad", merge: "normalized" });
    const named = (v: Float32Array) => ({ a: v.slice(0, 2), b: v.slice(2) });
    const input = { gTask: named(gTask), gRetain: named(gRetain), retentionLoss: 1, step: 0 };
    const fused = craftStep(c, namedFloat32Space, 10)(initialCraftState(c), input);
    const generic = craftStep(c, genericNamedSpace, 10)(initialCraftState(c), input);
    expect(Object.keys(fused.grad)).toEqual(["a", "b"]);
    expect(maxAbsDiff(fused.grad.b, generic.grad.b)).toBeLessThan(1e-6);
  });
});

describe("craftStep arguments", () => {
  it("rejects a total step count that is not a non-negative integer", () => {
    expect(() => craftStep(config, float32Space, -1)).toThrow("craftStep: totalSteps must be an integer ≥ 0 (the run's step count), got -1");
    expect(() => craftStep(config, float32Space, Number.NaN)).toThrow(/got NaN/);
  });

  it("rejects gradients of different lengths instead of merging a truncated vector", () => {
    const step = craftStep(config, float32Space, 10);
    expect(() => step(initialCraftState(config), { gTask: f32(1, 2), gRetain: f32(1), retentionLoss: 0, step: 0 })).toThrow(
      /length mismatch: 2 vs 1/,
    );
  });
});

describe("isRetentionStep", () => {
  it("recomputes the retention gradient every retention_freq steps", () => {
    const every3 = makeCraftConfig({ retention_freq: 3 });
    expect([0, 1, 2, 3, 4, 5, 6].map((s) => isRetentionStep(every3, s))).toEqual([
      true,
      false,
      false,
      true,
      false,
      false,
      true,
    ]);
  });
});

describe("decodeCraftState", () => {
  it("rejects a malformed checkpointed state, naming the field", () => {
    expect(decodeCraftState({ lambda: { lambda: -1, integral: 0, ema: null, prevLoss: "x" } })).toEqual({
      _tag: "Left",
      left: [
        "craft_state.lambda.lambda: expected finite number ≥ 0, got -1",
        'craft_state.lambda.prevLoss: expected number | null, got "x"',
      ],
    });
    expect(decodeCraftState(null)).toMatchObject({ _tag: "Left" });
  });
});
