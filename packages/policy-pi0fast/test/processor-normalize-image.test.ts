import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { featureNormalizer, NORMALIZE_EPS, type NormalizationMode } from "../src/normalize";
import { resizeWithPad } from "../src/image";
import { discretizeState } from "../src/processor";
import { roundHalfEven } from "../src/fast/tokenizer";

/** Runs a Python snippet (torch / numpy, an independent implementation) on JSON input, returns its JSON output. */
function python(code: string, input: unknown): any {
  const run = spawnSync("/usr/bin/python3", ["-c", code], { input: JSON.stringify(input), encoding: "utf8", maxBuffer: 64 << 20 });
  if (run.status !== 0) throw new Error(`python failed: ${run.stderr}`);
  return JSON.parse(run.stdout);
}

/** Deterministic values in [lo, hi) (xorshift, fixed seed). */
function values(n: number, lo: number, hi: number, seed: number): number[] {
  let s = seed >>> 0 || 1;
  return Array.from({ length: n }, () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return lo + ((s >>> 0) / 2 ** 32) * (hi - lo);
  });
}

// LeRobot's NormalizerProcessorStep._apply_transform, written out in torch float32 (eps 1e-8).
const LEROBOT_NORMALIZE = `
import json, sys, torch
import numpy as np
a = json.load(sys.stdin)
s = {k: torch.tensor(v, dtype=torch.float32) for k, v in a["stats"].items()}
x = torch.tensor(a["x"], dtype=torch.float32).reshape(-1, len(a["stats"]["mean"]))
eps = 1e-8
out = {}
def bounded(lo, hi, x, inverse):
    d = hi - lo
    d = torch.where(d == 0, torch.tensor(eps, dtype=torch.float32), d)
    return (x + 1.0) * d / 2.0 + lo if inverse else 2.0 * (x - lo) / d - 1.0
for mode in ["MEAN_STD", "MIN_MAX", "QUANTILES", "QUANTILE10"]:
    if mode == "MEAN_STD":
        n = (x - s["mean"]) / (s["std"] + eps)
        u = n * s["std"] + s["mean"]
    else:
        lo, hi = {"MIN_MAX": ("min", "max"), "QUANTILES": ("q01", "q99"), "QUANTILE10": ("q10", "q90")}[mode]
        n = bounded(s[lo], s[hi], x, False)
        u = bounded(s[lo], s[hi], n, True)
    bins = np.digitize(n.numpy(), bins=np.linspace(-1, 1, 256 + 1)[:-1]) - 1
    out[mode] = {"n": n.flatten().tolist(), "u": u.flatten().tolist(), "bins": bins.flatten().tolist()}
print(json.dumps(out))
`;

describe("normalisation as LeRobot's normalize_processor", () => {
  const D = 5;
  // dimension 2 is constant (zero range / zero std): eps takes over
  const lo = values(D, -3, 0, 7);
  const hi = values(D, 0.5, 4, 11);
  lo[2] = hi[2] = 1.25;
  const stats = {
    "observation.state": {
      mean: lo.map((l, d) => (l + hi[d]) / 2),
      std: hi.map((h, d) => (d === 2 ? 0 : (h - lo[d]) / 3)),
      min: lo,
      max: hi,
      q01: lo.map((l) => l + 0.1),
      q99: hi.map((h, d) => (d === 2 ? lo[2] + 0.1 : h - 0.1)),
      q10: lo.map((l) => l + 0.5),
      q90: hi.map((h, d) => (d === 2 ? lo[2] + 0.5 : h - 0.5)),
    },
  };
  const x = values(40 * D, -5, 5, 3);
  for (let i = 2; i < x.length; i += D) x[i] = 1.25 + (i % 3 === 0 ? 0 : 1e-3);
  const reference = python(LEROBOT_NORMALIZE, { stats: stats["observation.state"], x });

  for (const mode of ["MEAN_STD", "MIN_MAX", "QUANTILES", "QUANTILE10"] as const) {
    it(`${mode} matches LeRobot's float32 result bit for bit, state bins included, and inverts as LeRobot does`, () => {
      const n = featureNormalizer(stats, "observation.state", mode);
      expect(n.dim).toBe(D);
      const normalized = n.normalize(Float32Array.from(x));
      expect(Array.from(normalized)).toEqual(reference[mode].n);
      expect(Array.from(normalized, discretizeState)).toEqual(reference[mode].bins);
      expect(Array.from(n.unnormalize(Float32Array.from(normalized)))).toEqual(reference[mode].u);
    });
  }

  it("IDENTITY leaves values alone and needs no statistics", () => {
    const n = featureNormalizer({}, "action", "IDENTITY");
    expect(Array.from(n.normalize(Float32Array.from([3, -7])))).toEqual([3, -7]);
    expect(n.dim).toBeUndefined();
  });

  it("replaces a zero quantile range by eps (not added to it)", () => {
    const n = featureNormalizer({ s: { q01: [3], q99: [3] } }, "s", "QUANTILES");
    const out = n.normalize(Float32Array.from([3, 3.5]));
    expect(out[0]).toBe(-1);
    expect(out[1]).toBeCloseTo(2 * 0.5 / NORMALIZE_EPS - 1, -3);
  });

  it("names the file field and what the mode needs when statistics are missing", () => {
    expect(() => featureNormalizer({}, "observation.state", "MEAN_STD")).toThrow("stats.observation.state: expected mean and std for normalization mode MEAN_STD, got no statistics");
    expect(() => featureNormalizer({ s: { mean: [0] } }, "s", "QUANTILE10")).toThrow("stats.s: expected q10 and q90 for normalization mode QUANTILE10, got mean");
    expect(() => featureNormalizer({ s: { q01: [0, 1], q99: [1] } }, "s", "QUANTILES" as NormalizationMode)).toThrow("stats.s.q99: expected 2 values like q01, got 1");
  });
});

