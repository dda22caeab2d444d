import * as tf from "@tensorflow/tfjs-core";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../src/backend/index";
import { createPi0FastPolicy, loadPi0FastPolicy, TEACHER_LOG_PROBS_KEY, type Pi0FastPolicy } from "../src/policy";
import type { FastTokenizer } from "../src/fast/tokenizer";
import type { Batch } from "../src/processor";
import { loadSo101Frames, so101Batch, so101FastTokenizer, type So101Frames } from "./policy-so101";

/**
 * The tiny preset on real so101 frames (state + 10-step action chunks; the dataset ships no decoded
 * video, so one empty camera stands in, as LeRobot pads missing cameras). Prompt and action blocks
 * are shortened to keep the suite inside the CI budget on 2 cores.
 */
const TINY = { preset: "tiny", max_state_dim: 6, empty_cameras: 1, max_action_tokens: 40, max_decoding_steps: 40 };

let frames: So101Frames;
let fast: FastTokenizer;
let batch: Batch;
const dirs: string[] = [];

beforeAll(async () => {
  await initBackend("wasm");
  frames = await loadSo101Frames();
  fast = await so101FastTokenizer(10);
  batch = so101Batch(frames, [120, 800], 10);
});

afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const make = (config: Record<string, unknown> = {}, seed = 0): Pi0FastPolicy =>
  createPi0FastPolicy({ config: { ...TINY, ...config }, stats: frames.stats as never, fastTokenizer: fast, seed });

/** Plain Adam over named Float32Arrays (the trainer's AdamW is not a dependency of this package). */
function adam(lr: number) {
  const m: Record<string, Float32Array> = {};
  const v: Record<string, Float32Array> = {};
  let t = 0;
  return (params: Record<string, Float32Array>, grads: Record<string, Float32Array>): Record<string, Float32Array> => {
    t++;
    const out: Record<string, Float32Array> = {};
    for (const [name, g] of Object.entries(grads)) {
      const p = params[name];
      const mm = (m[name] ??= new Float32Array(g.length));
      const vv = (v[name] ??= new Float32Array(g.length));
      const next = new Float32Array(p.length);
      for (let i = 0; i < g.length; i++) {
        mm[i] = 0.9 * mm[i] + 0.1 * g[i];
        vv[i] = 0.999 * vv[i] + 0.001 * g[i] * g[i];
        const mh = mm[i] / (1 - 0.9 ** t);
        const vh = vv[i] / (1 - 0.999 ** t);
        next[i] = p[i] - (lr * mh) / (Math.sqrt(vh) + 1e-8);
      }
      out[name] = next;
    }
    return out;
  };
}

