import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../src/backend/index";
import { readPretrained } from "../src/checkpoint";
import type { FastTokenizer } from "../src/fast/tokenizer";
import { LEROBOT_CONFIG_FIELDS } from "../src/lerobot/configJson";
import { pi0FastConfig } from "../src/config";
import { EMBED_TOKENS, LM_HEAD, initParameters, parameterShapes } from "../src/model/parameters";
import { byteLevelTokenizer } from "../src/text/byte-level";
import { copyFileSync } from "node:fs";
import { LEROBOT_PI0FAST_CONFIG } from "./lerobot-fixtures";
import { createPi0FastPolicy, loadPi0FastPolicy } from "../src/policy";
import { float32ToBfloat16Bits, bfloat16BitsToFloat32, readSafetensors, readSafetensorsHeader, writeSafetensors } from "../src/weights/safetensors";
import { loadSo101Frames, so101FastTokenizer, type So101Frames } from "./policy-so101";
import { SO101_ROOT } from "./fast-so101";

/** A one-layer tiny policy on so101's statistics (state [6], action [6], one padded camera). */
const SMALL = { preset: "tiny", max_state_dim: 6, empty_cameras: 1, decoder: { depth: 1 }, vision: { depth: 1 } };

let frames: So101Frames;
let fast: FastTokenizer;
const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), "lerobot-ckpt-"));
  dirs.push(d);
  return d;
};

beforeAll(async () => {
  await initBackend("cpu");
  frames = await loadSo101Frames();
  fast = await so101FastTokenizer(10);
});
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

async function saved(config: Record<string, unknown> = {}, trainConfig?: unknown): Promise<string> {
  const policy = createPi0FastPolicy({ config: { ...SMALL, ...config }, stats: frames.stats as never, fastTokenizer: fast, seed: 3 });
  const dir = tmp();
  await policy.save(dir, { trainConfig });
  policy.dispose();
  return join(dir, "pretrained_model");
}

/** LeRobot's pi0_fast preprocessor for these features, written out by hand from processor_pi0_fast.py / factory.py. */
const lerobotPreprocessor = {
  name: "policy_preprocessor",
  steps: [
    { registry_name: "rename_observations_processor", config: { rename_map: {} } },
    { registry_name: "to_batch_processor", config: {} },
    { registry_name: "relative_actions_processor", config: { enabled: false, exclude_joints: ["gripper"], action_names: null } },
    {
      registry_name: "normalizer_processor",
      config: {
        eps: 1e-8,
        features: { "observation.state": { type: "STATE", shape: [6] }, action: { type: "ACTION", shape: [6] } },
        norm_map: { VISUAL: "IDENTITY", STATE: "QUANTILES", ACTION: "QUANTILES" },
      },
      state_file: "policy_preprocessor_step_3_normalizer_processor.safetensors",
    },
    { registry_name: "pi0_fast_prepare_state_tokenizer_processor_step", config: {} },
    {
      registry_name: "tokenizer_processor",
      config: { max_length: 48, task_key: "task", padding_side: "right", padding: "max_length", truncation: true, tokenizer_name: "google/paligemma-3b-pt-224" },
    },
    {
      registry_name: "action_tokenizer_processor",
      config: {
        trust_remote_code: true,
        max_action_tokens: 64,
        fast_skip_tokens: 128,
        paligemma_tokenizer_name: "google/paligemma-3b-pt-224",
        allow_truncation: true,
        action_tokenizer_name: "lerobot/fast-action-tokenizer",
      },
    },
    { registry_name: "device_processor", config: { device: "cpu", float_dtype: null } },
  ],
};

