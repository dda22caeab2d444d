import { describe, expect, it, beforeAll } from "vitest";
import fc from "fast-check";
import { dctII, dctIII } from "../src/fast/dct";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fitFastTokenizer, fastTokenizerFromJSON, loadFastTokenizer, saveFastTokenizer, type FastTokenizer } from "../src/fast/tokenizer";
import { loadSo101Actions, normalisedChunks, type So101Actions } from "./fast-so101";

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

describe("orthonormal DCT", () => {
  it("matches hand-computed values for N = 2", () => {
    // X0 = (x0 + x1)/√2, X1 = (x0 − x1)/√2
    const out = dctII([3, 1], 2, 1);
    expect(out[0]).toBeCloseTo(4 / Math.SQRT2, 12);
    expect(out[1]).toBeCloseTo(2 / Math.SQRT2, 12);
  });

  it("matches hand-computed values for N = 4, per column of [T, D]", () => {
    // column 0 = [1, 2, 3, 4]; column 1 = constant 1
    const x = [1, 1, 2, 1, 3, 1, 4, 1];
    const out = dctII(x, 4, 2);
    // scipy.fft.dct([1, 2, 3, 4], norm="ortho"): X0 = 10/2, X1 = −(√2/2)(3cos(π/8) + cos(3π/8)), X2 = 0,
    // X3 = (√2/2)(cos(π/8) − 3cos(3π/8))
    const expected0 = [5, -2.230442497, 0, -0.158512668];
    expect(-(Math.SQRT2 / 2) * (3 * Math.cos(Math.PI / 8) + Math.cos((3 * Math.PI) / 8))).toBeCloseTo(expected0[1], 8);
    expect((Math.SQRT2 / 2) * (Math.cos(Math.PI / 8) - 3 * Math.cos((3 * Math.PI) / 8))).toBeCloseTo(expected0[3], 8);
    for (let k = 0; k < 4; k++) expect(out[k * 2]).toBeCloseTo(expected0[k], 8);
    // a constant column has only a DC term: 4 · 1 / √4 = 2
    expect([out[1], out[3], out[5], out[7]].map((v) => Math.abs(Number(v.toFixed(12))))).toEqual([2, 0, 0, 0]);
  });

  it("DCT-III inverts DCT-II and preserves the L2 norm", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 60 }), fc.integer({ min: 1, max: 8 }), fc.integer(), (T, D, seed) => {
        let s = seed >>> 0;
        const x = Float64Array.from({ length: T * D }, () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32) * 2 - 1);
        const X = dctII(x, T, D);
        expect(maxAbsDiff(dctIII(X, T, D), x)).toBeLessThan(1e-5);
        const norm = (v: ArrayLike<number>): number => Math.sqrt(Array.from(v).reduce((a, b) => a + b * b, 0));
        expect(Math.abs(norm(X) - norm(x))).toBeLessThan(1e-9 * (1 + norm(x)));
      }),
      { numRuns: 50 },
    );
  });

  it("rejects a shape that does not match the data", () => {
    expect(() => dctII([1, 2, 3], 2, 2)).toThrow(/2×2 = 4 values, got 3/);
  });
});

