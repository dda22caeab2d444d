import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  applySurgery,
  craftStep,
  epsilonAt,
  float32Space,
  initialCraftState,
  initialLambdaState,
  makeCraftConfig,
  mergeGradients,
  namedFloat32Space,
  updateLambda,
  type CraftConfig,
  type EpsilonScheduleKind,
  type MergeKind,
  type SurgeryKind,
} from "../src/index.js";
import { concatNamed, genericFloat32Space, l2, maxAbsDiff, sameBits, splitNamed } from "./helpers.js";

const RUNS = { numRuns: 300 };

const vector = (n: number) =>
  fc.float32Array({ minLength: n, maxLength: n, min: -10, max: 10, noNaN: true, noDefaultInfinity: true });

/** Two gradients of the same (random) length. */
const pair = fc.integer({ min: 1, max: 48 }).chain((n) => fc.tuple(vector(n), vector(n)));

const dotOf = (a: Float32Array, b: Float32Array): number => float32Space.dot(a, b);
const negate = (a: Float32Array): Float32Array => float32Space.scale(a, -1);

/** Turn any pair into a conflicting / a non-conflicting one by flipping g_r's sign (exact in float32). */
const conflicting = pair.map(([t, r]) => [t, dotOf(t, r) > 0 ? negate(r) : r] as const);
const nonConflicting = pair.map(([t, r]) => [t, dotOf(t, r) < 0 ? negate(r) : r] as const);

const surgeries: SurgeryKind[] = ["none", "project_task", "pcgrad"];
const merges: MergeKind[] = ["sum", "normalized"];
const schedules: EpsilonScheduleKind[] = ["constant", "linear", "cosine", "exponential"];

/**
 * How far below zero g·g_r may land once the result is stored in float32: each stored component is
 * off by at most half an ulp — relative 2^-24 for normal numbers, and an absolute 2^-150 in the
 * subnormal range, where an ulp is the fixed 2^-149 (e.g. g_t = (0, −9.8e-45, 0) leaves a
 * correction that float32 cannot represent). Two roundings on the dot/scale/add-only path.
 */
const residualConflictBound = (gTask: Float32Array, gRetain: Float32Array): number => {
  let l1 = 0;
  for (const x of gRetain) l1 += Math.abs(x);
  return 1e-6 * l2(gTask) * l2(gRetain) + 2 ** -149 * l1;
};

describe("surgery properties", () => {
  it("after project_task the task gradient no longer conflicts: dot ≥ −(1e-6·‖g_t‖‖g_r‖ + 2^-149·‖g_r‖₁)", () => {
    fc.assert(
      fc.property(conflicting, ([gTask, gRetain]) => {
        // Below this the ε = 1e-12 guard deliberately damps the projection (DESIGN.md §2).
        fc.pre(dotOf(gRetain, gRetain) > 1e-4);
        for (const space of [float32Space, genericFloat32Space]) {
          const { task } = applySurgery(space, "project_task", gTask, gRetain);
          expect(dotOf(task, gRetain)).toBeGreaterThanOrEqual(-residualConflictBound(gTask, gRetain));
        }
      }),
      RUNS,
    );
  });

  it("after pcgrad each projected gradient stops conflicting with the other's original", () => {
    fc.assert(
      fc.property(conflicting, ([gTask, gRetain]) => {
        fc.pre(dotOf(gRetain, gRetain) > 1e-4 && dotOf(gTask, gTask) > 1e-4);
        const { task, retain } = applySurgery(float32Space, "pcgrad", gTask, gRetain);
        expect(dotOf(task, gRetain)).toBeGreaterThanOrEqual(-residualConflictBound(gTask, gRetain));
        expect(dotOf(retain, gTask)).toBeGreaterThanOrEqual(-residualConflictBound(gRetain, gTask));
      }),
      RUNS,
    );
  });

  it("non-conflicting pairs pass through bit for bit, and so does the merged gradient", () => {
    fc.assert(
      fc.property(nonConflicting, fc.double({ min: 0, max: 50, noNaN: true }), ([gTask, gRetain], lambda) => {
        for (const kind of surgeries) {
          const r = applySurgery(float32Space, kind, gTask, gRetain);
          expect(r.conflict).toBe(false);
          expect(r.task).toBe(gTask);
          expect(r.retain).toBe(gRetain);
        }
        const config = makeCraftConfig({ surgery: "project_task", merge: "sum", initial_lambda: lambda });
        // The merged gradient is exactly the space's own g_t + λ·g_r of the untouched pair (for the
        // fused path: one pass sa·g_t + sb·g_r with sa = 1, sb = λ, i.e. the same rounding as axpy).
        for (const space of [float32Space, genericFloat32Space]) {
          const { grad } = craftStep(config, space, 10)(initialCraftState(config), { gTask, gRetain, retentionLoss: 0, step: 0 });
          expect(sameBits(grad, mergeGradients(space, "sum", gTask, gRetain, lambda))).toBe(true);
        }
      }),
      RUNS,
    );
  });

  it("project_task is idempotent", () => {
    fc.assert(
      fc.property(conflicting, ([gTask, gRetain]) => {
        fc.pre(dotOf(gRetain, gRetain) > 1e-4);
        const once = applySurgery(float32Space, "project_task", gTask, gRetain).task;
        const twice = applySurgery(float32Space, "project_task", once, gRetain).task;
        expect(maxAbsDiff(once, twice)).toBeLessThanOrEqual(1e-6 * (l2(gTask) + 1e-30));
      }),
      RUNS,
    );
  });
});