describe("Pi0FastPolicy (tiny preset, so101)", () => {
  it("overfits one batch: loss falls below 10% of its start", async () => {
    const policy = make();
    const step = adam(1e-3);
    const first = await policy.computeGradients(batch);
    let params = policy.getParameters();
    policy.setParameters(step(params, first.grads));
    let loss = first.loss;
    let steps = 1;
    // train past the 10% mark: greedy decoding must get the first token, which only the prompt decides, right
    while (steps < 300 && loss > 0.02 * first.loss) {
      const r = await policy.computeGradients(batch);
      loss = r.loss;
      params = policy.getParameters();
      policy.setParameters(step(params, r.grads));
      steps++;
    }
    expect(first.loss).toBeGreaterThan(5);
    expect(loss).toBeLessThan(0.1 * first.loss);
    const evaluation = await policy.evaluate(batch);
    expect(evaluation.metrics.accuracy).toBeGreaterThan(0.8);
    // Greedy decoding reproduces each sample's OWN continuation (the tokens after `[BOS] Action: `):
    // the two frames differ only in their state, so this holds only if the prompt reaches the model
    // and teacher forcing lines up with decoding. They FAST-decode without error, and un-normalise
    // to the batch's own chunks up to FAST's rounding (scale 10 on quantile-normalised actions).
    const { invalid, tokens, actions } = await policy.selectAction(batch);
    const inputs = policy.modelInputs(batch);
    const La = inputs.actionLength;
    const prefix = 9; // [BOS] + "Action: " (8 bytes)
    const memorised = [0, 1].map((b) => {
      const row = Array.from(inputs.actionTokens.subarray(b * La, (b + 1) * La));
      return row.slice(prefix, row.indexOf(1, prefix) + 1); // through EOS (id 1)
    });
    expect(memorised[0]).not.toEqual(memorised[1]);
    expect(tokens).toEqual(memorised);
    expect(invalid).toBe(0);
    const truth = batch.features.action.data as Float32Array;
    const range = frames.stats.action.q99.map((hi, d) => hi - frames.stats.action.q01[d]);
    const worst = Math.max(...Array.from(actions, (a, i) => Math.abs(a - truth[i]) / range[i % 6]));
    // FAST's rounding error per coefficient is ≤ 0.05 (scale 10), so an action value (orthonormal
    // DCT-III over 10 steps) is off by ≤ 0.05·(√(1/10) + 9·√(2/10)) = 0.217 in [−1, 1] units, i.e.
    // ≤ 0.109 of the q01…q99 range; the other sample's chunk is off by far more
    expect(worst).toBeLessThan(0.109);
    policy.dispose();
  });

  it("decodes what the camera and the instruction ask for: frames differing only in one of them get their own chunk", async () => {
    // Three samples with one state: 0 and 1 differ only in the camera image (a bright square at
    // opposite corners), 0 and 2 only in the instruction. Each has its own action chunk, so greedy
    // decoding after overfitting reproduces them only if the image tokens and the task text both
    // reach the action tokens through the prefix attention.
    const camera = "observation.images.front";
    const policy = createPi0FastPolicy({
      config: {
        ...TINY,
        empty_cameras: 0,
        image_resolution: [16, 16],
        vision: { image_size: 16, patch_size: 8, width: 32, depth: 1, mlp_dim: 64, heads: 2 },
        tokenizer_max_length: 64,
      },
      stats: frames.stats as never,
      fastTokenizer: fast,
      imageKeys: [camera],
      seed: 0,
    });
    const chunks = so101Batch(frames, [120, 800, 400], 10);
    const state = new Float32Array(3 * 6);
    for (let b = 0; b < 3; b++) state.set(frames.state[120], b * 6);
    const images = new Uint8Array(3 * 16 * 16 * 3).fill(40);
    const square = (b: number, y0: number, x0: number) => {
      for (let y = y0; y < y0 + 6; y++) for (let x = x0; x < x0 + 6; x++) images.fill(250, ((b * 16 + y) * 16 + x) * 3, ((b * 16 + y) * 16 + x + 1) * 3);
    };
    square(0, 1, 1);
    square(1, 9, 9);
    square(2, 1, 1);
    const conditioned: Batch = {
      size: 3,
      task: ["reach the red target", "reach the red target", "reach the blue target"],
      features: { ...chunks.features, "observation.state": { data: state, shape: [3, 6] }, [camera]: { data: images, shape: [3, 16, 16, 3] } },
    };
    // Train well past the mean-loss plateau: the first FAST token, the one the observation decides,
    // is learned last (measured: at 2% of the initial loss two of the three frames still decoded
    // another frame's chunk; at 0.34%, step 50, all three decoded their own).
    const step = adam(1e-3);
    let r = await policy.computeGradients(conditioned);
    const first = r.loss;
    for (let steps = 1; steps < 300 && r.loss > 0.003 * first; steps++) {
      policy.setParameters(step(policy.getParameters(), r.grads));
      r = await policy.computeGradients(conditioned);
    }
    expect(r.loss).toBeLessThan(0.003 * first);
    const inputs = policy.modelInputs(conditioned);
    const La = inputs.actionLength;
    const memorised = [0, 1, 2].map((b) => {
      const row = Array.from(inputs.actionTokens.subarray(b * La, (b + 1) * La));
      return row.slice(9, row.indexOf(1, 9) + 1); // after [BOS] "Action: ", through EOS
    });
    expect(new Set(memorised.map((m) => m.join(","))).size).toBe(3);
    const { tokens, invalid } = await policy.selectAction(conditioned);
    expect(tokens).toEqual(memorised);
    expect(invalid).toBe(0);
    policy.dispose();
  });

  it("returns finite actions of shape [B, n_action_steps, actionDim] and leaks no tensors", async () => {
    const policy = make();
    const before = tf.memory().numTensors;
    await policy.computeGradients(batch);
    await policy.evaluate(batch);
    const withCache = await policy.selectAction(batch, { useKvCache: true, maxDecodingSteps: 12 });
    const without = await policy.selectAction(batch, { useKvCache: false, maxDecodingSteps: 12 });
    expect(tf.memory().numTensors).toBe(before);
    expect(withCache.actions.length).toBe(2 * 10 * 6);
    expect(withCache.actions.every(Number.isFinite)).toBe(true);
    expect(withCache.tokens).toEqual(without.tokens);
    policy.dispose();
    expect(tf.memory().numTensors).toBe(before - Object.keys(policy.shapes).length);
  });

  it("saves and loads to identical parameters, losses and decoded tokens", async () => {
    const policy = make({}, 7);
    const dir = mkdtempSync(join(tmpdir(), "pi0fast-"));
    dirs.push(dir);
    await policy.save(dir);
    const config = JSON.parse(readFileSync(join(dir, "pretrained_model", "config.json"), "utf8"));
    expect(config.type).toBe("pi0_fast");
    expect(JSON.parse(readFileSync(join(dir, "pretrained_model", "craft_config.json"), "utf8")).preset).toBe("tiny");
    const loaded = await loadPi0FastPolicy(dir);
    const a = policy.getParameters({ includeFrozen: true });
    const b = loaded.getParameters({ includeFrozen: true });
    expect(Object.keys(b).sort()).toEqual(Object.keys(a).sort());
    for (const name of Object.keys(a)) {
      expect(b[name].length).toBe(a[name].length);
      expect(b[name].every((v, i) => Object.is(v, a[name][i])), name).toBe(true);
    }
    expect((await loaded.evaluate(batch)).loss).toBe((await policy.evaluate(batch)).loss);
    const x = await policy.selectAction(batch, { maxDecodingSteps: 8 });
    const y = await loaded.selectAction(batch, { maxDecodingSteps: 8 });
    expect(y.tokens).toEqual(x.tokens);
    expect(Array.from(y.actions)).toEqual(Array.from(x.actions));
    policy.dispose();
    loaded.dispose();
  });

  it("freezes the vision tower and the tied lm head as LeRobot does", async () => {
    const policy = make({ freeze_vision_encoder: true, freeze_lm_head: true });
    const { grads } = await policy.computeGradients(batch);
    const names = Object.keys(grads);
    expect(names.some((n) => n.includes("vision_tower"))).toBe(false);
    expect(names.some((n) => n.endsWith("embed_tokens.weight"))).toBe(false);
    expect(names).toContain("model.paligemma_with_expert.paligemma.model.language_model.layers.0.mlp.up_proj.weight");
    expect(names).toContain("model.paligemma_with_expert.paligemma.model.multi_modal_projector.linear.weight");
    expect(Object.keys(policy.getParameters()).sort()).toEqual([...names].sort());
    expect(Object.keys(policy.getParameters({ includeFrozen: true })).length).toBe(Object.keys(policy.shapes).length);
    expect(policy.noWeightDecay("model.paligemma_with_expert.paligemma.model.language_model.norm.weight")).toBe(true);
    expect(policy.noWeightDecay("model.paligemma_with_expert.paligemma.model.language_model.layers.0.mlp.up_proj.weight")).toBe(false);
    policy.dispose();
  });

  it("distills: zero loss and gradient against its own distribution, positive after a change", async () => {
    const policy = make({ decoder: { depth: 1 } }, 3);
    const teacher = await policy.teacherTopLogProbs(batch);
    const withTeacher: Batch = { ...batch, features: { ...batch.features, [TEACHER_LOG_PROBS_KEY]: teacher } };
    const self = await policy.computeGradients(withTeacher, { loss: "distill" });
    expect(Math.abs(self.loss)).toBeLessThan(1e-4);
    const norm = Object.values(self.grads).reduce((s, g) => s + g.reduce((a, x) => a + x * x, 0), 0);
    expect(Math.sqrt(norm)).toBeLessThan(1e-3);
    const name = "model.paligemma_with_expert.paligemma.model.language_model.norm.weight";
    policy.setParameters({ [name]: policy.getParameters()[name].map((v, i) => v + Math.sin(i)) });
    const moved = await policy.computeGradients(withTeacher, { loss: "distill" });
    expect(moved.loss).toBeGreaterThan(1e-4);
    await expect(policy.computeGradients(batch, { loss: "distill" })).rejects.toThrow(TEACHER_LOG_PROBS_KEY);
    policy.dispose();
  });
});
