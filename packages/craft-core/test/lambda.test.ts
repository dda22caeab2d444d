import { describe, expect, it } from "vitest";
import { initialLambdaState, makeCraftConfig, updateLambda, type LambdaState } from "../src/index.js";

const run = (config: ReturnType<typeof makeCraftConfig>, losses: number[], epsilon: number): LambdaState =>
  losses.reduce((state, loss) => updateLambda(config, state, loss, epsilon), initialLambdaState(config));

describe("dual ascent", () => {
  it("steps λ by η_λ·(L − ε): 1 + 0.1·(2 − 0.5) = 1.15", () => {
    const config = makeCraftConfig({ initial_lambda: 1, lambda_lr: 0.1 });
    const next = updateLambda(config, initialLambdaState(config), 2, 0.5);
    expect(next.lambda).toBeCloseTo(1.15, 14);
    expect(next.prevLoss).toBe(2);
  });

  it("lowers λ while the constraint is satisfied", () => {
    const config = makeCraftConfig({ initial_lambda: 1, lambda_lr: 0.1 });
    expect(updateLambda(config, initialLambdaState(config), 0.2, 0.5).lambda).toBeCloseTo(0.97, 14);
  });

  it("clips λ at 0", () => {
    const config = makeCraftConfig({ initial_lambda: 0.1, lambda_lr: 1 });
    expect(updateLambda(config, initialLambdaState(config), 0, 0.5).lambda).toBe(0);
  });

  it("clips λ at λ_max", () => {
    const config = makeCraftConfig({ initial_lambda: 1.9, lambda_lr: 0.1, lambda_max: 2 });
    expect(updateLambda(config, initialLambdaState(config), 10, 0).lambda).toBe(2);
  });

  it("with lambda_ema uses the EMA of the retention loss, seeded by the first loss", () => {
    const config = makeCraftConfig({ initial_lambda: 1, lambda_lr: 0.1, lambda_ema: 0.5 });
    const first = updateLambda(config, initialLambdaState(config), 2, 1);
    expect(first.ema).toBe(2);
    expect(first.lambda).toBeCloseTo(1.1, 14);
    const second = updateLambda(config, first, 4, 1);
    expect(second.ema).toBe(3); // 0.5·2 + 0.5·4
    expect(second.lambda).toBeCloseTo(1.1 + 0.1 * (3 - 1), 14);
  });

  it("rejects a non-finite retention loss instead of poisoning λ", () => {
    const config = makeCraftConfig();
    expect(() => updateLambda(config, initialLambdaState(config), Number.NaN, 0.1)).toThrow(/finite.*NaN/);
  });
});

describe("PID Lagrangian", () => {
  const pid = makeCraftConfig({ lambda_update: "pid", pid_kp: 1, pid_ki: 0.5, pid_kd: 2, initial_lambda: 1 });

  it("starts its integral at initial_lambda / K_i so that λ does not jump", () => {
    expect(initialLambdaState(pid)).toEqual({ lambda: 1, integral: 2, ema: null, prevLoss: null });
  });

  it("λ = K_p·e + K_i·I + K_d·max(0, ΔL), worked by hand", () => {
    const s1 = updateLambda(pid, initialLambdaState(pid), 1.5, 1); // e = .5, I = 2.5, no previous loss
    expect(s1).toEqual({ lambda: 0.5 + 1.25, integral: 2.5, ema: 1.5, prevLoss: 1.5 });
    const s2 = updateLambda(pid, s1, 2, 1); // e = 1, I = 3.5, ΔL = .5
    expect(s2.lambda).toBeCloseTo(1 + 1.75 + 1, 14);
    const s3 = updateLambda(pid, s2, 1.8, 1); // e = .8, I = 4.3, ΔL < 0 → derivative term 0
    expect(s3.lambda).toBeCloseTo(0.8 + 0.5 * 4.3, 12);
  });

  it("guards integral windup with the clip at 0: a long satisfied stretch banks nothing", () => {
    const config = makeCraftConfig({ lambda_update: "pid", pid_kp: 0, pid_ki: 0.5, pid_kd: 0, initial_lambda: 1 });
    const satisfied = run(config, Array(10).fill(0), 1); // e = −1 ten times
    expect(satisfied.integral).toBe(0);
    expect(satisfied.lambda).toBe(0);
    // One violation raises λ at once; an unguarded integral (2 − 10 + 0.5 < 0) would still read 0.
    const violated = updateLambda(config, satisfied, 1.5, 1);
    expect(violated.integral).toBe(0.5);
    expect(violated.lambda).toBe(0.25);
  });

  it("clips λ to [0, λ_max]", () => {
    const config = makeCraftConfig({ lambda_update: "pid", pid_kp: 10, pid_ki: 0, pid_kd: 0, lambda_max: 3 });
    expect(updateLambda(config, initialLambdaState(config), 5, 0).lambda).toBe(3);
    expect(updateLambda(config, initialLambdaState(config), 0, 5).lambda).toBe(0);
  });

  it("with the default gains (K_p = K_d = 0, K_i = 0.01) follows dual ascent with η = 0.01", () => {
    const pidDefault = makeCraftConfig({ lambda_update: "pid" });
    const dual = makeCraftConfig({ lambda_update: "dual_ascent", lambda_lr: 0.01 });
    const losses = [2, 1.5, 0.3, 0.05, 0.8, 3];
    expect(run(pidDefault, losses, 0.5).lambda).toBeCloseTo(run(dual, losses, 0.5).lambda, 12);
  });
});
