import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { pi0FastConfig } from "../src/config";
import { configFromLeRobot, craftSidecar, lerobotConfigJson, LEROBOT_CONFIG_FIELDS } from "../src/lerobot/configJson";
import { pythonFloatRepr } from "../src/lerobot/pyJson";
import { LEROBOT_PI0FAST_CONFIG } from "./lerobot-fixtures";

const lerobotText = readFileSync(LEROBOT_PI0FAST_CONFIG, "utf8");
const lerobotJson = JSON.parse(lerobotText) as Record<string, unknown>;
const files = { config: "/ckpt/config.json", sidecar: "/ckpt/craft_config.json" };

describe("LeRobot config.json", () => {
  it("reads LeRobot's own file and writes it back byte for byte", () => {
    const { config, warnings } = configFromLeRobot(lerobotJson, undefined, files);
    expect(warnings).toEqual([]);
    expect(config.preset).toBe("paligemma_3b");
    expect(config.decoder.width).toBe(2048);
    expect(config.image_keys).toEqual(["observation.images.front"]);
    expect(config.input_features["observation.state"]).toEqual({ type: "STATE", shape: [6] });
    expect(config.normalization_mapping).toEqual({ VISUAL: "IDENTITY", STATE: "MEAN_STD", ACTION: "MEAN_STD" });
    expect(config.device).toBe("wasm");
    expect(lerobotConfigJson(config)).toBe(lerobotText);
  });

  it("loads LeRobot's file at CPU widths through the sidecar, and still writes LeRobot's bytes", () => {
    const sidecar = { preset: "tiny", decoder: { depth: 1 }, vision: { depth: 1, image_size: 224, patch_size: 14 }, image_keys: ["observation.images.front"] };
    const { config } = configFromLeRobot(lerobotJson, sidecar, files);
    expect(config.decoder).toMatchObject({ width: 256, depth: 1, vocab_size: 2048 });
    // LeRobot's values win over the preset's: image_resolution stays 224, so the tiny tower sees 224.
    expect(config.chunk_size).toBe(50);
    expect(config.image_resolution).toEqual([224, 224]);
    expect(() => configFromLeRobot(lerobotJson, { preset: "tiny" }, files)).toThrow(
      "/ckpt/config.json: image_resolution: expected [64, 64] (vision.image_size), got [224,224]",
    );
    expect(lerobotConfigJson(config)).toBe(lerobotText);
  });

  it("writes exactly LeRobot's fields, in its order, and nothing craft-only", () => {
    const config = pi0FastConfig({ preset: "tiny", freeze_vision_encoder: true, image_keys: ["observation.images.top"] });
    const written = JSON.parse(lerobotConfigJson(config));
    expect(Object.keys(written)).toEqual([...LEROBOT_CONFIG_FIELDS]);
    expect(Object.keys(written)).toEqual(Object.keys(lerobotJson));
    for (const foreign of ["freeze_vision_encoder", "freeze_lm_head", "scale_decoder_inputs", "image_keys", "vision", "decoder", "preset"]) {
      expect(written).not.toHaveProperty(foreign);
    }
    const back = configFromLeRobot(written, craftSidecar(config), files).config;
    expect(back).toEqual(config);
  });

  it("refuses a field outside LeRobot's schema, naming the file and field", () => {
    expect(() => configFromLeRobot({ ...lerobotJson, vision: {} }, undefined, files)).toThrow(
      "/ckpt/config.json: vision: not a field of LeRobot's PI0FastConfig",
    );
  });

  it("refuses settings that would change outputs and are not implemented", () => {
    expect(() => configFromLeRobot({ ...lerobotJson, use_relative_actions: true }, undefined, files)).toThrow(/^\/ckpt\/config.json: use_relative_actions: expected false/);
    expect(() => configFromLeRobot({ ...lerobotJson, rtc_config: { enabled: true } }, undefined, files)).toThrow(/^\/ckpt\/config.json: rtc_config: expected null/);
    expect(() => configFromLeRobot({ ...lerobotJson, use_peft: true }, undefined, files)).toThrow(/^\/ckpt\/config.json: use_peft: expected false/);
    expect(() =>
      configFromLeRobot({ ...lerobotJson, normalization_mapping: { VISUAL: "IDENTITY", STATE: "LOG", ACTION: "MEAN_STD" } }, undefined, files),
    ).toThrow(/^\/ckpt\/config.json: normalization_mapping.STATE: expected .*got "LOG"/);
    expect(() => configFromLeRobot(lerobotJson, { decoder: { width: "wide" } }, files)).toThrow(/^\/ckpt\/craft_config.json: decoder.width: expected/);
  });

  it("warns once, in one line, about execution settings it reads but does not use", () => {
    const { warnings, config } = configFromLeRobot({ ...lerobotJson, compile_model: true, gradient_checkpointing: true }, undefined, files);
    expect(warnings).toEqual(["/ckpt/config.json: read but not used here (PyTorch execution settings): gradient_checkpointing=true, compile_model=true"]);
    expect(JSON.parse(lerobotConfigJson(config)).compile_model).toBe(true);
  });

  it("derives the widths from paligemma_variant: gemma_300m", () => {
    const { config } = configFromLeRobot({ ...lerobotJson, paligemma_variant: "gemma_300m" }, undefined, files);
    expect(config.preset).toBe("gemma_300m");
    expect(config.decoder).toMatchObject({ width: 1024, depth: 18, mlp_dim: 4096, heads: 8, kv_heads: 1, head_dim: 256 });
  });
});

describe("Python float repr", () => {
  it("matches Python's repr on the values LeRobot writes and on the switch points", () => {
    const cases: [number, string][] = [
      [0, "0.0"], [1, "1.0"], [2.5e-5, "2.5e-05"], [1e-8, "1e-08"], [0.01, "0.01"], [0.95, "0.95"],
      [1e-4, "0.0001"], [1.5e16, "1.5e+16"], [1e15, "1000000000000000.0"], [-0.125, "-0.125"], [123.456, "123.456"],
    ];
    for (const [x, repr] of cases) expect(pythonFloatRepr(x), String(x)).toBe(repr);
  });
});
