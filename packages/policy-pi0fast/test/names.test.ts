import { describe, expect, it } from "vitest";
import { pi0FastConfig } from "../src/config";
import { checkpointShapes, parameterCount, parameterShapes } from "../src/model/parameters";
import { modelFlops } from "../src/model/flops";

/**
 * The expected layout of LeRobot's pi0_fast checkpoint for PaliGemma-3B, written from the published
 * architecture (HF config of google/paligemma-3b-pt-224 and LeRobot's PI0FastPaliGemma), not from
 * the package's code: SigLIP So400m/14 at 224 (hidden 1152, 27 layers, MLP 4304, 16 heads, 256
 * patches), projector 1152 → 2048, Gemma-2B (hidden 2048, 18 layers, MLP 16384, 8 heads of 256,
 * 1 KV head, vocab 257152), lm_head tied to embed_tokens.
 */
function expectedPaligemma3b(): Record<string, number[]> {
  const pg = "model.paligemma_with_expert.paligemma.";
  const vm = `${pg}model.vision_tower.vision_model.`;
  const lm = `${pg}model.language_model.`;
  const table: Record<string, number[]> = {
    [`${vm}embeddings.patch_embedding.weight`]: [1152, 3, 14, 14],
    [`${vm}embeddings.patch_embedding.bias`]: [1152],
    [`${vm}embeddings.position_embedding.weight`]: [256, 1152],
    [`${vm}post_layernorm.weight`]: [1152],
    [`${vm}post_layernorm.bias`]: [1152],
    [`${pg}model.multi_modal_projector.linear.weight`]: [2048, 1152],
    [`${pg}model.multi_modal_projector.linear.bias`]: [2048],
    [`${lm}embed_tokens.weight`]: [257152, 2048],
    [`${lm}norm.weight`]: [2048],
    [`${pg}lm_head.weight`]: [257152, 2048],
  };
  for (let i = 0; i < 27; i++) {
    const l = `${vm}encoder.layers.${i}.`;
    for (const n of ["q", "k", "v", "out"]) {
      table[`${l}self_attn.${n}_proj.weight`] = [1152, 1152];
      table[`${l}self_attn.${n}_proj.bias`] = [1152];
    }
    for (const n of ["layer_norm1", "layer_norm2"]) {
      table[`${l}${n}.weight`] = [1152];
      table[`${l}${n}.bias`] = [1152];
    }
    table[`${l}mlp.fc1.weight`] = [4304, 1152];
    table[`${l}mlp.fc1.bias`] = [4304];
    table[`${l}mlp.fc2.weight`] = [1152, 4304];
    table[`${l}mlp.fc2.bias`] = [1152];
  }
  for (let i = 0; i < 18; i++) {
    const l = `${lm}layers.${i}.`;
    table[`${l}self_attn.q_proj.weight`] = [8 * 256, 2048];
    table[`${l}self_attn.k_proj.weight`] = [256, 2048];
    table[`${l}self_attn.v_proj.weight`] = [256, 2048];
    table[`${l}self_attn.o_proj.weight`] = [2048, 8 * 256];
    table[`${l}mlp.gate_proj.weight`] = [16384, 2048];
    table[`${l}mlp.up_proj.weight`] = [16384, 2048];
    table[`${l}mlp.down_proj.weight`] = [2048, 16384];
    table[`${l}input_layernorm.weight`] = [2048];
    table[`${l}post_attention_layernorm.weight`] = [2048];
  }
  return table;
}

describe("parameter names", () => {
  it("the paligemma_3b preset matches LeRobot's pi0_fast checkpoint layout exactly", () => {
    const config = pi0FastConfig({ preset: "paligemma_3b" });
    const expected = expectedPaligemma3b();
    const actual = checkpointShapes(config);
    expect(Object.keys(actual).sort()).toEqual(Object.keys(expected).sort());
    for (const [name, shape] of Object.entries(expected)) expect(actual[name], name).toEqual(shape);
    // ≈ 2.92B parameters (SigLIP 0.41B + Gemma-2B 2.51B with the tied head counted once)
    const count = parameterCount(parameterShapes(config));
    expect(count).toBeGreaterThan(2.9e9);
    expect(count).toBeLessThan(2.95e9);
  });

  it("the tiny preset has the CPU-test shapes", () => {
    const shapes = parameterShapes(pi0FastConfig({ preset: "tiny" }));
    expect(shapes["model.paligemma_with_expert.paligemma.model.vision_tower.vision_model.embeddings.patch_embedding.weight"]).toEqual([128, 3, 8, 8]);
    expect(shapes["model.paligemma_with_expert.paligemma.model.vision_tower.vision_model.embeddings.position_embedding.weight"]).toEqual([64, 128]);
    expect(shapes["model.paligemma_with_expert.paligemma.model.language_model.layers.3.self_attn.k_proj.weight"]).toEqual([64, 256]);
    expect(shapes["model.paligemma_with_expert.paligemma.model.language_model.layers.4.self_attn.k_proj.weight"]).toBeUndefined();
    expect(shapes["model.paligemma_with_expert.paligemma.model.language_model.embed_tokens.weight"]).toEqual([2048, 256]);
  });
});

describe("model FLOPs", () => {
  it("counts 2·m·n·k per matmul, written out by hand for a one-layer model", () => {
    const config = {
      vision: { image_size: 16, patch_size: 8, width: 8, depth: 1, mlp_dim: 16, heads: 2 },
      decoder: { width: 12, depth: 1, mlp_dim: 20, heads: 2, kv_heads: 1, head_dim: 4, vocab_size: 50 },
    };
    const f = modelFlops(config, { batchSize: 3, cameras: 2, promptLength: 5, actionLength: 7 });
    // vision, per image: 4 patches of 192 values
    const N = 4;
    const perImage = 2 * N * 192 * 8 + (4 * 2 * N * 8 * 8 + 2 * 2 * N * N * 8 + 2 * 2 * N * 8 * 16) + 2 * N * 8 * 12;
    expect(f.vision).toBe(3 * 2 * perImage);
    const L = 2 * N + 5 + 7;
    const decoder = 2 * L * 12 * 8 + 2 * 2 * L * 12 * 4 + 2 * L * 8 * 12 + 2 * 2 * 2 * L * L * 4 + 3 * 2 * L * 12 * 20;
    expect(f.decoder).toBe(3 * decoder);
    expect(f.lmHead).toBe(3 * 2 * 6 * 12 * 50);
    expect(f.trainingStep).toBe(3 * (f.vision + f.decoder + f.lmHead));
  });
});
