import { uniformFloat64 } from "pure-rand/distribution/uniformFloat64";
import { xoroshiro128plus } from "pure-rand/generator/xoroshiro128plus";
import type { PI0FastConfig } from "../config";

/**
 * Parameter names and shapes of LeRobot's pi0_fast checkpoints (`PI0FastPytorch` →
 * `paligemma_with_expert.paligemma` = HF `PaliGemmaForConditionalGeneration`), PyTorch layout:
 * Linear weight [out, in], Conv2d patch embedding [width, 3, p, p].
 */
export const PALIGEMMA_PREFIX = "model.paligemma_with_expert.paligemma.";
export const VISION_PREFIX = `${PALIGEMMA_PREFIX}model.vision_tower.vision_model.`;
export const PROJECTOR_PREFIX = `${PALIGEMMA_PREFIX}model.multi_modal_projector.linear.`;
export const LANGUAGE_PREFIX = `${PALIGEMMA_PREFIX}model.language_model.`;
export const EMBED_TOKENS = `${LANGUAGE_PREFIX}embed_tokens.weight`;
/** Tied to `embed_tokens`: written to checkpoints for a one-to-one mapping, never a separate parameter. */
export const LM_HEAD = `${PALIGEMMA_PREFIX}lm_head.weight`;

export const visionLayerPrefix = (i: number): string => `${VISION_PREFIX}encoder.layers.${i}.`;
export const decoderLayerPrefix = (i: number): string => `${LANGUAGE_PREFIX}layers.${i}.`;

export type ParameterShapes = Record<string, number[]>;

/** Every parameter the model owns (the tied lm head appears once, as `embed_tokens`). */
export function parameterShapes(config: Pick<PI0FastConfig, "vision" | "decoder">): ParameterShapes {
  const { vision: v, decoder: d } = config;
  const shapes: ParameterShapes = {};
  const patches = (v.image_size / v.patch_size) ** 2;
  shapes[`${VISION_PREFIX}embeddings.patch_embedding.weight`] = [v.width, 3, v.patch_size, v.patch_size];
  shapes[`${VISION_PREFIX}embeddings.patch_embedding.bias`] = [v.width];
  shapes[`${VISION_PREFIX}embeddings.position_embedding.weight`] = [patches, v.width];
  for (let i = 0; i < v.depth; i++) {
    const p = visionLayerPrefix(i);
    for (const proj of ["k_proj", "v_proj", "q_proj", "out_proj"]) {
      shapes[`${p}self_attn.${proj}.weight`] = [v.width, v.width];
      shapes[`${p}self_attn.${proj}.bias`] = [v.width];
    }
    shapes[`${p}layer_norm1.weight`] = [v.width];
    shapes[`${p}layer_norm1.bias`] = [v.width];
    shapes[`${p}mlp.fc1.weight`] = [v.mlp_dim, v.width];
    shapes[`${p}mlp.fc1.bias`] = [v.mlp_dim];
    shapes[`${p}mlp.fc2.weight`] = [v.width, v.mlp_dim];
    shapes[`${p}mlp.fc2.bias`] = [v.width];
    shapes[`${p}layer_norm2.weight`] = [v.width];
    shapes[`${p}layer_norm2.bias`] = [v.width];
  }
  shapes[`${VISION_PREFIX}post_layernorm.weight`] = [v.width];
  shapes[`${VISION_PREFIX}post_layernorm.bias`] = [v.width];
  shapes[`${PROJECTOR_PREFIX}weight`] = [d.width, v.width];
  shapes[`${PROJECTOR_PREFIX}bias`] = [d.width];
  shapes[EMBED_TOKENS] = [d.vocab_size, d.width];
  for (let i = 0; i < d.depth; i++) {
    const p = decoderLayerPrefix(i);
    shapes[`${p}self_attn.q_proj.weight`] = [d.heads * d.head_dim, d.width];
    shapes[`${p}self_attn.k_proj.weight`] = [d.kv_heads * d.head_dim, d.width];
    shapes[`${p}self_attn.v_proj.weight`] = [d.kv_heads * d.head_dim, d.width];
    shapes[`${p}self_attn.o_proj.weight`] = [d.width, d.heads * d.head_dim];
    shapes[`${p}mlp.gate_proj.weight`] = [d.mlp_dim, d.width];
    shapes[`${p}mlp.up_proj.weight`] = [d.mlp_dim, d.width];
    shapes[`${p}mlp.down_proj.weight`] = [d.width, d.mlp_dim];
    shapes[`${p}input_layernorm.weight`] = [d.width];
    shapes[`${p}post_attention_layernorm.weight`] = [d.width];
  }
  shapes[`${LANGUAGE_PREFIX}norm.weight`] = [d.width];
  return shapes;
}

/** Tensors in a checkpoint: the parameters plus the tied `lm_head.weight`. */
export function checkpointShapes(config: Pick<PI0FastConfig, "vision" | "decoder">): ParameterShapes {
  const shapes = parameterShapes(config);
  shapes[LM_HEAD] = [...shapes[EMBED_TOKENS]];
  return shapes;
}

export const parameterCount = (shapes: ParameterShapes): number =>
  Object.values(shapes).reduce((sum, s) => sum + s.reduce((a, b) => a * b, 1), 0);

export const isVisionParameter = (name: string): boolean => name.startsWith(`${PALIGEMMA_PREFIX}model.vision_tower.`);

/**
 * LeRobot's AdamW exempts nothing by default; following common practice (and the trainer's
 * contract) we exempt biases, norm scales and embeddings from weight decay.
 */
export function noWeightDecay(name: string): boolean {
  return (
    name.endsWith(".bias") ||
    name.includes("norm") ||
    name.includes("embedding") ||
    name === EMBED_TOKENS
  );
}

/** Uniform [0, 1) from pure-rand's xoroshiro128+, so the same seed gives the same weights everywhere. */
export function seededRandom(seed: number): () => number {
  const generator = xoroshiro128plus(seed | 0);
  return () => uniformFloat64(generator);
}

/**
 * Deterministic initialisation: normal(0, 0.02) for matrices and embeddings (truncated at 2σ),
 * zeros for biases and Gemma RMSNorm scales (which multiply by 1 + w), ones for LayerNorm scales.
 */
export function initParameters(config: Pick<PI0FastConfig, "vision" | "decoder">, seed: number): Record<string, Float32Array> {
  const rand = seededRandom(seed);
  const normal = (): number => {
    for (;;) {
      const u = 1 - rand();
      const v = rand();
      const z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
      if (Math.abs(z) <= 2) return z;
    }
  };
  const out: Record<string, Float32Array> = {};
  for (const [name, shape] of Object.entries(parameterShapes(config))) {
    const size = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(size);
    if (name.endsWith(".bias")) {
      // zeros
    } else if (/layer_norm\d?\.weight$|post_layernorm\.weight$/.test(name)) {
      data.fill(1);
    } else if (shape.length === 1) {
      // Gemma RMSNorm scale: (1 + w), zero-initialised.
    } else {
      for (let i = 0; i < size; i++) data[i] = 0.02 * normal();
    }
    out[name] = data;
  }
  return out;
}
