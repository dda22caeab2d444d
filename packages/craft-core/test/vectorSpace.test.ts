import { describe, expect, it } from "vitest";
import { cosine, float32Space, namedFloat32Space, norm, norm2 } from "../src/index.js";
import { f32 } from "./helpers.js";

describe("float32Space", () => {
  it("computes dot, scale, add and axpy element-wise into fresh arrays", () => {
    const a = f32(1, 2, 3);
    const b = f32(4, -5, 6);
    expect(float32Space.dot(a, b)).toBe(4 - 10 + 18);
    expect(Array.from(float32Space.scale(a, -2))).toEqual([-2, -4, -6]);
    expect(Array.from(float32Space.add(a, b))).toEqual([5, -3, 9]);
    expect(Array.from(float32Space.axpy!(a, 0.5, b))).toEqual([3, -0.5, 6]);
    expect(Array.from(a)).toEqual([1, 2, 3]);
    expect(float32Space.add(a, b)).not.toBe(a);
  });

  it("fused gram and combine match their definitions", () => {
    const a = f32(1, 2, 3, 4, 5);
    const b = f32(-1, 0, 2, 1, 0.5);
    expect(float32Space.gram!(a, b)).toEqual({ ab: -1 + 6 + 4 + 2.5, aa: 55, bb: 1 + 4 + 1 + 0.25 });
    expect(Array.from(float32Space.combine!(2, a, -4, b))).toEqual([6, 4, -2, 4, 8]);
  });

  it("dot(a, a) and gram(a, b).aa agree bit for bit (same summation order)", () => {
    const a = Float32Array.from({ length: 1001 }, (_, i) => Math.sin(i) * 1e3);
    const b = Float32Array.from({ length: 1001 }, (_, i) => Math.cos(i * 0.7));
    const g = float32Space.gram!(a, b);
    expect(g.aa).toBe(float32Space.dot(a, a));
    expect(g.bb).toBe(float32Space.dot(b, b));
    expect(g.ab).toBe(float32Space.dot(a, b));
  });

  it("rejects operands of different lengths", () => {
    expect(() => float32Space.dot(f32(1, 2), f32(1))).toThrow("dot: length mismatch: 2 vs 1");
    expect(() => float32Space.add(f32(1), f32(1, 2))).toThrow(/length mismatch/);
    expect(() => float32Space.combine!(1, f32(1), 1, f32(1, 2))).toThrow(/length mismatch/);
  });
});

describe("norm, norm2, cosine", () => {
  it("work out a 3-4-5 triangle", () => {
    expect(norm2(float32Space, f32(3, 4))).toBe(25);
    expect(norm(float32Space, f32(3, 4))).toBe(5);
    expect(cosine(float32Space, f32(3, 4), f32(4, 3))).toBeCloseTo(24 / 25, 12);
  });

  it("cosine is ±1 for (anti-)parallel, 0 for orthogonal and for a zero vector", () => {
    expect(cosine(float32Space, f32(1, 2, 3), f32(2, 4, 6))).toBeCloseTo(1, 12);
    expect(cosine(float32Space, f32(1, 2, 3), f32(-2, -4, -6))).toBeCloseTo(-1, 12);
    expect(cosine(float32Space, f32(1, 0, 0), f32(0, 5, 0))).toBe(0);
    expect(cosine(float32Space, f32(0, 0, 0), f32(1, 2, 3))).toBe(0);
    expect(cosine(float32Space, f32(1, 2, 3), f32(0, 0, 0))).toBe(0);
  });
});

describe("namedFloat32Space", () => {
  const a = { "vision.w": f32(1, 2), "decoder.b": f32(3) };
  const b = { "vision.w": f32(4, 5), "decoder.b": f32(-6) };

  it("sums the dot products of every parameter", () => {
    expect(namedFloat32Space.dot(a, b)).toBe(4 + 10 - 18);
    expect(namedFloat32Space.gram!(a, b)).toEqual({ ab: -4, aa: 14, bb: 77 });
  });

  it("maps element-wise operations over every parameter, keeping names", () => {
    const sum = namedFloat32Space.axpy!(a, 2, b);
    expect(Object.keys(sum)).toEqual(["vision.w", "decoder.b"]);
    expect(Array.from(sum["vision.w"])).toEqual([9, 12]);
    expect(Array.from(sum["decoder.b"])).toEqual([-9]);
    expect(Array.from(namedFloat32Space.scale(a, 3)["decoder.b"])).toEqual([9]);
    expect(Array.from(namedFloat32Space.add(a, b)["vision.w"])).toEqual([5, 7]);
    expect(Array.from(namedFloat32Space.combine!(1, a, -1, b)["vision.w"])).toEqual([-3, -3]);
  });

  it("accepts the same names in a different order", () => {
    const reordered = { "decoder.b": b["decoder.b"], "vision.w": b["vision.w"] };
    expect(namedFloat32Space.dot(a, reordered)).toBe(-4);
  });

  it("rejects a parameter missing from either side, naming it", () => {
    const missing = { "vision.w": f32(4, 5) };
    expect(() => namedFloat32Space.dot(a, missing)).toThrow(/"decoder\.b".*missing in the second/);
    expect(() => namedFloat32Space.add(missing, a)).toThrow(/"decoder\.b".*missing in the first/);
    const renamed = { "vision.w": f32(4, 5), "decoder.bias": f32(1) };
    expect(() => namedFloat32Space.gram!(a, renamed)).toThrow(/"decoder\.b"/);
    expect(() => namedFloat32Space.combine!(1, a, 1, renamed)).toThrow(/"decoder\.b"/);
  });

  it("rejects a parameter whose lengths differ, naming it", () => {
    const short = { "vision.w": f32(4), "decoder.b": f32(-6) };
    expect(() => namedFloat32Space.dot(a, short)).toThrow('dot: length mismatch for parameter "vision.w": 2 vs 1');
    expect(() => namedFloat32Space.axpy!(a, 1, short)).toThrow(/"vision\.w"/);
  });
});
