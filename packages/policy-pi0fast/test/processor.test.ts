import { spawnSync } from "node:child_process";
import { beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import { createProcessor, discretizeState, cleanTask, renameKey, renameBatchKeys, type Batch, type Processor, type ProcessorConfig } from "../src/processor";
import { byteLevelTokenizer } from "../src/text/byte-level";
import { fitFastTokenizer, type FastTokenizer } from "../src/fast/tokenizer";
import { dctII } from "../src/fast/dct";
import { loadSo101Actions, normalisedChunks, type So101Actions } from "./fast-so101";

const T = 50;
const D = 6;
const config: ProcessorConfig = {
  chunk_size: T,
  n_action_steps: T,
  max_state_dim: 32,
  max_action_dim: 32,
  max_action_tokens: 256,
  tokenizer_max_length: 200,
  fast_skip_tokens: 128,
  image_resolution: [16, 16],
  empty_cameras: 1,
  vocab_size: 2048,
  normalization_mapping: { STATE: "QUANTILES", ACTION: "QUANTILES" },
};
const text = byteLevelTokenizer();

/** numpy: np.digitize(x, np.linspace(-1, 1, 257)[:-1]) - 1 (−1 below the first edge). */
function referenceBin(x: number): number {
  let count = 0;
  for (let i = 0; i < 256; i++) if (-1 + (2 * i) / 256 <= x) count++;
  return count - 1;
}

describe("state discretisation", () => {
  it("puts the edges and out-of-range values where np.digitize − 1 does (−1 below −1, NaN last)", () => {
    expect([-1, -0.9921875, -0.99219, 0, 0.5, 0.999, 1, 5, -3, NaN].map(discretizeState)).toEqual([0, 1, 0, 128, 192, 255, 255, 255, -1, 255]);
  });

  it("agrees with np.digitize − 1 everywhere in [−1.2, 1.2]", () => {
    fc.assert(fc.property(fc.double({ min: -1.2, max: 1.2, noNaN: true }), (x) => discretizeState(x) === referenceBin(x)));
    for (let i = 0; i <= 256; i++) {
      const edge = -1 + (2 * i) / 256;
      expect(discretizeState(edge)).toBe(referenceBin(edge));
      expect(discretizeState(edge - 1e-12)).toBe(referenceBin(edge - 1e-12));
    }
  });

  it("cleans the task as LeRobot does", () => {
    expect(cleanTask("  pick_the_cube\nnow \n")).toBe("pick the cube now");
  });
});

describe("pi0-FAST processor", () => {
  let data: So101Actions;
  let fast: FastTokenizer;
  let processor: Processor;
  let chunks: Float32Array[];
  let stats: Record<string, { q01: number[]; q99: number[] }>;

  const rawChunk = (normalised: Float32Array): Float32Array =>
    normalised.map((v, i) => ((v + 1) / 2) * (data.q99[i % D] - data.q01[i % D]) + data.q01[i % D]);

  const makeBatch = (actionChunks: Float32Array[], tasks: string[], state?: Float32Array): Batch => {
    const B = actionChunks.length;
    const image = new Uint8Array(B * 12 * 16 * 3);
    for (let i = 0; i < image.length; i++) image[i] = (i * 7) % 256;
    const stateData = state ?? new Float32Array(B * D).map((_, i) => stats["observation.state"].q01[i % D]);
    const action = new Float32Array(B * T * D);
    actionChunks.forEach((c, b) => action.set(rawChunk(c), b * T * D));
    return {
      size: B,
      task: tasks,
      features: {
        "observation.images.front": { data: image, shape: [B, 12, 16, 3] },
        "observation.state": { data: stateData, shape: [B, D] },
        action: { data: action, shape: [B, T, D] },
        action_is_pad: { data: new Uint8Array(B * T), shape: [B, T] },
      },
    };
  };

  beforeAll(async () => {
    data = await loadSo101Actions();
    stats = data.stats as unknown as typeof stats;
    chunks = normalisedChunks(data, T, 5);
    fast = fitFastTokenizer(chunks, { chunkSize: T, actionDim: D, vocabSize: 1024 });
    processor = createProcessor(config, { stats: data.stats as never, textTokenizer: text, fastTokenizer: fast, imageKeys: ["observation.images.front"] });
  });

  it("writes the prompt exactly, binning the robot's own state dims only (no padding)", () => {
    const state = [-1, 0.999, 0, 0.5, -1.5, 2];
    const expected = `Task: pick the orange cube, State: 0 255 128 192 -1 255;\n`;
    expect(processor.promptText(" pick_the orange\ncube ", state)).toBe(expected);
  });

  it("tokenises [BOS] + prompt, right padded to tokenizer_max_length", () => {
    const batch = makeBatch([chunks[0], chunks[1]], ["pick the orange cube", "x"]);
    const inputs = processor.toModelInputs(batch);
    expect(inputs.promptLength).toBe(200);
    const L = 200;
    // state = q01 → −1 → bin 0 on the 6 real dims
    const prompt0 = `Task: pick the orange cube, State: ${Array(6).fill(0).join(" ")};\n`;
    const ids0 = [text.bosId, ...text.encode(prompt0)];
    expect(Array.from(inputs.promptTokens.subarray(0, ids0.length))).toEqual(ids0);
    expect(Array.from(inputs.promptTokens.subarray(ids0.length, L)).every((v) => v === text.padId)).toBe(true);
    expect(Array.from(inputs.promptMask.subarray(0, L))).toEqual([...Array(ids0.length).fill(1), ...Array(L - ids0.length).fill(0)]);
    const len1 = 1 + text.encode(prompt0.replace("pick the orange cube", "x")).length;
    expect(inputs.promptMask.subarray(L, 2 * L).reduce((a, b) => a + b, 0)).toBe(len1);
  });

  it("lays out [BOS] Action: <fast> | [EOS] with masks", () => {
    const inputs = processor.toModelInputs(makeBatch([chunks[2]], ["t"]));
    const La = config.max_action_tokens;
    expect(inputs.actionLength).toBe(La);
    const fastIds = fast.encode(chunks[2]).map((t) => 2048 - 1 - 128 - t);
    expect(fastIds.every((id) => id >= 2048 - 1 - 128 - 1023 && id <= 2047 - 128 && id >= text.vocabSize)).toBe(true);
    const expected = [text.bosId, ...text.encode("Action: "), ...fastIds, ...text.encode("|"), text.eosId];
    const n = expected.length;
    expect(Array.from(inputs.actionTokens.subarray(0, n))).toEqual(expected);
    expect(Array.from(inputs.actionTokens.subarray(n)).every((v) => v === 0)).toBe(true);
    expect(Array.from(inputs.actionMask)).toEqual([...Array(n).fill(1), ...Array(La - n).fill(0)]);
    expect(Array.from(inputs.lossMask)).toEqual([0, ...Array(n - 1).fill(1), ...Array(La - n).fill(0)]);
    expect(processor.idToActionToken(processor.actionTokenToId(17))).toBe(17);
    expect(processor.actionTokenToId(0)).toBe(1919);
  });

  it("decodes its own action tokens back to the actions within the quantisation error", () => {
    const batchChunks = [chunks[3], chunks[40], chunks[77]];
    const batch = makeBatch(batchChunks, ["a", "b", "c"]);
    const inputs = processor.toModelInputs(batch);
    const La = config.max_action_tokens;
    const prefix = 1 + text.encode("Action: ").length;
    const generated = batchChunks.map((_, b) => {
      const len = inputs.actionMask.subarray(b * La, (b + 1) * La).reduce((a, v) => a + v, 0);
      return Array.from(inputs.actionTokens.subarray(b * La + prefix, b * La + len)); // includes "|" and EOS
    });
    const { actions, invalid } = processor.decodeActions(generated);
    expect(invalid).toBe(0);
    expect(actions.length).toBe(3 * T * D);
    const raw = batch.features.action.data as Float32Array;
    batchChunks.forEach((normalised, b) => {
      // back to normalised units: the error of each DCT coefficient is at most 0.5 / scale
      const decodedNorm = actions.slice(b * T * D, (b + 1) * T * D).map((v, i) => (2 * (v - data.q01[i % D])) / (data.q99[i % D] - data.q01[i % D]) - 1);
      const e1 = dctII(decodedNorm, T, D);
      const e0 = dctII(normalised, T, D);
      for (let i = 0; i < e0.length; i++) expect(Math.abs(e1[i] - e0[i])).toBeLessThanOrEqual(0.05 + 1e-4);
      // Parseval: each coefficient off by ≤ 0.05 ⇒ RMS error per value ≤ 0.05 (normalised units)
      const rms = Math.sqrt(decodedNorm.reduce((acc, v, i) => acc + (v - normalised[i]) ** 2, 0) / (T * D));
      expect(rms).toBeLessThanOrEqual(0.05 + 1e-4);
      // in raw units the decoded chunk follows the recorded one: same value at every step up to that error
      for (let i = 0; i < T * D; i++) {
        const halfRange = (data.q99[i % D] - data.q01[i % D]) / 2;
        expect(Math.abs(actions[b * T * D + i] - raw[b * T * D + i])).toBeLessThan(0.05 * Math.sqrt(T) * halfRange);
      }
    });
  });

  it("counts malformed generations as invalid and still returns n_action_steps finite actions", () => {
    const short = createProcessor({ ...config, n_action_steps: 10 }, { stats: data.stats as never, textTokenizer: text, fastTokenizer: fast, imageKeys: [] });
    const good = fast.encode(chunks[5]).map(short.actionTokenToId);
    const { actions, invalid } = short.decodeActions([
      good, // no "|" / EOS at all: still valid
      good.slice(0, 4), // truncated
      [...text.encode("hello"), ...good], // text ids where FAST tokens belong
      [],
      [...text.encode("Action: "), ...good, ...text.encode("|"), text.eosId, 5, 6], // repeated prefix, junk after "|"
    ]);
    expect(invalid).toBe(3);
    expect(actions.length).toBe(5 * 10 * D);
    expect(Array.from(actions.subarray(4 * 10 * D))).toEqual(Array.from(actions.subarray(0, 10 * D)));
    expect(actions.every(Number.isFinite)).toBe(true);
    // an empty generation decodes to zeros in normalised space: the middle of q01..q99
    for (let d = 0; d < D; d++) expect(actions[3 * 10 * D + d]).toBeCloseTo((data.q01[d] + data.q99[d]) / 2, 3);
  });

  it("decodes over n_action_steps as LeRobot's detokenize_actions when n_action_steps < chunk_size (scipy reference)", () => {
    const n = 10;
    const short = createProcessor({ ...config, n_action_steps: n }, { stats: data.stats as never, textTokenizer: text, fastTokenizer: fast, imageKeys: [] });
    const normalised = chunks[5];
    const { actions, invalid } = short.decodeActions([fast.encode(normalised).map(short.actionTokenToId)]);
    expect(invalid).toBe(0);
    expect(actions.length).toBe(n * D);
    // LeRobot: FAST's coefficients np.around(dct(chunk, ortho)·10), flattened (T, D); decode_actions_with_fast
    // with time_horizon = n_action_steps keeps the first n·D, reshapes (n, D) and runs idct(·/10, ortho) over
    // n steps; then the QUANTILES un-normalisation (x + 1)/2 · (q99 − q01) + q01.
    const script = [
      "import json,sys,numpy as np",
      "from scipy.fft import dct, idct",
      "c, n, q01, q99 = json.load(sys.stdin)",
      "q = np.around(dct(np.array(c, dtype=np.float32).reshape(-1, 6), axis=0, norm='ortho') * 10).flatten()",
      "a = idct(q[: n * 6].reshape(n, 6) / 10, axis=0, norm='ortho')",
      "print(json.dumps(((a + 1) / 2 * (np.array(q99) - np.array(q01)) + np.array(q01)).flatten().tolist()))",
    ].join("\n");
    const input = JSON.stringify([Array.from(normalised), n, data.q01, data.q99]);
    const reference: number[] = JSON.parse(spawnSync("/usr/bin/python3", ["-c", script], { input, encoding: "utf8" }).stdout);
    expect(reference).toHaveLength(n * D);
    for (let i = 0; i < n * D; i++) expect(actions[i]).toBeCloseTo(reference[i], 4);
    // not the chunk's first n steps: a DCT over n instead of T steps scales the mean by √(T / n) ≈ 2.2
    const raw = rawChunk(normalised);
    const meanGap = reference.reduce((sum, v, i) => sum + Math.abs(v - raw[i]), 0) / (n * D);
    expect(meanGap).toBeGreaterThan(0.01);
  });

  it("resizes real cameras with padding and masks the empty ones", () => {
    const inputs = processor.toModelInputs(makeBatch([chunks[0], chunks[1]], ["a", "b"]));
    expect(inputs.imageShape).toEqual([2, 2, 16, 16, 3]);
    expect(Array.from(inputs.imageMask)).toEqual([1, 0, 1, 0]);
    const per = 16 * 16 * 3;
    // 12×16 inside 16×16: 2 black rows on top, the image unchanged, 2 black rows below
    const cam0 = inputs.images.subarray(0, per);
    expect(Array.from(cam0.subarray(0, 2 * 16 * 3)).every((v) => v === -1)).toBe(true);
    expect(cam0[2 * 16 * 3 + 1]).toBeCloseTo((7 / 255) * 2 - 1, 6);
    expect(Array.from(cam0.subarray(14 * 16 * 3)).every((v) => v === -1)).toBe(true);
    expect(Array.from(inputs.images.subarray(per, 2 * per)).every((v) => v === -1)).toBe(true);
  });

  it("truncates prompts and action sequences that are too long, keeping the mask full", () => {
    const tight = createProcessor(
      { ...config, tokenizer_max_length: 20, max_action_tokens: 12 },
      { stats: data.stats as never, textTokenizer: text, fastTokenizer: fast, imageKeys: [] },
    );
    const inputs = tight.toModelInputs(makeBatch([chunks[0]], ["a very long task description"]));
    expect(inputs.promptTokens.length).toBe(20);
    expect(Array.from(inputs.promptMask).every((v) => v === 1)).toBe(true);
    expect(Array.from(inputs.promptTokens)).toEqual([text.bosId, ...text.encode("Task: a very long task description").slice(0, 19)]);
    expect(inputs.actionTokens.length).toBe(12);
    expect(Array.from(inputs.actionMask).every((v) => v === 1)).toBe(true);
    expect(Array.from(inputs.actionTokens)).not.toContain(text.eosId);
    expect(inputs.imageShape).toEqual([1, 1, 16, 16, 3]);
  });

  it("builds inference inputs that end at `[BOS] Action: `", () => {
    const inputs = processor.toPromptInputs(makeBatch([chunks[0], chunks[1]], ["a", "b"]));
    const prefix = [text.bosId, ...text.encode("Action: ")];
    expect(inputs.actionLength).toBe(prefix.length);
    expect(Array.from(inputs.actionTokens)).toEqual([...prefix, ...prefix]);
    expect(Array.from(inputs.actionMask).every((v) => v === 1)).toBe(true);
    expect(Array.from(inputs.lossMask)).toEqual([0, ...Array(prefix.length - 1).fill(1), 0, ...Array(prefix.length - 1).fill(1)]);
  });

  it("rejects batches and configs that do not fit, naming the field", () => {
    const batch = makeBatch([chunks[0]], ["a"]);
    const wrongChunk = { ...batch, features: { ...batch.features, action: { data: new Float32Array(10 * D), shape: [1, 10, D] } } };
    expect(() => processor.toModelInputs(wrongChunk)).toThrow(/batch.features\["action"\]: expected Float32Array \[1, 50, D\] \(chunk_size 50\), got Float32Array \[1, 10, 6\]/);
    const noImage = { ...batch, features: { ...batch.features, "observation.images.front": undefined as never } };
    expect(() => processor.toModelInputs(noImage)).toThrow(/missing "observation.images.front"/);
    expect(() => createProcessor({ ...config, vocab_size: 1000 }, { stats: data.stats as never, textTokenizer: text, fastTokenizer: fast, imageKeys: [] })).toThrow(
      /config.vocab_size: expected ≥ 1152/,
    );
  });
});

describe("cross-embodiment and rename_map", () => {
  const cfg: ProcessorConfig = { ...config, chunk_size: 10, n_action_steps: 10, max_action_tokens: 200, tokenizer_max_length: 120 };
  const robot = (dim: number, seed: number) => {
    const mean = Array.from({ length: dim }, (_, d) => (d % 5) - 2 + seed);
    const std = Array.from({ length: dim }, (_, d) => 0.5 + (d % 3) * 0.25);
    return { mean, std };
  };
  const arm = robot(6, 0);
  const humanoid = robot(26, 1);
  const statsOf = (r: { mean: number[]; std: number[] }) => ({ "observation.state": r, action: r });
  const chunkOf = (r: { mean: number[]; std: number[] }, b: number): Float32Array => {
    const D = r.mean.length;
    return Float32Array.from({ length: 10 * D }, (_, i) => r.mean[i % D] + r.std[i % D] * 0.6 * Math.sin(0.3 * Math.floor(i / D) + (i % D) + b));
  };
  const batchOf = (r: { mean: number[]; std: number[] }, keys = { state: "observation.state", action: "action" }): Batch => {
    const D = r.mean.length;
    const action = new Float32Array(2 * 10 * D);
    action.set(chunkOf(r, 0), 0);
    action.set(chunkOf(r, 1), 10 * D);
    return {
      size: 2,
      task: ["walk", "walk"],
      features: {
        [keys.state]: { data: Float32Array.from({ length: 2 * D }, (_, i) => r.mean[i % D] + r.std[i % D] * (i % 2 ? 0.5 : -0.5)), shape: [2, D] },
        [keys.action]: { data: action, shape: [2, 10, D] },
        [`${keys.action}_is_pad`]: { data: new Uint8Array(20), shape: [2, 10] },
      },
    };
  };
  // one FAST tokenizer for every robot: fitted on the arm's normalised chunks only
  const fitChunks = Array.from({ length: 40 }, (_, b) => {
    const c = chunkOf(arm, b * 0.37);
    return c.map((v, i) => (v - arm.mean[i % 6]) / arm.std[i % 6]);
  });
  const fastAll = fitFastTokenizer(fitChunks, { chunkSize: 10, actionDim: 6, vocabSize: 400 });

  it("one processor tokenises a 6-dim arm and a 26-dim humanoid, each with its own statistics", () => {
    const p = createProcessor({ ...cfg, normalization_mapping: { STATE: "MEAN_STD", ACTION: "MEAN_STD" } }, {
      stats: [statsOf(arm), statsOf(humanoid)],
      textTokenizer: text,
      fastTokenizer: fastAll,
      imageKeys: [],
    });
    for (const r of [arm, humanoid]) {
      const D = r.mean.length;
      const batch = batchOf(r);
      const inputs = p.toModelInputs(batch);
      // the prompt bins exactly the robot's own D normalised state values: (±0.5·std)/std → ±0.5
      const prompt = text.decode(Array.from(inputs.promptTokens.subarray(1, 120)).filter((id) => id !== text.padId));
      expect(prompt).toBe(`Task: walk, State: ${Array.from({ length: D }, (_, i) => (i % 2 ? 192 : 64)).join(" ")};\n`);
      // the action block decodes back to this robot's chunk in its own units
      const prefix = 1 + text.encode("Action: ").length;
      const len = inputs.actionMask.subarray(0, 200).reduce((a, v) => a + v, 0);
      const generated = Array.from(inputs.actionTokens.subarray(prefix, len));
      const { actions, invalid } = p.decodeActions([generated], D);
      expect(invalid).toBe(0);
      expect(actions.length).toBe(10 * D);
      const truth = chunkOf(r, 0);
      for (let i = 0; i < truth.length; i++) expect(Math.abs(actions[i] - truth[i])).toBeLessThan(0.06 * Math.sqrt(10) * r.std[i % D]);
    }
  });

  it("refuses a robot whose dims no statistics describe, and one wider than max_action_dim, naming what is missing", () => {
    const p = createProcessor(cfg, { stats: [{ "observation.state": { q01: arm.mean, q99: arm.std }, action: { q01: arm.mean, q99: arm.std } }], textTokenizer: text, fastTokenizer: fastAll, imageKeys: [] });
    expect(() => p.toModelInputs(batchOf(humanoid))).toThrow(
      "batch: no statistics for a robot with state dim 26 and action dim 26 (stats describe state 6/action 6); pass that dataset's stats too",
    );
    const narrow = createProcessor({ ...cfg, max_action_dim: 8, normalization_mapping: { STATE: "MEAN_STD", ACTION: "MEAN_STD" } }, { stats: statsOf(arm), textTokenizer: text, fastTokenizer: fastAll, imageKeys: [] });
    expect(() => narrow.toModelInputs(batchOf(humanoid))).toThrow('batch.features["action"]: expected an action dim ≤ max_action_dim 8, got 26');
  });

  it("applies rename_map to batch keys (with their _is_pad) and to the statistics, as LeRobot's rename step", () => {
    const renameMap = { state: "observation.state", actions: "action" };
    const renamedStats = { state: arm, actions: arm };
    const p = createProcessor({ ...cfg, normalization_mapping: { STATE: "MEAN_STD", ACTION: "MEAN_STD" } }, {
      stats: renamedStats,
      textTokenizer: text,
      fastTokenizer: fastAll,
      imageKeys: [],
      renameMap,
    });
    const plain = createProcessor({ ...cfg, normalization_mapping: { STATE: "MEAN_STD", ACTION: "MEAN_STD" } }, { stats: statsOf(arm), textTokenizer: text, fastTokenizer: fastAll, imageKeys: [] });
    const renamed = p.toModelInputs(batchOf(arm, { state: "state", action: "actions" }));
    const reference = plain.toModelInputs(batchOf(arm));
    expect(Array.from(renamed.actionTokens)).toEqual(Array.from(reference.actionTokens));
    expect(Array.from(renamed.promptTokens)).toEqual(Array.from(reference.promptTokens));
    // without the map the dataset's keys are not the policy's
    expect(() => plain.toModelInputs(batchOf(arm, { state: "state", action: "actions" }))).toThrow(/batch.features: missing "action" \(have state, actions, actions_is_pad; a --rename_map maps dataset keys to these\)/);
    expect(renameKey("actions_is_pad", renameMap)).toBe("action_is_pad");
    expect(renameKey("observation.images.top", renameMap)).toBe("observation.images.top");
    expect(Object.keys(renameBatchKeys(batchOf(arm, { state: "state", action: "actions" }), renameMap).features)).toEqual(["observation.state", "action", "action_is_pad"]);
  });
});
