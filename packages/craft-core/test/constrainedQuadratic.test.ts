import { describe, expect, it } from "vitest";
import { craftStep, float32Space, initialCraftState, makeCraftConfig, type CraftConfig } from "../src/index.js";

/*
 * Two quadratics whose minimisers differ: L_task(x) = ½‖x − a‖², L_retain(x) = ½‖x − b‖², with
 * ‖a − b‖² = 9. Starting at the "pretrained" x = b, min L_task s.t. L_retain ≤ ε = 0.5 has its
 * optimum at x* = (a + λ*·b)/(1 + λ*) with ½·9/(1 + λ*)² = ε, i.e. λ* = 2, L_task(x*) = 2.
 * Unconstrained, L_retain would reach 4.5, so the constraint binds.
 */
const a = Float32Array.from([3, 1, 0]);
const b = Float32Array.from([0, 1, 0]);
const halfSquaredDistance = (x: Float32Array, m: Float32Array): number =>
  x.reduce((s, v, i) => s + (v - m[i]) ** 2, 0) / 2;
const gradientTowards = (x: Float32Array, m: Float32Array): Float32Array => x.map((v, i) => v - m[i]);

interface Trace {
  readonly taskLoss: number[];
  readonly retentionLoss: number[];
  readonly lambda: number[];
  readonly epsilon: number[];
}

const train = (config: CraftConfig, steps: number, learningRate: number): Trace => {
  const step = craftStep(config, float32Space, steps);
  let state = initialCraftState(config);
  let x: Float32Array = b.slice();
  const trace: Trace = { taskLoss: [], retentionLoss: [], lambda: [], epsilon: [] };
  for (let t = 0; t < steps; t++) {
    const retentionLoss = halfSquaredDistance(x, b);
    trace.taskLoss.push(halfSquaredDistance(x, a));
    trace.retentionLoss.push(retentionLoss);
    const out = step(state, { gTask: gradientTowards(x, a), gRetain: gradientTowards(x, b), retentionLoss, step: t });
    trace.lambda.push(out.metrics.lambda);
    trace.epsilon.push(out.metrics.epsilon);
    state = out.state;
    x = float32Space.axpy!(x, -learningRate, out.grad);
  }
  return trace;
};

const last = (xs: number[]): number => xs[xs.length - 1];

const lagrangian = {
  enable: true,
  surgery: "none",
  initial_lambda: 0,
  lambda_lr: 0.5,
  epsilon_schedule: "linear",
  epsilon_start: 2,
  epsilon_end: 0.5,
  epsilon_decay_steps: 1000,
} as const;

describe("constrained quadratic problem solved end to end with craftStep", () => {
  it.each([
    ["dual ascent", makeCraftConfig(lagrangian)],
    ["PID", makeCraftConfig({ ...lagrangian, lambda_update: "pid", pid_kp: 1, pid_ki: 0.5, pid_kd: 0.5 })],
  ])("%s: the retention loss ends within 5%% of ε while the task loss decreases", (_name, config) => {
    const trace = train(config, 2000, 0.05);
    const epsilon = last(trace.epsilon);
    expect(epsilon).toBe(0.5);
    expect(Math.abs(last(trace.retentionLoss) - epsilon)).toBeLessThanOrEqual(0.05 * epsilon);
    expect(last(trace.taskLoss)).toBeLessThan(trace.taskLoss[0]);
    expect(last(trace.taskLoss)).toBeLessThan(0.5 * trace.taskLoss[0]);
    // The constraint binds: λ settles at the KKT multiplier λ* = 2 and the task loss at L_task(x*) = 2,
    // far from the unconstrained optimum (L_task = 0, L_retain = 4.5).
    expect(last(trace.lambda)).toBeCloseTo(2, 2);
    expect(last(trace.taskLoss)).toBeCloseTo(2, 2);
  });

  it("without the λ update (λ fixed at 0) the retention loss runs far past ε", () => {
    const trace = train(makeCraftConfig({ ...lagrangian, lambda_lr: 0 }), 2000, 0.05);
    expect(last(trace.retentionLoss)).toBeGreaterThan(4);
  });

  it("project_task alone never lets the collinear task gradient raise the retention loss", () => {
    // On this problem g_t and g_r are anti-parallel once x leaves b, so the projection removes g_t
    // entirely: retention is protected, the ε budget goes unused and λ decays to 0.
    const trace = train(makeCraftConfig({ ...lagrangian, surgery: "project_task" }), 500, 0.05);
    const afterFirstStep = trace.retentionLoss[1];
    expect(Math.max(...trace.retentionLoss.slice(1))).toBeLessThanOrEqual(afterFirstStep * (1 + 1e-6));
    expect(last(trace.lambda)).toBe(0);
  });
});