describe("pretrained_model/ in LeRobot's layout", () => {
  it("writes LeRobot's files: config.json in its schema, processors with their normaliser state, train_config.json", async () => {
    const dir = await saved({}, { steps: 3, policy: { type: "pi0_fast" } });
    expect(readdirSync(dir).sort()).toEqual(
      [
        "action_tokenizer",
        "config.json",
        "craft_config.json",
        "model.safetensors",
        "policy_postprocessor.json",
        "policy_postprocessor_step_0_unnormalizer_processor.safetensors",
        "policy_preprocessor.json",
        "policy_preprocessor_step_3_normalizer_processor.safetensors",
        "train_config.json",
      ].sort(),
    );
    const config = JSON.parse(readFileSync(join(dir, "config.json"), "utf8"));
    expect(Object.keys(config)).toEqual([...LEROBOT_CONFIG_FIELDS]);
    expect(config.input_features).toEqual({ "observation.state": { type: "STATE", shape: [6] } });
    expect(config.output_features).toEqual({ action: { type: "ACTION", shape: [6] } });
    expect(JSON.parse(readFileSync(join(dir, "policy_preprocessor.json"), "utf8"))).toEqual(lerobotPreprocessor);
    const post = JSON.parse(readFileSync(join(dir, "policy_postprocessor.json"), "utf8"));
    expect(post.steps.map((s: { registry_name: string }) => s.registry_name)).toEqual(["unnormalizer_processor", "absolute_actions_processor", "device_processor"]);
    expect(post.steps[0].config.features).toEqual({ action: { type: "ACTION", shape: [6] } });
    const state = await readSafetensors(join(dir, "policy_preprocessor_step_3_normalizer_processor.safetensors"));
    expect(Array.from(state.tensors["observation.state.q01"]!.data as Float32Array)).toEqual(Array.from(Float32Array.from(frames.stats["observation.state"]!.q01!)));
    expect(Array.from(state.tensors["action.mean"]!.data as Float32Array)).toEqual(Array.from(Float32Array.from(frames.stats.action!.mean!)));
    expect(JSON.parse(readFileSync(join(dir, "train_config.json"), "utf8"))).toEqual({ steps: 3, policy: { type: "pi0_fast" } });
  });

  it("writes JSON byte-equal to Python's json.dumps, and normaliser state Python reads as the dataset's stats", async () => {
    const dir = await saved();
    const script = `
import json, struct, sys, numpy as np
d = sys.argv[1]
for name, indent in [("config.json", 4), ("policy_preprocessor.json", 2), ("policy_postprocessor.json", 2)]:
    text = open(f"{d}/{name}").read()
    assert json.dumps(json.loads(text), indent=indent) == text, name
stats = json.load(open(sys.argv[2]))
raw = open(f"{d}/policy_preprocessor_step_3_normalizer_processor.safetensors", "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
header = json.loads(raw[8:8 + n])
for key, meta in header.items():
    if key == "__metadata__": continue
    assert meta["dtype"] == "F32", key
    b, e = meta["data_offsets"]
    values = np.frombuffer(raw[8 + n + b:8 + n + e], dtype="<f4")
    feature, stat = key.rsplit(".", 1)
    expected = np.asarray(stats[feature][stat], dtype=np.float32).reshape(-1)
    assert np.array_equal(values, expected), key
print(len(header))
`;
    const out = execFileSync("/usr/bin/python3", ["-c", script, dir, `${SO101_ROOT}meta/stats.json`], { encoding: "utf8" });
    expect(Number(out.trim())).toBeGreaterThanOrEqual(2 * 9);
  });

  it("loads back to identical parameters and statistics", async () => {
    const dir = await saved();
    const read = await readPretrained(dir);
    const policy = createPi0FastPolicy({ config: SMALL, stats: frames.stats as never, fastTokenizer: fast, seed: 3 });
    const original = policy.getParameters({ includeFrozen: true });
    for (const [name, values] of Object.entries(original)) expect(Array.from(read.parameters[name]!), name).toEqual(Array.from(values));
    expect(read.stats["action"]!.q99).toEqual(Array.from(Float32Array.from(frames.stats.action!.q99!)));
    expect(read.config.preset).toBe("tiny");
    expect(read.config.decoder.depth).toBe(1);
    const loaded = await loadPi0FastPolicy(dir);
    expect(loaded.numParameters).toBe(policy.numParameters);
    policy.dispose();
    loaded.dispose();
  });

  it("still reads craft's earlier layout (whole config in config.json, stats.json)", async () => {
    const dir = await saved();
    const policy = createPi0FastPolicy({ config: SMALL, stats: frames.stats as never, fastTokenizer: fast, seed: 3 });
    // The fields of PI0FastConfig before LeRobot's were added.
    const earlierFields = ["type", "preset", "chunk_size", "n_action_steps", "max_state_dim", "max_action_dim", "max_action_tokens", "image_resolution", "empty_cameras",
      "tokenizer_max_length", "temperature", "max_decoding_steps", "fast_skip_tokens", "use_kv_cache", "normalization_mapping", "optimizer_lr", "optimizer_betas",
      "optimizer_eps", "optimizer_weight_decay", "optimizer_grad_clip_norm", "scheduler_warmup_steps", "scheduler_decay_steps", "scheduler_decay_lr",
      "freeze_vision_encoder", "freeze_lm_head", "device", "scale_decoder_inputs", "image_keys", "vision", "decoder"];
    const earlier = Object.fromEntries(Object.entries(policy.config).filter(([k]) => earlierFields.includes(k)));
    expect(Object.keys(earlier)).toHaveLength(earlierFields.length);
    writeFileSync(join(dir, "config.json"), JSON.stringify(earlier, null, 2));
    writeFileSync(join(dir, "stats.json"), JSON.stringify(frames.stats));
    for (const f of readdirSync(dir)) if (f.startsWith("policy_") || f === "craft_config.json") rmSync(join(dir, f));
    const read = await readPretrained(dir);
    expect(read.config.preset).toBe("tiny");
    expect(read.config.decoder.depth).toBe(1);
    expect(read.stats.action!.q01).toEqual(frames.stats.action!.q01);
    policy.dispose();
  });

  it("stores BF16 when dtype is bfloat16, and reads it back widened", async () => {
    const dir = await saved({ dtype: "bfloat16" });
    const header = await readSafetensorsHeader(join(dir, "model.safetensors"));
    expect(new Set(Object.values(header.tensors).map((t) => t.dtype))).toEqual(new Set(["BF16"]));
    const read = await readPretrained(dir);
    const policy = createPi0FastPolicy({ config: { ...SMALL, dtype: "bfloat16" }, stats: frames.stats as never, fastTokenizer: fast, seed: 3 });
    const name = "model.paligemma_with_expert.paligemma.model.language_model.layers.0.mlp.gate_proj.weight";
    const original = policy.getParameters({ includeFrozen: true })[name]!;
    expect(Array.from(read.parameters[name]!)).toEqual(Array.from(original, (v) => bfloat16BitsToFloat32(float32ToBfloat16Bits(v))));
    policy.dispose();
  });

  it("refuses a missing tensor, an extra tensor, a wrong shape and an unknown normalisation mode, naming file and field", async () => {
    const dir = await saved();
    const model = join(dir, "model.safetensors");
    const original = await readSafetensors(model);
    const rewrite = async (edit: (t: Record<string, { dtype: "F32"; shape: number[]; data: Float32Array }>) => void) => {
      const tensors: Record<string, { dtype: "F32"; shape: number[]; data: Float32Array }> = {};
      for (const [n, t] of Object.entries(original.tensors)) tensors[n] = { dtype: "F32", shape: t.shape, data: t.data as Float32Array };
      edit(tensors);
      await writeSafetensors(model, tensors);
    };
    const norm = "model.paligemma_with_expert.paligemma.model.language_model.norm.weight";
    await rewrite((t) => delete t[norm]);
    await expect(readPretrained(dir)).rejects.toThrow(`${model}: missing tensor "${norm}"`);
    await rewrite((t) => (t["model.action_out_proj.weight"] = { dtype: "F32", shape: [2], data: new Float32Array(2) }));
    await expect(readPretrained(dir)).rejects.toThrow(`${model}: unexpected tensor "model.action_out_proj.weight"`);
    await rewrite((t) => (t[norm] = { dtype: "F32", shape: [2048], data: new Float32Array(2048) }));
    await expect(readPretrained(dir)).rejects.toThrow(`${model}: tensor "${norm}": expected shape [256] (preset tiny), got [2048]`);
    await rewrite(() => undefined);
    const pre = join(dir, "policy_preprocessor.json");
    const json = JSON.parse(readFileSync(pre, "utf8"));
    json.steps[3].config.norm_map.STATE = "ROBUST";
    writeFileSync(pre, JSON.stringify(json));
    await expect(readPretrained(dir)).rejects.toThrow(`${pre}: steps[3].config.norm_map.STATE: expected one of IDENTITY, MEAN_STD, MIN_MAX, QUANTILES, QUANTILE10, got "ROBUST"`);
  });
});

