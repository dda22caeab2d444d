import { describe, expect, it } from "vitest";
import { applySurgery, float32Space, mergeGradients, SURGERY_EPS } from "../src/index.js";
import { f32, genericFloat32Space } from "./helpers.js";

const close = (actual: Float32Array, expected: number[], digits = 6): void => {
  expect(actual.length).toBe(expected.length);
  actual.forEach((x, i) => expect(x).toBeCloseTo(expected[i], digits));
};

describe.each([
  ["float32Space (fused axpy)", float32Space],
  ["dot/scale/add only", genericFloat32Space],
])("applySurgery on %s", (_name, space) => {
  describe("conflicting 2-D pair g_t=(1,1), g_r=(-1,0): dot −1, ‖g_r‖² 1, ‖g_t‖² 2", () => {
    const gTask = f32(1, 1);
    const gRetain = f32(-1, 0);

    it("none leaves both untouched but still reports the conflict", () => {
      const r = applySurgery(space, "none", gTask, gRetain);
      expect(r).toEqual({ task: gTask, retain: gRetain, dot: -1, conflict: true });
      expect(r.task).toBe(gTask);
    });

    it("project_task removes g_t's component along g_r: (1,1) → (0,1), g_r kept", () => {
      const r = applySurgery(space, "project_task", gTask, gRetain);
      expect(r.dot).toBe(-1);
      expect(r.conflict).toBe(true);
      close(r.task as Float32Array, [0, 1], 9);
      expect(r.retain).toBe(gRetain);
      expect(space.dot(r.task, gRetain)).toBeGreaterThanOrEqual(-1e-9);
    });

    it("pcgrad projects each against the original other: g_t → (0,1), g_r → (-1/2, 1/2)", () => {
      const r = applySurgery(space, "pcgrad", gTask, gRetain);
      close(r.task as Float32Array, [0, 1], 9);
      close(r.retain as Float32Array, [-0.5, 0.5], 9);
    });
  });

  it("conflicting 3-D pair g_t=(1,2,2), g_r=(0,0,-2): project_task gives (1,2,0)", () => {
    const r = applySurgery(space, "project_task", f32(1, 2, 2), f32(0, 0, -2));
    expect(r.dot).toBe(-4);
    close(r.task as Float32Array, [1, 2, 0], 9);
  });

  it("conflicting 3-D pair under pcgrad: g_r=(0,0,-2) → g_r + (4/9)·g_t", () => {
    const r = applySurgery(space, "pcgrad", f32(1, 2, 2), f32(0, 0, -2));
    close(r.task as Float32Array, [1, 2, 0], 9);
    close(r.retain as Float32Array, [4 / 9, 8 / 9, -2 + 8 / 9], 6);
  });

  it("orthogonal pair passes through as the very same arrays", () => {
    const gTask = f32(1, 0, 0);
    const gRetain = f32(0, 3, 0);
    for (const kind of ["project_task", "pcgrad"] as const) {
      const r = applySurgery(space, kind, gTask, gRetain);
      expect(r.task).toBe(gTask);
      expect(r.retain).toBe(gRetain);
      expect(r).toMatchObject({ dot: 0, conflict: false });
    }
  });

  it("aligned pair passes through unchanged", () => {
    const gTask = f32(1, 2, 3);
    const gRetain = f32(2, 4, 6);
    const r = applySurgery(space, "pcgrad", gTask, gRetain);
    expect(r).toEqual({ task: gTask, retain: gRetain, dot: 28, conflict: false });
    expect(r.task).toBe(gTask);
  });

  it("zero-norm gradients never conflict and are left alone (no division by zero)", () => {
    const zero = f32(0, 0, 0);
    const g = f32(1, -2, 3);
    for (const [a, b] of [
      [zero, g],
      [g, zero],
      [zero, zero],
    ]) {
      const r = applySurgery(space, "pcgrad", a, b);
      expect(r.conflict).toBe(false);
      expect(r.task).toBe(a);
      expect(r.retain).toBe(b);
      expect(Array.from(r.task as Float32Array).every(Number.isFinite)).toBe(true);
    }
  });

  it("anti-parallel pair: project_task cancels g_t entirely, pcgrad cancels both", () => {
    const gTask = f32(1, 2, 2);
    const gRetain = f32(-2, -4, -4);
    const one = applySurgery(space, "project_task", gTask, gRetain);
    expect(one.dot).toBe(-18);
    close(one.task as Float32Array, [0, 0, 0], 9);
    expect(one.retain).toBe(gRetain);
    const both = applySurgery(space, "pcgrad", gTask, gRetain);
    close(both.task as Float32Array, [0, 0, 0], 9);
    close(both.retain as Float32Array, [0, 0, 0], 9);
  });

  it("the ε guard only matters for a near-zero g_r: projection coefficient is dot/(‖g_r‖² + 1e-12)", () => {
    expect(SURGERY_EPS).toBe(1e-12);
    const tiny = Math.fround(1e-7); // ‖g_r‖² ≈ 1e-14 ≪ eps: the guard damps the projection to ~1%
    const r = applySurgery(space, "project_task", f32(1, 0), f32(-tiny, 0));
    const c = (-tiny * 1) / (tiny * tiny + 1e-12);
    expect((r.task as Float32Array)[0]).toBeCloseTo(Math.fround(1 - c * -tiny), 6);
    expect(Number.isFinite((r.task as Float32Array)[0])).toBe(true);
  });

  it("subnormal inputs: ‖·‖² is summed in float64 (never underflows), the result stays finite and conflicts by under a float32 half-ulp", () => {
    // The counterexample CI once drew: g_t with a subnormal component. The exact correction is
    // ~6e-45 per component, which float32 can only round to a multiple of 2^-149.
    const gTask = f32(0, -9.80908925027372e-45, 0);
    const gRetain = f32(0, 1.428578495979309, 0.39621639251708984);
    const r = applySurgery(space, "project_task", gTask, gRetain);
    expect(r.conflict).toBe(true);
    const after = float32Space.dot(r.task as Float32Array, gRetain);
    expect(after).toBeGreaterThan(r.dot);
    expect(after).toBeGreaterThanOrEqual(-(2 ** -149) * (1.428578495979309 + 0.39621639251708984));
    // A subnormal g_r: ‖g_r‖² ≈ 2e-90 is still > 0 in float64, and the ε guard keeps the coefficient finite.
    const sub = applySurgery(space, "pcgrad", f32(-1, 0), f32(1.401298464324817e-45, 0));
    expect(sub.conflict).toBe(true);
    for (const v of [...(sub.task as Float32Array), ...(sub.retain as Float32Array)]) expect(Number.isFinite(v)).toBe(true);
    expect((sub.task as Float32Array)[0]).toBe(-1);
  });
});

describe("mergeGradients", () => {
  const gTask = f32(1, 2, 3);
  const gRetain = f32(-1, 0, 1);

  it("sum: g_t + λ·g_r", () => {
    expect(Array.from(mergeGradients(float32Space, "sum", gTask, gRetain, 2))).toEqual([-1, 2, 5]);
    expect(Array.from(mergeGradients(genericFloat32Space, "sum", gTask, gRetain, 2))).toEqual([-1, 2, 5]);
  });

  it("normalized: (g_t + λ·g_r) / (1 + λ)", () => {
    expect(Array.from(mergeGradients(float32Space, "normalized", gTask, gRetain, 3))).toEqual([-0.5, 0.5, 1.5]);
    expect(Array.from(mergeGradients(genericFloat32Space, "normalized", gTask, gRetain, 3))).toEqual([-0.5, 0.5, 1.5]);
  });

  it("λ = 0 gives the task gradient under both merges", () => {
    expect(Array.from(mergeGradients(float32Space, "sum", gTask, gRetain, 0))).toEqual([1, 2, 3]);
    expect(Array.from(mergeGradients(float32Space, "normalized", gTask, gRetain, 0))).toEqual([1, 2, 3]);
  });
});