describe("state bins and rounding as numpy", () => {
  it("np.digitize(x, linspace(−1, 1, 257)[:-1]) − 1, edges, out-of-range and NaN included", () => {
    const edges = Array.from({ length: 257 }, (_, i) => -1 + (2 * i) / 256);
    const xs = [...values(300, -1.3, 1.3, 5), ...edges, ...edges.map((e) => e - 1e-9), -1, 1, -5, 5, -1.0000001];
    const ref = python(
      "import json,sys,numpy as np\nx=np.array(json.load(sys.stdin),dtype=np.float32)\nprint(json.dumps((np.digitize(x,bins=np.linspace(-1,1,257)[:-1])-1).tolist()+[int(np.digitize(np.float32('nan'),bins=np.linspace(-1,1,257)[:-1])-1)]))",
      xs,
    );
    expect([...Array.from(Float32Array.from(xs), discretizeState), discretizeState(NaN)]).toEqual(ref);
    expect(discretizeState(-1.5)).toBe(-1);
  });

  it("rounds half to even like np.around", () => {
    const xs = [0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 3.4999, 7.5, -7.5, 1e6 + 0.5, 0.49999999999999994, ...values(200, -50, 50, 9).map((v) => Math.round(v * 2) / 2)];
    const ref = python("import json,sys,numpy as np\nprint(json.dumps([float(v) for v in np.around(np.array(json.load(sys.stdin)))]))", xs);
    expect(xs.map((x) => roundHalfEven(x) + 0)).toEqual(ref.map((v: number) => v + 0));
  });
});

// LeRobot's resize_with_pad_torch (policies/common/vla_utils.py) on float32 images in [0, 1], then × 2 − 1.
const LEROBOT_RESIZE = `
import json, sys, torch
import torch.nn.functional as F
out = []
for a in json.load(sys.stdin):
    img = torch.tensor(a["px"], dtype=torch.float32).reshape(1, a["h"], a["w"], 3) / 255.0
    img = img.permute(0, 3, 1, 2)
    H, W = a["target"]
    ratio = max(a["w"] / W, a["h"] / H)
    rh, rw = int(a["h"] / ratio), int(a["w"] / ratio)
    r = F.interpolate(img, size=(rh, rw), mode="bilinear", align_corners=False).clamp(0.0, 1.0)
    ph0, remh = divmod(H - rh, 2)
    pw0, remw = divmod(W - rw, 2)
    r = F.pad(r, (pw0, pw0 + remw, ph0, ph0 + remh), mode="constant", value=0.0)
    out.append((r.permute(0, 2, 3, 1) * 2.0 - 1.0).flatten().tolist())
print(json.dumps(out))
`;

describe("resize with padding as LeRobot's resize_with_pad_torch", () => {
  const cases: [number, number, [number, number]][] = [
    [5, 9, [8, 8]], // wide: black rows above and below, the odd one at the bottom
    [9, 4, [7, 7]], // tall: black columns left and right
    [6, 6, [4, 4]], // square downscale, no padding
    [3, 7, [16, 12]], // upscale
  ];
  const images = cases.map(([h, w]) => Uint8Array.from(values(h * w * 3, 0, 256, h * 31 + w), Math.floor));
  const references: number[][] = python(
    LEROBOT_RESIZE,
    cases.map(([h, w, target], i) => ({ px: Array.from(images[i]), h, w, target })),
  );
  cases.forEach(([h, w, target], i) => {
    it(`${h}×${w} → ${target.join("×")} matches torch (bilinear, align_corners = False, centred black bars)`, () => {
      const ref = references[i];
      const out = resizeWithPad(images[i], h, w, target);
      expect(out.length).toBe(ref.length);
      let worst = 0;
      for (let j = 0; j < out.length; j++) worst = Math.max(worst, Math.abs(out[j] - ref[j]));
      expect(worst).toBeLessThan(1e-5);
    });
  });

  it("centres the bars: a 2×4 white image in 4×4 has one black row above and one below", () => {
    const out = resizeWithPad(new Uint8Array(2 * 4 * 3).fill(255), 2, 4, [4, 4]);
    const row = (r: number): number[] => Array.from(out.subarray(r * 12, r * 12 + 12));
    expect([0, 1, 2, 3].map((r) => row(r).every((v) => v === -1))).toEqual([true, false, false, true]);
    expect(row(1).every((v) => v === 1) && row(2).every((v) => v === 1)).toBe(true);
  });

  it("rejects a buffer of the wrong size", () => {
    expect(() => resizeWithPad(new Uint8Array(5), 2, 2, [2, 2])).toThrow(/expected 2×2×3 = 12 bytes, got 5/);
  });
});