describe("a pretrained_model/ folder as LeRobot writes it", () => {
  /** LeRobot's own config.json, CPU widths in the sidecar, the head stored as lm_head only, the normaliser state written by numpy. */
  async function lerobotFolder(): Promise<{ dir: string; stats: Record<string, number[]> }> {
    const dir = tmp();
    copyFileSync(LEROBOT_PI0FAST_CONFIG, join(dir, "config.json"));
    const sidecar = {
      preset: "tiny",
      vision: { image_size: 224, patch_size: 56, width: 32, depth: 1, mlp_dim: 64, heads: 2 },
      decoder: { width: 64, depth: 1, mlp_dim: 128, heads: 2, kv_heads: 1, head_dim: 32, vocab_size: 2048 },
    };
    writeFileSync(join(dir, "craft_config.json"), JSON.stringify(sidecar));
    const config = pi0FastConfig({ ...sidecar, image_resolution: [224, 224] });
    const values = initParameters(config, 1);
    const tensors: Record<string, { dtype: "F32"; shape: number[]; data: Float32Array }> = {};
    for (const [name, shape] of Object.entries(parameterShapes(config))) {
      tensors[name === EMBED_TOKENS ? LM_HEAD : name] = { dtype: "F32", shape, data: values[name]! };
    }
    await writeSafetensors(join(dir, "model.safetensors"), tensors);
    const pre = structuredClone(lerobotPreprocessor) as typeof lerobotPreprocessor;
    pre.steps[3]!.config = {
      eps: 1e-8,
      features: {
        "observation.state": { type: "STATE", shape: [6] },
        "observation.images.front": { type: "VISUAL", shape: [3, 224, 224] },
        action: { type: "ACTION", shape: [6] },
      },
      norm_map: { VISUAL: "IDENTITY", STATE: "MEAN_STD", ACTION: "MEAN_STD" },
    } as never;
    writeFileSync(join(dir, "policy_preprocessor.json"), JSON.stringify(pre, null, 2));
    const stats = { "observation.state.mean": [1, 2, 3, 4, 5, 6], "observation.state.std": [0.5, 1, 1.5, 2, 2.5, 3], "action.mean": [0, 0, 0, 0, 0, 1], "action.std": [1, 1, 1, 1, 1, 2] };
    const script = `
import json, struct, sys, numpy as np
stats = json.loads(sys.argv[2])
header, blobs, offset = {}, [], 0
for name, values in stats.items():
    data = np.asarray(values, dtype="<f4").tobytes()
    header[name] = {"dtype": "F32", "shape": [len(values)], "data_offsets": [offset, offset + len(data)]}
    blobs.append(data)
    offset += len(data)
text = json.dumps(header).encode()
text += b" " * (-len(text) % 8)
open(sys.argv[1], "wb").write(struct.pack("<Q", len(text)) + text + b"".join(blobs))
`;
    execFileSync("/usr/bin/python3", ["-c", script, join(dir, "policy_preprocessor_step_3_normalizer_processor.safetensors"), JSON.stringify(stats)]);
    return { dir, stats };
  }

  it("loads: widths from the sidecar, cameras from input_features, the tied head from lm_head, statistics from the normaliser state", async () => {
    const { dir, stats } = await lerobotFolder();
    const read = await readPretrained(dir);
    expect(read.config.image_keys).toEqual(["observation.images.front"]);
    expect(read.config.normalization_mapping.STATE).toBe("MEAN_STD");
    expect(read.stats["observation.state"]).toEqual({ mean: stats["observation.state.mean"], std: stats["observation.state.std"] });
    expect(read.stats.action!.std).toEqual(stats["action.std"]);
    const head = (await readSafetensors(join(dir, "model.safetensors"))).tensors[LM_HEAD]!.data;
    expect(read.parameters[EMBED_TOKENS]).toEqual(head);
    expect(read.fastTokenizer).toBeUndefined();
    await expect(loadPi0FastPolicy(dir)).rejects.toThrow(`${join(dir, "action_tokenizer")}: missing (the FAST action tokenizer; config.json names "lerobot/fast-action-tokenizer"`);
    const policy = await loadPi0FastPolicy(dir, { fastTokenizer: fast, textTokenizer: byteLevelTokenizer() });
    expect(policy.config.decoder.width).toBe(64);
    policy.dispose();
  });
});
