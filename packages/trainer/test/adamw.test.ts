import { describe, expect, it } from "vitest";
import { adamwStep, clipByGlobalNorm, createAdamWState, namedGradientSpace } from "../src/index.js";

const optimizer = { lr: 0.1, betas: [0.9, 0.999] as [number, number], eps: 1e-8, weight_decay: 0.01 };

describe("adamwStep", () => {
  it("matches a hand-computed two-step example with decoupled weight decay", () => {
    // Step 1: p = 1·(1 − 0.1·0.01) = 0.999; m = 0.05, v = 2.5e-4; m̂ = 0.5, v̂ = 0.25 → p = 0.999 − 0.1·0.5/0.5 = 0.899.
    // Step 2: p = 0.899·0.999 = 0.898101; m = −0.055, v = 0.00124975; m̂ = −0.055/0.19, v̂ = 0.00124975/0.001999
    //         → p = 0.898101 + 0.1·0.2894737/0.7906884 = 0.9347114.
    const params = { w: Float32Array.from([1]), b: Float32Array.from([1]) };
    const state = createAdamWState();
    const noDecay = (name: string) => name === "b";
    adamwStep(optimizer, state, params, { w: Float32Array.from([0.5]), b: Float32Array.from([0.5]) }, 0.1, noDecay);
    expect(params.w[0]).toBeCloseTo(0.899, 6);
    expect(params.b[0]).toBeCloseTo(0.9, 6);
    adamwStep(optimizer, state, params, { w: Float32Array.from([-1]), b: Float32Array.from([-1]) }, 0.1, noDecay);
    expect(params.w[0]).toBeCloseTo(0.9347114, 6);
    expect(params.b[0]).toBeCloseTo(0.9366104, 6);
    expect(state.step).toBe(2);
    expect(state.m.w[0]).toBeCloseTo(-0.055, 7);
    expect(state.v.w[0]).toBeCloseTo(0.00124975, 9);
  });

  it("leaves parameters without a gradient untouched (frozen), weight decay included", () => {
    const params = { w: Float32Array.from([1, 2]), frozen: Float32Array.from([3, 4]) };
    adamwStep(optimizer, createAdamWState(), params, { w: Float32Array.from([1, 1]) }, 0.1);
    expect(Array.from(params.frozen)).toEqual([3, 4]);
    expect(params.w[0]).not.toBe(1);
  });

  it("rejects a gradient whose shape does not match its parameter", () => {
    const params = { w: Float32Array.from([1, 2]) };
    expect(() => adamwStep(optimizer, createAdamWState(), params, { w: Float32Array.from([1]) }, 0.1)).toThrow(/"w" has 1 values/);
    expect(() => adamwStep(optimizer, createAdamWState(), params, { q: Float32Array.from([1]) }, 0.1)).toThrow(/unknown parameter "q"/);
  });
});

describe("clipByGlobalNorm", () => {
  it("scales a gradient above the bound to max/(‖g‖+1e-6) as torch does", () => {
    const g = { a: Float32Array.from([3]), b: Float32Array.from([4]) };
    const { grad, norm, clipped } = clipByGlobalNorm(namedGradientSpace, g, 1);
    expect(norm).toBe(5);
    expect(clipped).toBe(true);
    expect(grad.a[0]).toBeCloseTo(0.6, 6);
    expect(grad.b[0]).toBeCloseTo(0.8, 6);
    expect(Math.hypot(grad.a[0], grad.b[0])).toBeLessThanOrEqual(1);
  });

  it("passes a gradient within the bound, or with clipping off, through unchanged", () => {
    const g = { a: Float32Array.from([0.3]), b: Float32Array.from([0.4]) };
    expect(clipByGlobalNorm(namedGradientSpace, g, 1).grad).toBe(g);
    const big = { a: Float32Array.from([30]) };
    expect(clipByGlobalNorm(namedGradientSpace, big, 0).grad).toBe(big);
  });
});

describe("namedGradientSpace", () => {
  it("flattens in sorted name order and back", () => {
    const g = { z: Float32Array.from([1, 2]), a: Float32Array.from([3]) };
    const flat = namedGradientSpace.toFlat(g);
    expect(Array.from(flat)).toEqual([3, 1, 2]);
    const back = namedGradientSpace.fromFlat(Float32Array.from([30, 10, 20]), g);
    expect(Array.from(back.a)).toEqual([30]);
    expect(Array.from(back.z)).toEqual([10, 20]);
    expect(() => namedGradientSpace.fromFlat(new Float32Array(4), g)).toThrow(/4 values/);
  });
});
