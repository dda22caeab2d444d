import * as tf from "@tensorflow/tfjs-core";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../src/backend/index";
import type { ModelInputs } from "../src/inputs";
import { actionLogSoftmax } from "../src/model/pi0fast";
import { createPi0FastPolicy, loadPi0FastPolicy } from "../src/policy";
import { seededRandom } from "../src/model/parameters";
import { loadSo101Frames, so101FastTokenizer } from "./policy-so101";

/**
 * The checkpoint craft writes, read by a second implementation: the PyTorch twin of the model
 * (tools/bench/step-vs-pytorch/twin_model.py) is filled from model.safetensors by LeRobot's tensor
 * names and must produce the same logits. Small widths, one camera, no padding (the twin has
 * none), openpi's input scaling (the twin's).
 */
const SMALL = {
  preset: "tiny",
  scale_decoder_inputs: false,
  empty_cameras: 0,
  image_keys: ["observation.images.front"],
  image_resolution: [16, 16],
  max_state_dim: 6,
  vision: { image_size: 16, patch_size: 8, width: 32, depth: 1, mlp_dim: 64, heads: 2 },
  decoder: { width: 64, depth: 2, mlp_dim: 128, heads: 2, kv_heads: 1, head_dim: 32, vocab_size: 2048 },
};
const TWIN_DIR = new URL("../../../tools/bench/step-vs-pytorch/", import.meta.url).pathname;
const dirs: string[] = [];
beforeAll(async () => {
  await initBackend("cpu");
});
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe("model.safetensors by LeRobot's names, read by a PyTorch twin", () => {
  it("gives the same logits to 1e-4", async () => {
    const frames = await loadSo101Frames();
    const policy = createPi0FastPolicy({ config: SMALL, stats: frames.stats as never, fastTokenizer: await so101FastTokenizer(10), seed: 11 });
    const dir = mkdtempSync(join(tmpdir(), "pi0fast-parity-"));
    dirs.push(dir);
    await policy.save(dir);
    policy.dispose();
    const loaded = await loadPi0FastPolicy(dir);

    const random = seededRandom(5);
    const B = 2;
    const Lp = 7;
    const La = 6;
    const images = Float32Array.from({ length: B * 16 * 16 * 3 }, () => random() * 2 - 1);
    const prompt = Int32Array.from({ length: B * Lp }, () => Math.floor(random() * 2048));
    const actions = Int32Array.from({ length: B * La }, () => Math.floor(random() * 2048));
    const ones = (n: number) => new Uint8Array(n).fill(1);
    const inputs: ModelInputs = {
      batchSize: B,
      images,
      imageShape: [B, 1, 16, 16, 3],
      imageMask: ones(B),
      promptTokens: prompt,
      promptMask: ones(B * Lp),
      promptLength: Lp,
      actionTokens: actions,
      actionMask: ones(B * La),
      lossMask: ones(B * La),
      actionLength: La,
    };
    const params = loaded.getParameters({ includeFrozen: true });
    const ours = tf.tidy(() => {
      const p: Record<string, tf.Tensor> = {};
      for (const [name, shape] of Object.entries(loaded.shapes)) p[name] = tf.tensor(params[name]!, shape);
      return actionLogSoftmax(p, loaded.config, inputs).logits.dataSync().slice();
    }) as Float32Array;
    loaded.dispose();

    const inputsPath = join(dir, "inputs.json");
    writeFileSync(inputsPath, JSON.stringify({ batch: B, height: 16, width: 16, images: Array.from(images), prompt: Array.from(prompt), actions: Array.from(actions) }));
    const twin = JSON.parse(
      execFileSync("/usr/bin/python3", [new URL("./fixtures/twin_logits.py", import.meta.url).pathname, join(dir, "pretrained_model"), inputsPath, TWIN_DIR], {
        encoding: "utf8",
        maxBuffer: 1 << 28,
      }),
    ) as number[][][];
    const flat = twin.flat(2);
    expect(flat.length).toBe(ours.length);
    let worst = 0;
    for (let i = 0; i < flat.length; i++) worst = Math.max(worst, Math.abs(flat[i]! - ours[i]!));
    const scale = Math.max(...flat.map(Math.abs));
    expect(scale).toBeGreaterThan(0.01);
    expect(worst).toBeLessThan(1e-4);
  });
});
