import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { inspectPretrained } from "../src/checkpoint";
import { LEROBOT_PI0FAST_CONFIG } from "./lerobot-fixtures";

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe("inspecting a 3B LeRobot checkpoint from its header alone", () => {
  it("counts gemma_2b + So400m parameters from a sparse model.safetensors, reading only the header", async () => {
    const dir = mkdtempSync(join(tmpdir(), "pi0fast-3b-"));
    dirs.push(dir);
    const script = new URL("./fixtures/sparse_pi0fast_checkpoint.py", import.meta.url).pathname;
    const facts = JSON.parse(execFileSync("/usr/bin/python3", [script, dir, LEROBOT_PI0FAST_CONFIG], { encoding: "utf8" })) as {
      parameters: number;
      tensors: number;
      header_bytes: number;
      file_bytes: number;
    };
    // The data region is sparse: the file is ~11.7 GB long and holds almost no blocks.
    expect(statSync(join(dir, "model.safetensors")).size).toBe(facts.file_bytes);
    expect(statSync(join(dir, "model.safetensors")).blocks * 512).toBeLessThan(facts.header_bytes + (1 << 20));
    const info = await inspectPretrained(dir);
    expect(info.type).toBe("pi0_fast");
    expect(info.preset).toBe("paligemma_3b");
    expect(info.paligemma_variant).toBe("gemma_2b");
    expect(info.parameters).toBe(facts.parameters);
    expect(info.parameters).toBeGreaterThan(2.9e9);
    expect(info.dtypes).toEqual({ F32: facts.parameters });
    expect(info.tensors).toBe(facts.tensors);
    expect(info.missing).toEqual([]);
    expect(info.mismatched).toEqual([]);
    expect(info.unexpected).toEqual([]);
    expect(info.bytes_read).toBe(facts.header_bytes);
    expect(info.input_features["observation.images.front"]).toEqual({ type: "VISUAL", shape: [3, 224, 224] });
    expect(info.normalization_mapping).toEqual({ VISUAL: "IDENTITY", STATE: "MEAN_STD", ACTION: "MEAN_STD" });
    expect(info.text_tokenizer).toBe("google/paligemma-3b-pt-224");
    expect(info.action_tokenizer).toBe("lerobot/fast-action-tokenizer");
  });
});
