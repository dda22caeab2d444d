import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { adamwStep, createAdamWState, namedGradientSpace } from "../src/index.js";
import { clipByGlobalNorm } from "../src/clip.js";

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

// torch.optim.AdamW 1.13 (single-tensor path, float32), two groups as LeRobot's decay/no-decay split.
const TORCH_ADAMW = `
import json, sys, torch
a = json.load(sys.stdin)
ps = {k: torch.nn.Parameter(torch.tensor(v, dtype=torch.float32)) for k, v in a["params"].items()}
groups = [{"params": [ps[k] for k in ps if k not in a["no_decay"]]}, {"params": [ps[k] for k in a["no_decay"]], "weight_decay": 0.0}]
opt = torch.optim.AdamW(groups, lr=a["lrs"][0], betas=tuple(a["betas"]), eps=a["eps"], weight_decay=a["wd"], foreach=False)
for lr, grads in zip(a["lrs"], a["grads"]):
    for g in opt.param_groups: g["lr"] = lr
    for k, p in ps.items(): p.grad = torch.tensor(grads[k], dtype=torch.float32)
    opt.step()
out = {"p": {k: p.detach().tolist() for k, p in ps.items()}}
out["m"] = {k: opt.state[p]["exp_avg"].tolist() for k, p in ps.items()}
out["v"] = {k: opt.state[p]["exp_avg_sq"].tolist() for k, p in ps.items()}
print(json.dumps(out))
`;

describe("adamwStep against torch.optim.AdamW", () => {
  it("agrees with PyTorch to float32 rounding over 6 steps, across chunk boundaries and a no-decay group", () => {
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 4294967296) * 2 - 1;
    // 16387 values: one full 16384-float chunk of the kernel plus a 3-value tail (not a multiple of 4).
    const sizes: Record<string, number> = { w: 16387, b: 7, norm: 1, embed: 40 };
    const noDecay = ["b", "norm"];
    const params: Record<string, Float32Array> = {};
    for (const [k, n] of Object.entries(sizes)) params[k] = Float32Array.from({ length: n }, () => rand());
    const lrs = [1e-3, 5e-3, 2e-3, 1e-2, 3e-4, 1e-3];
    // Gradient scales from 1e-4 to 10: √v ≪ eps and ≫ eps both occur.
    const grads = lrs.map((_, s) => Object.fromEntries(Object.entries(sizes).map(([k, n]) => [k, Float32Array.from({ length: n }, (_, i) => rand() * 10 ** ((i + s) % 6 - 4))])));
    const config = { lr: lrs[0], betas: [0.9, 0.95] as [number, number], eps: 1e-8, weight_decay: 0.01 };
    const run = spawnSync("/usr/bin/python3", ["-c", TORCH_ADAMW], {
      input: JSON.stringify({
        params: Object.fromEntries(Object.entries(params).map(([k, v]) => [k, Array.from(v)])),
        grads: grads.map((g) => Object.fromEntries(Object.entries(g).map(([k, v]) => [k, Array.from(v)]))),
        lrs,
        no_decay: noDecay,
        betas: config.betas,
        eps: config.eps,
        wd: config.weight_decay,
      }),
      encoding: "utf8",
      maxBuffer: 64 << 20,
    });
    if (run.status !== 0) throw new Error(`python failed: ${run.stderr}`);
    const torch = JSON.parse(run.stdout) as Record<"p" | "m" | "v", Record<string, number[]>>;
    const state = createAdamWState();
    for (const [s, lr] of lrs.entries()) adamwStep(config, state, params, grads[s], lr, (n) => noDecay.includes(n));
    const ours = { p: params, m: state.m, v: state.v };
    // In float32 units of the terms' scale, as sums cancel: a parameter's includes the steps it took
    // (Σ lr), a first moment's the largest (1 − β1)·|g| it summed (torch may fuse that multiply-add).
    const lrSum = lrs.reduce((a, b) => a + b, 0);
    const worst = { p: 0, m: 0, v: 0 };
    let differing = 0;
    for (const what of ["p", "m", "v"] as const) {
      for (const k of Object.keys(sizes)) {
        const a = ours[what][k];
        const b = torch[what][k];
        expect(a.length).toBe(b.length);
        for (let i = 0; i < a.length; i++) {
          const terms = what === "p" ? lrSum : what === "m" ? 0.1 * Math.max(...grads.map((g) => Math.abs(g[k][i]))) : 0;
          const scale = (Math.abs(b[i]) + terms) * 2 ** -24 || 2 ** -149;
          worst[what] = Math.max(worst[what], Math.abs(a[i] - b[i]) / scale);
          if (a[i] !== b[i]) differing++;
        }
      }
    }
    console.log(`adamw vs torch: worst error in float32 half-ulps ${JSON.stringify(worst)}, ${differing} of ${3 * 16435} values differ`);
    expect(worst.p).toBeLessThan(8);
    expect(worst.m).toBeLessThan(4);
    expect(worst.v).toBeLessThan(4);
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