describe("merge properties", () => {
  it("the merged gradient is affine in λ for sum, and (g_t + λ·g_r)/(1+λ) for normalized", () => {
    fc.assert(
      fc.property(
        pair,
        fc.double({ min: 0, max: 20, noNaN: true }),
        fc.double({ min: 0, max: 20, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        ([gTask, gRetain], l1, l2_, alpha) => {
          const sum = (lambda: number) => mergeGradients(float32Space, "sum", gTask, gRetain, lambda);
          const mixed = sum(alpha * l1 + (1 - alpha) * l2_);
          const a = sum(l1);
          const b = sum(l2_);
          const scale = l2(gTask) + 20 * l2(gRetain);
          for (let i = 0; i < mixed.length; i++) {
            expect(Math.abs(mixed[i] - (alpha * a[i] + (1 - alpha) * b[i]))).toBeLessThanOrEqual(1e-5 * scale + 1e-30);
          }
          const normalized = mergeGradients(float32Space, "normalized", gTask, gRetain, l1);
          const s1 = sum(l1);
          for (let i = 0; i < normalized.length; i++) {
            expect(Math.abs(normalized[i] * (1 + l1) - s1[i])).toBeLessThanOrEqual(1e-5 * scale + 1e-30);
          }
        },
      ),
      RUNS,
    );
  });
});

describe("schedule and λ properties", () => {
  const scheduleConfig = fc.record({
    epsilon_schedule: fc.constantFrom(...schedules),
    epsilon_start: fc.double({ min: 1e-3, max: 10, noNaN: true }),
    epsilon_end: fc.double({ min: 1e-3, max: 10, noNaN: true }),
    epsilon_warmup_steps: fc.integer({ min: 0, max: 50 }),
    epsilon_decay_steps: fc.option(fc.integer({ min: 0, max: 500 }), { nil: null }),
  });

  it("ε moves monotonically from epsilon_start to epsilon_end and never leaves that interval", () => {
    fc.assert(
      fc.property(scheduleConfig, fc.integer({ min: 1, max: 500 }), (settings, totalSteps) => {
        const config = makeCraftConfig(settings);
        const lo = Math.min(config.epsilon_start, config.epsilon_end);
        const hi = Math.max(config.epsilon_start, config.epsilon_end);
        const direction = config.epsilon_schedule === "constant" ? 0 : Math.sign(config.epsilon_end - config.epsilon_start);
        const slack = 1e-12 * hi;
        let previous = epsilonAt(config, 0, totalSteps);
        // A decay over zero steps with no warmup is already at its end at step 0.
        const immediate = config.epsilon_decay_steps === 0 && config.epsilon_warmup_steps === 0 && config.epsilon_schedule !== "constant";
        expect(previous).toBe(immediate ? config.epsilon_end : config.epsilon_start);
        for (let step = 1; step <= totalSteps + 600; step += 7) {
          const eps = epsilonAt(config, step, totalSteps);
          expect(eps).toBeGreaterThanOrEqual(lo - slack);
          expect(eps).toBeLessThanOrEqual(hi + slack);
          if (direction <= 0) expect(eps).toBeLessThanOrEqual(previous + slack);
          if (direction >= 0) expect(eps).toBeGreaterThanOrEqual(previous - slack);
          previous = eps;
        }
        if (config.epsilon_schedule !== "constant") {
          expect(epsilonAt(config, totalSteps + config.epsilon_warmup_steps + 600, totalSteps)).toBe(config.epsilon_end);
        }
      }),
      RUNS,
    );
  });

  it("λ stays in [0, λ_max] under dual ascent and PID, whatever the losses", () => {
    const lambdaConfig = fc.record({
      lambda_update: fc.constantFrom("dual_ascent" as const, "pid" as const),
      lambda_max: fc.double({ min: 1e-3, max: 100, noNaN: true }),
      lambda_lr: fc.double({ min: 0, max: 10, noNaN: true }),
      pid_kp: fc.double({ min: 0, max: 10, noNaN: true }),
      pid_ki: fc.double({ min: 0, max: 10, noNaN: true }),
      pid_kd: fc.double({ min: 0, max: 10, noNaN: true }),
      lambda_ema: fc.double({ min: 0, max: 0.99, noNaN: true }),
      lambda_fraction: fc.double({ min: 0, max: 1, noNaN: true }),
    });
    fc.assert(
      fc.property(
        lambdaConfig,
        fc.array(fc.tuple(fc.double({ min: 0, max: 1e3, noNaN: true }), fc.double({ min: 0, max: 10, noNaN: true })), {
          maxLength: 60,
        }),
        ({ lambda_fraction, ...settings }, updates) => {
          const config: CraftConfig = makeCraftConfig({ ...settings, initial_lambda: lambda_fraction * settings.lambda_max });
          let state = initialLambdaState(config);
          for (const [loss, epsilon] of updates) {
            state = updateLambda(config, state, loss, epsilon);
            expect(state.lambda).toBeGreaterThanOrEqual(0);
            expect(state.lambda).toBeLessThanOrEqual(config.lambda_max);
            expect(state.integral).toBeGreaterThanOrEqual(0);
          }
        },
      ),
      RUNS,
    );
  });
});

describe("instances agree", () => {
  it("Float32Array and named-map instances give the same craftStep results on the same data", () => {
    fc.assert(
      fc.property(
        pair,
        fc.array(fc.integer({ min: 1, max: 47 }), { maxLength: 5 }),
        fc.constantFrom(...surgeries),
        fc.constantFrom(...merges),
        fc.double({ min: 0, max: 10, noNaN: true }),
        ([gTask, gRetain], cuts, surgery, merge, lambda) => {
          const config = makeCraftConfig({ surgery, merge, initial_lambda: lambda });
          const input = { gTask, gRetain, retentionLoss: 0.3, step: 2 };
          const flat = craftStep(config, float32Space, 10)(initialCraftState(config), input);
          const named = craftStep(config, namedFloat32Space, 10)(initialCraftState(config), {
            ...input,
            gTask: splitNamed(gTask, cuts),
            gRetain: splitNamed(gRetain, cuts),
          });
          const scale = l2(gTask) + (1 + lambda) * l2(gRetain) + 1e-30;
          expect(maxAbsDiff(concatNamed(named.grad), flat.grad)).toBeLessThanOrEqual(1e-5 * scale);
          expect(named.metrics.conflict).toBe(flat.metrics.conflict);
          expect(named.metrics.dot).toBeCloseTo(flat.metrics.dot, 3);
          expect(named.metrics.gradNorm).toBeCloseTo(flat.metrics.gradNorm, 3);
          expect(named.state).toEqual(flat.state);
        },
      ),
      RUNS,
    );
  });

  it("the fused fast path and the generic dot/scale/add path give the same results", () => {
    fc.assert(
      fc.property(
        pair,
        fc.constantFrom(...surgeries),
        fc.constantFrom(...merges),
        fc.double({ min: 0, max: 10, noNaN: true }),
        ([gTask, gRetain], surgery, merge, lambda) => {
          const config = makeCraftConfig({ surgery, merge, initial_lambda: lambda });
          const input = { gTask, gRetain, retentionLoss: 0.3, step: 2 };
          const fused = craftStep(config, float32Space, 10)(initialCraftState(config), input);
          const generic = craftStep(config, genericFloat32Space, 10)(initialCraftState(config), input);
          const scale = l2(gTask) + (1 + lambda) * l2(gRetain) + 1e-30;
          expect(maxAbsDiff(fused.grad, generic.grad)).toBeLessThanOrEqual(1e-5 * scale);
          for (const key of ["taskNormAfter", "retainNormAfter", "gradNorm"] as const) {
            expect(Math.abs(fused.metrics[key] - generic.metrics[key])).toBeLessThanOrEqual(1e-5 * scale);
          }
          expect(fused.metrics.dot).toBe(generic.metrics.dot);
          expect(fused.metrics.cosine).toBeCloseTo(generic.metrics.cosine, 9);
        },
      ),
      RUNS,
    );
  });
});
