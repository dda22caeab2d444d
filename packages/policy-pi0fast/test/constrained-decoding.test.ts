import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { initBackend } from "../src/backend/index";
import { pi0FastConfig } from "../src/config";
import { configFromLeRobot, craftSidecar, lerobotConfigJson } from "../src/lerobot/configJson";
import { LEROBOT_PI0FAST_CONFIG } from "./lerobot-fixtures";
import { fitFastTokenizer, type FastTokenizer } from "../src/fast/tokenizer";
import { createPi0FastPolicy, type Pi0FastPolicy } from "../src/policy";
import type { Batch } from "../src/processor";
import { loadSo101Actions, normalisedChunks } from "./fast-so101";
import { loadSo101Frames, so101Batch, type So101Frames } from "./policy-so101";

/**
 * Decoding under the FAST grammar (constrained_decoding) with a small pi0-FAST on real so101
 * frames: every generation decodes as one valid chunk, randomly initialised or not, with and
 * without the KV cache; without the grammar the same random models are mostly invalid; and a model
 * whose own greedy output is valid decodes to exactly the same tokens under the grammar.
 */
const SMALL = {
  preset: "tiny",
  max_state_dim: 6,
  empty_cameras: 1,
  image_resolution: [16, 16],
  vision: { image_size: 16, patch_size: 8, width: 16, depth: 1, mlp_dim: 32, heads: 2 },
  decoder: { width: 32, depth: 1, mlp_dim: 64, heads: 2, kv_heads: 1, head_dim: 16, vocab_size: 2048 },
  max_action_tokens: 64,
  max_decoding_steps: 64,
};
const CHUNK = 10;

let frames: So101Frames;
/** FAST's default scale 10 (85 ASCII characters) and scale 60 (two-byte UTF-8 characters too). */
const tokenizers: Record<string, FastTokenizer> = {};
let batch: Batch;

beforeAll(async () => {
  await initBackend("wasm");
  frames = await loadSo101Frames();
  const chunks = normalisedChunks(await loadSo101Actions(), CHUNK, 5);
  tokenizers["scale 10"] = fitFastTokenizer(chunks, { chunkSize: CHUNK, actionDim: 6, vocabSize: 256, scale: 10 });
  tokenizers["scale 60"] = fitFastTokenizer(chunks, { chunkSize: CHUNK, actionDim: 6, vocabSize: 512, scale: 60 });
  batch = so101Batch(frames, [5, 120, 400, 800], CHUNK);
});

const make = (fast: FastTokenizer, seed: number, config: Record<string, unknown> = {}): Pi0FastPolicy =>
  createPi0FastPolicy({ config: { ...SMALL, ...config }, stats: frames.stats as never, fastTokenizer: fast, seed });

describe("constrained decoding of randomly initialised policies", () => {
  it.each(["scale 10", "scale 60"])("every row decodes as a valid chunk, with and without the KV cache (%s)", async (name) => {
    const fast = tokenizers[name];
    let unconstrainedInvalid = 0;
    let rows = 0;
    for (const seed of [1, 2, 3]) {
      const policy = make(fast, seed);
      const cached = await policy.selectAction(batch, { useKvCache: true });
      const plain = await policy.selectAction(batch, { useKvCache: false });
      expect(cached.invalid).toBe(0);
      expect(plain.tokens).toEqual(cached.tokens);
      for (const tokens of cached.tokens) {
        expect(tokens.slice(-2)).toEqual([...policy.textTokenizer.encode("|"), policy.textTokenizer.eosId]);
        // the FAST part alone, through the tokenizer: exactly chunk_size × 6 coefficients
        const fastTokens = tokens.slice(0, -2).map((id) => policy.processor.idToActionToken(id));
        const decoded = fast.decode(fastTokens, { chunkSize: CHUNK, actionDim: 6 });
        expect({ valid: decoded.valid, coefficients: decoded.coefficients }).toEqual({ valid: true, coefficients: CHUNK * 6 });
      }
      expect(Array.from(cached.actions).every(Number.isFinite)).toBe(true);
      // the same model without the grammar, as LeRobot decodes
      const free = await policy.selectAction(batch, { constrainedDecoding: false });
      unconstrainedInvalid += free.invalid;
      rows += batch.size;
      policy.dispose();
    }
    // without the constraint most of these generations would be invalid (what this test guards)
    expect(unconstrainedInvalid).toBeGreaterThanOrEqual(rows * 0.75);
  });

  it("sampled decoding (temperature 1) is constrained the same way", async () => {
    const policy = make(tokenizers["scale 60"], 6, { temperature: 1 });
    for (const useKvCache of [true, false]) {
      const sampled = await policy.selectAction(batch, { useKvCache });
      expect(sampled.invalid).toBe(0);
      expect((await policy.selectAction(batch, { useKvCache, constrainedDecoding: false })).invalid).toBeGreaterThan(0);
    }
    policy.dispose();
  });

  it("stays valid when max_decoding_steps is shorter than what the model would spend", async () => {
    const policy = make(tokenizers["scale 10"], 4);
    const roomy = await policy.selectAction(batch, { useKvCache: true });
    const tight = await policy.selectAction(batch, { maxDecodingSteps: 40, useKvCache: true });
    expect(roomy.invalid).toBe(0);
    // with 64 steps this model spells its chunks in more than 40 tokens: the budget binds below
    expect(roomy.tokens.every((t) => t.length > 40)).toBe(true);
    expect(tight.invalid).toBe(0);
    expect(tight.tokens.every((t) => t.length <= 40)).toBe(true);
    policy.dispose();
  });
});

