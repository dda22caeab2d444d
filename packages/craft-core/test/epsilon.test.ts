import { describe, expect, it } from "vitest";
import { defaultCraftConfig, epsilonAt, scheduleProgress, type CraftConfig } from "../src/index.js";

const schedule = (settings: Partial<CraftConfig>): CraftConfig => ({
  ...defaultCraftConfig,
  epsilon_start: 1.0,
  epsilon_end: 0.1,
  ...settings,
});

const TOTAL = 100;

describe("epsilonAt from 1.0 to 0.1 over 100 steps", () => {
  it.each([
    // [schedule, start(0), middle(50), end(100), past end(250)]
    ["constant", 1.0, 1.0, 1.0, 1.0],
    ["linear", 1.0, 0.55, 0.1, 0.1],
    ["cosine", 1.0, 0.55, 0.1, 0.1],
    ["exponential", 1.0, Math.sqrt(0.1), 0.1, 0.1],
  ] as const)("%s: start %f, middle %f, end %f, past the end %f", (kind, s0, s50, s100, s250) => {
    const config = schedule({ epsilon_schedule: kind });
    expect(epsilonAt(config, 0, TOTAL)).toBeCloseTo(s0, 12);
    expect(epsilonAt(config, 50, TOTAL)).toBeCloseTo(s50, 12);
    expect(epsilonAt(config, 100, TOTAL)).toBeCloseTo(s100, 12);
    expect(epsilonAt(config, 250, TOTAL)).toBeCloseTo(s250, 12);
  });

  it("hits the endpoints exactly", () => {
    for (const kind of ["linear", "cosine", "exponential"] as const) {
      expect(epsilonAt(schedule({ epsilon_schedule: kind }), 0, TOTAL)).toBe(1.0);
      expect(epsilonAt(schedule({ epsilon_schedule: kind }), 100, TOTAL)).toBe(0.1);
    }
  });

  it("a quarter of the way: linear 0.775, cosine 0.1 + 0.45·(1 + cos(π/4)), exponential 0.1^0.25", () => {
    expect(epsilonAt(schedule({ epsilon_schedule: "linear" }), 25, TOTAL)).toBeCloseTo(0.775, 12);
    expect(epsilonAt(schedule({ epsilon_schedule: "cosine" }), 25, TOTAL)).toBeCloseTo(0.1 + 0.45 * (1 + Math.SQRT1_2), 12);
    expect(epsilonAt(schedule({ epsilon_schedule: "exponential" }), 25, TOTAL)).toBeCloseTo(0.1 ** 0.25, 12);
  });

  it("can increase as well: linear from 0.1 up to 0.5", () => {
    const config = schedule({ epsilon_schedule: "linear", epsilon_start: 0.1, epsilon_end: 0.5 });
    expect(epsilonAt(config, 50, TOTAL)).toBeCloseTo(0.3, 12);
    expect(epsilonAt(config, 200, TOTAL)).toBe(0.5);
  });
});

describe("warmup and decay length", () => {
  const config = schedule({ epsilon_schedule: "linear", epsilon_warmup_steps: 10, epsilon_decay_steps: 40 });

  it("holds the start value through the warmup", () => {
    expect(epsilonAt(config, 0, TOTAL)).toBe(1.0);
    expect(epsilonAt(config, 5, TOTAL)).toBe(1.0);
    expect(epsilonAt(config, 10, TOTAL)).toBe(1.0);
  });

  it("decays over epsilon_decay_steps after the warmup, then holds the end value", () => {
    expect(epsilonAt(config, 30, TOTAL)).toBeCloseTo(0.55, 12);
    expect(epsilonAt(config, 50, TOTAL)).toBe(0.1);
    expect(epsilonAt(config, 60, TOTAL)).toBe(0.1);
  });

  it("decay_steps defaults to the run's total steps", () => {
    const byTotal = schedule({ epsilon_schedule: "linear", epsilon_decay_steps: null });
    expect(scheduleProgress(byTotal, 50, 200)).toBe(0.25);
    expect(scheduleProgress(byTotal, 50, 100)).toBe(0.5);
  });

  it("zero decay steps jump to the end value once the warmup is over", () => {
    const jump = schedule({ epsilon_schedule: "cosine", epsilon_decay_steps: 0, epsilon_warmup_steps: 3 });
    expect(epsilonAt(jump, 2, TOTAL)).toBe(1.0);
    expect(epsilonAt(jump, 3, TOTAL)).toBe(0.1);
  });
});