describe("FAST tokenizer on real so101 actions", () => {
  const T = 50;
  const D = 6;
  let data: So101Actions;
  let train: Float32Array[];
  let tokenizer: FastTokenizer;
  beforeAll(async () => {
    data = await loadSo101Actions();
    train = normalisedChunks(data, T, 5);
    tokenizer = fitFastTokenizer(train, { chunkSize: T, actionDim: D, vocabSize: 1024, scale: 10 });
  });

  it("uses ids in [0, vocabSize) and round-trips within the quantisation step", () => {
    const step = 0.5 / tokenizer.scale;
    for (const chunk of normalisedChunks(data, T, 37)) {
      const tokens = tokenizer.encode(chunk);
      expect(tokens.every((t) => Number.isInteger(t) && t >= 0 && t < 1024)).toBe(true);
      const { actions, valid } = tokenizer.decode(tokens);
      expect(valid).toBe(true);
      expect(actions.length).toBe(T * D);
      // per-coefficient error ≤ 0.5/scale; orthonormal inverse keeps the same bound in L2 per column
      const back = dctII(actions, T, D);
      const coeff = dctII(chunk, T, D);
      expect(maxAbsDiff(back, coeff)).toBeLessThanOrEqual(step + 1e-5);
      for (let d = 0; d < D; d++) {
        let sq = 0;
        for (let t = 0; t < T; t++) sq += (actions[t * D + d] - chunk[t * D + d]) ** 2;
        expect(Math.sqrt(sq)).toBeLessThanOrEqual(step * Math.sqrt(T) + 1e-4);
      }
    }
  });

  it("compresses a 50×6 chunk to far fewer tokens than values", () => {
    const evalChunks = normalisedChunks(data, T, 3);
    let total = 0;
    for (const c of evalChunks) total += tokenizer.encode(c).length;
    const perChunk = total / evalChunks.length;
    const ratio = (T * D) / perChunk;
    const merges = (tokenizer.toJSON().tokenizer.model as { merges: unknown[] }).merges.length;
    console.log(`FAST so101: ${evalChunks.length} chunks, ${perChunk.toFixed(1)} tokens/chunk vs ${T * D} values, ratio ${ratio.toFixed(2)}, merges ${merges}`);
    expect(ratio).toBeGreaterThan(RATIO_FLOOR);
  });

  it("saves and loads through JSON with identical encodings", () => {
    const json = JSON.parse(JSON.stringify(tokenizer.toJSON()));
    const loaded = fastTokenizerFromJSON(json);
    for (const c of train.slice(0, 20)) expect(loaded.encode(c)).toEqual(tokenizer.encode(c));
    expect(loaded.chunkSize).toBe(T);
  });

  it("fits deterministically", () => {
    const again = fitFastTokenizer(train, { chunkSize: T, actionDim: D, vocabSize: 1024, scale: 10 });
    expect(JSON.stringify(again.toJSON())).toBe(JSON.stringify(tokenizer.toJSON()));
  });

  it("decodes truncated, overlong and unknown-token sequences to a chunk of the right shape, flagged invalid", () => {
    const chunk = train[0];
    const tokens = tokenizer.encode(chunk);
    const full = tokenizer.decode(tokens).actions;

    const truncated = tokenizer.decode(tokens.slice(0, Math.max(1, tokens.length >> 1)));
    expect(truncated.valid).toBe(false);
    expect(truncated.actions.length).toBe(T * D);
    expect(truncated.actions.every(Number.isFinite)).toBe(true);
    // the low frequencies survive: the truncated decode stays closer to the chunk than zeros do
    const err = (a: Float32Array): number => a.reduce((s, v, i) => s + (v - chunk[i]) ** 2, 0);
    expect(err(truncated.actions)).toBeLessThan(err(new Float32Array(T * D)));

    const overlong = tokenizer.decode([...tokens, ...tokens.slice(0, 5)]);
    expect(overlong.valid).toBe(false);
    expect(maxAbsDiff(overlong.actions, full)).toBeLessThan(1e-6);

    const unknown = tokenizer.decode([...tokens.slice(0, 3), 5000, -1, ...tokens.slice(3)]);
    expect(unknown.valid).toBe(false);
    expect(maxAbsDiff(unknown.actions, full)).toBeLessThan(1e-6);

    const empty = tokenizer.decode([], { chunkSize: 10, actionDim: D });
    expect(empty).toEqual({ actions: new Float32Array(10 * D), valid: false, coefficients: 0, unknown: 0 });
  });

  it("quantises exactly as FAST does (scipy dct(norm=ortho) · scale, np.around), losslessly through the BPE", () => {
    const sample = normalisedChunks(data, T, 97).slice(0, 12);
    const reference: number[][] = JSON.parse(
      spawnSync(
        "/usr/bin/python3",
        ["-c", "import json,sys,numpy as np\nfrom scipy.fft import dct\nprint(json.dumps([np.around(dct(np.array(c,dtype=np.float32).reshape(-1,6),axis=0,norm='ortho')*10).astype(int).flatten().tolist() for c in json.load(sys.stdin)]))"],
        { input: JSON.stringify(sample.map((c) => Array.from(c))), encoding: "utf8" },
      ).stdout,
    );
    sample.forEach((chunk, i) => {
      const decoded = tokenizer.decode(tokenizer.encode(chunk));
      const coefficients = Array.from(dctII(decoded.actions, T, D), (v) => Math.round(v * 10) + 0);
      expect(coefficients).toEqual(reference[i].map((v) => Math.min(Math.max(v, tokenizer.minToken), tokenizer.maxToken)));
    });
  });

  it("writes processor_config.json + tokenizer.json that Hugging Face's Rust tokenizers encodes identically", async () => {
    const dir = mkdtempSync(join(tmpdir(), "fast-"));
    saveFastTokenizer(tokenizer, dir);
    const config = JSON.parse(readFileSync(join(dir, "processor_config.json"), "utf8"));
    expect(config).toEqual({ processor_class: "UniversalActionProcessor", scale: 10, vocab_size: 1024, min_token: tokenizer.minToken, action_dim: D, time_horizon: T });
    const loaded = loadFastTokenizer(dir);
    const rust = createRequire(import.meta.url)("tokenizers");
    const native = rust.Tokenizer.fromFile(join(dir, "tokenizer.json"));
    for (const c of train.slice(0, 15)) {
      const ids = tokenizer.encode(c);
      expect(loaded.encode(c)).toEqual(ids);
      const text = String.fromCodePoint(...Array.from(dctII(c, T, D), (v) => Math.min(Math.max(Math.round(v * 10), tokenizer.minToken), tokenizer.maxToken) - tokenizer.minToken));
      const viaRust = (await native.encode(text, null, { addSpecialTokens: false })).getIds();
      expect(viaRust).toEqual(ids);
    }
  });

  it("clamps coefficients outside the fitted range to the ones the vocabulary spells, never dropping any", () => {
    const wild = train[0].map((v) => v * 8);
    const decoded = tokenizer.decode(tokenizer.encode(wild));
    expect(decoded.valid).toBe(true);
    expect(decoded.coefficients).toBe(T * D);
    const coefficients = Array.from(dctII(decoded.actions, T, D), (v) => Math.round(v * 10) + 0);
    const expected = Array.from(dctII(wild, T, D), (v) => Math.min(Math.max(Math.round(v * 10), tokenizer.minToken), tokenizer.maxToken) + 0);
    expect(coefficients).toEqual(expected);
    expect(expected.some((v) => v === tokenizer.maxToken) && expected.some((v) => v === tokenizer.minToken)).toBe(true);
    expect(() => fitFastTokenizer(train.slice(0, 5), { chunkSize: T, actionDim: D, vocabSize: 10 })).toThrow(/vocabSize: expected at least the \d+ byte symbols of the coefficient range/);
  });

  it("rejects a malformed processor_config.json or tokenizer.json naming the file and field", () => {
    const dir = mkdtempSync(join(tmpdir(), "fast-bad-"));
    saveFastTokenizer(tokenizer, dir);
    const configFile = join(dir, "processor_config.json");
    const good = JSON.parse(readFileSync(configFile, "utf8"));
    writeFileSync(configFile, JSON.stringify({ ...good, scale: -1 }));
    expect(() => loadFastTokenizer(dir)).toThrow(`${configFile}: scale: expected PositiveNumber, got -1`);
    writeFileSync(configFile, JSON.stringify({ ...good, min_token: 1.5 }));
    expect(() => loadFastTokenizer(dir)).toThrow(`${configFile}: min_token: expected Integer, got 1.5`);
    writeFileSync(join(dir, "tokenizer.json"), JSON.stringify({ model: { type: "Nope" } }));
    writeFileSync(configFile, JSON.stringify(good));
    expect(() => loadFastTokenizer(dir)).toThrow(`${join(dir, "tokenizer.json")}: tokenizer: not a Hugging Face tokenizer.json`);
    expect(() => fastTokenizerFromJSON({ type: "fast", scale: 10 }, "tok.json")).toThrow(/tok\.json: type: expected "universal_action_processor"/);
  });
});

// so101, fit on every 5th chunk, evaluated on every 3rd, vocab 1024, scale 10
const RATIO_FLOOR = 8; // measured 9.13 (32.9 tokens per 300 values) with the Hugging Face trainer (9.48 with the former hand-written BPE)