describe("constrained decoding leaves valid greedy outputs untouched", () => {
  it("a policy trained until its own greedy outputs are valid decodes to the same tokens under the grammar", async () => {
    const fast = tokenizers["scale 10"];
    const policy = make(fast, 5, { decoder: { ...SMALL.decoder, width: 64, head_dim: 32 } });
    const train = so101Batch(frames, [120, 800], CHUNK);
    const names = policy.trainableNames;
    const variables = Object.fromEntries(names.map((n) => [n, tf.variable(tf.tensor(policy.getParameters()[n], policy.shapes[n]), true, `p${names.indexOf(n)}`)]));
    const optimizer = tf.train.adam(3e-3);
    let free = await policy.selectAction(train, { constrainedDecoding: false });
    expect(free.invalid).toBe(2); // random init: invalid, so the training below is what makes them valid
    for (let step = 1; step <= 400 && free.invalid > 0; step++) {
      const { grads } = await policy.computeGradients(train);
      tf.tidy(() => optimizer.applyGradients(names.map((n, i) => ({ name: `p${i}`, tensor: tf.tensor(grads[n], policy.shapes[n]) }))));
      policy.setParameters(Object.fromEntries(names.map((n) => [n, variables[n].dataSync() as Float32Array])));
      if (step % 20 === 0) free = await policy.selectAction(train, { constrainedDecoding: false });
    }
    expect(free.invalid).toBe(0);
    for (const useKvCache of [true, false]) {
      const unconstrained = await policy.selectAction(train, { constrainedDecoding: false, useKvCache });
      const constrained = await policy.selectAction(train, { constrainedDecoding: true, useKvCache });
      expect(unconstrained.invalid).toBe(0);
      expect(constrained.tokens).toEqual(unconstrained.tokens);
      expect(Array.from(constrained.actions)).toEqual(Array.from(unconstrained.actions));
    }
    // and on the other frames of the batch, where its outputs are whatever they are: still valid under the grammar
    const elsewhere = await policy.selectAction(batch);
    expect(elsewhere.invalid).toBe(0);
    optimizer.dispose();
    Object.values(variables).forEach((v) => v.dispose());
    policy.dispose();
  });
});

describe("constrained_decoding setting", () => {
  const lerobotJson = JSON.parse(readFileSync(LEROBOT_PI0FAST_CONFIG, "utf8")) as Record<string, unknown>;
  const files = { config: "/ckpt/config.json", sidecar: "/ckpt/craft_config.json" };

  it("defaults to true, lives in craft_config.json only, and round-trips", () => {
    expect(pi0FastConfig({}).constrained_decoding).toBe(true);
    const off = pi0FastConfig({ preset: "tiny", constrained_decoding: false });
    expect(JSON.parse(lerobotConfigJson(off))).not.toHaveProperty("constrained_decoding");
    expect(craftSidecar(off).constrained_decoding).toBe(false);
    expect(configFromLeRobot(JSON.parse(lerobotConfigJson(off)), craftSidecar(off), files).config.constrained_decoding).toBe(false);
    // LeRobot's own folder (no sidecar) and an earlier sidecar without the field: the default
    expect(configFromLeRobot(lerobotJson, undefined, files).config.constrained_decoding).toBe(true);
    expect(configFromLeRobot(lerobotJson, { preset: "paligemma_3b" }, files).config.constrained_decoding).toBe(true);
  });

  it("refuses a non-boolean in craft_config.json or in the config, naming the file and field", () => {
    expect(() => configFromLeRobot(lerobotJson, { constrained_decoding: "yes" }, files)).toThrow('/ckpt/craft_config.json: constrained_decoding: expected boolean, got "yes"');
    expect(() => configFromLeRobot({ ...lerobotJson, constrained_decoding: true }, undefined, files)).toThrow("/ckpt/config.json: constrained_decoding: not a field of LeRobot's PI0FastConfig");
    expect(() => pi0FastConfig({ constrained_decoding: 1 })).toThrow("policy.constrained_decoding: expected boolean, got 1");
  });
});
