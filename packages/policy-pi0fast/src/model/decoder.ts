import * as tf from "@tensorflow/tfjs-core";
import type { DecoderConfig } from "../config";
import { applyRope, groupedAttention } from "./attention";
import { embed, geluTanh, linear, matmul, rmsNorm, transposeWeight } from "./ops";
import { EMBED_TOKENS, LANGUAGE_PREFIX, decoderLayerPrefix } from "./parameters";
import type { Params } from "./vision";

/** Keys and values of one decoder layer, post-RoPE, in [B, kvHeads, L, headDim] layout. */
export interface LayerCache {
  readonly k: tf.Tensor;
  readonly v: tf.Tensor;
}

/** Gemma token embedding scaled by √width (as LeRobot's `embed_prefix_fast`). ids [N] int32 → [N, width]. */
export function embedTokens(params: Params, decoder: DecoderConfig, ids: tf.Tensor): tf.Tensor {
  return tf.mul(embed(params[EMBED_TOKENS], ids), Math.sqrt(decoder.width));
}

/**
 * Gemma decoder stack over x [B·L, width]: pre-RMSNorm multi-query attention with RoPE and a GeGLU
 * MLP (gelu_tanh(gate) · up), then the final norm. With `past`, the new keys/values are appended
 * to each layer's cache (decoding); `collect` returns every layer's full keys/values.
 */
export function decoderStack(
  params: Params,
  decoder: DecoderConfig,
  x: tf.Tensor,
  batchSize: number,
  length: number,
  rope: { cos: tf.Tensor; sin: tf.Tensor },
  bias: tf.Tensor | null,
  past?: readonly LayerCache[],
): { hidden: tf.Tensor; caches: LayerCache[] } {
  const { heads, kv_heads: G, head_dim: hd } = decoder;
  const caches: LayerCache[] = [];
  let h = x;
  for (let i = 0; i < decoder.depth; i++) {
    const pre = decoderLayerPrefix(i);
    const normed = rmsNorm(h, params[`${pre}input_layernorm.weight`]);
    const q = applyRope(tf.reshape(linear(normed, params[`${pre}self_attn.q_proj.weight`]), [batchSize, length, heads, hd]), rope.cos, rope.sin);
    const kNew = applyRope(tf.reshape(linear(normed, params[`${pre}self_attn.k_proj.weight`]), [batchSize, length, G, hd]), rope.cos, rope.sin);
    const vNew = tf.reshape(linear(normed, params[`${pre}self_attn.v_proj.weight`]), [batchSize, length, G, hd]);
    let k = tf.transpose(kNew, [0, 2, 1, 3]);
    let v = tf.transpose(vNew, [0, 2, 1, 3]);
    if (past) {
      k = tf.concat([past[i].k, k], 2);
      v = tf.concat([past[i].v, v], 2);
    }
    caches.push({ k, v });
    const attn = groupedAttention(q, k, v, bias);
    h = tf.add(h, linear(attn, params[`${pre}self_attn.o_proj.weight`]));
    const normed2 = rmsNorm(h, params[`${pre}post_attention_layernorm.weight`]);
    const gate = geluTanh(linear(normed2, params[`${pre}mlp.gate_proj.weight`]));
    const up = linear(normed2, params[`${pre}mlp.up_proj.weight`]);
    h = tf.add(h, linear(tf.mul(gate, up), params[`${pre}mlp.down_proj.weight`]));
  }
  return { hidden: rmsNorm(h, params[`${LANGUAGE_PREFIX}norm.weight`]), caches };
}

/** Tied output head: hidden [N, width] → logits [N, vocab]. */
export function lmHead(params: Params, hidden: tf.Tensor): tf.Tensor {
  return matmul(hidden, transposeWeight(params[EMBED_TOKENS]));
}
