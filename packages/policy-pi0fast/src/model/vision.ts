import * as tf from "@tensorflow/tfjs-core";
import type { DecoderConfig, VisionConfig } from "../config";
import { groupedAttention } from "./attention";
import { geluTanh, layerNorm, linear } from "./ops";
import { PROJECTOR_PREFIX, VISION_PREFIX, visionLayerPrefix } from "./parameters";

export type Params = Readonly<Record<string, tf.Tensor>>;

/**
 * SigLIP vision tower (HF `SiglipVisionTransformer`, no pooling head as in PaliGemma) followed by
 * PaliGemma's linear multimodal projector. images [N, H, W, 3] in [−1, 1] → [N, patches, decoder width].
 * The Conv2d patch embedding (stride = kernel = p) runs as a reshape into (c, ky, kx) patch vectors
 * and one matmul with the [width, 3·p·p] view of the conv weight.
 */
export function visionTower(params: Params, vision: VisionConfig, decoder: DecoderConfig, images: tf.Tensor): tf.Tensor {
  const [N, H, W] = images.shape;
  const p = vision.patch_size;
  const gh = H / p;
  const gw = W / p;
  const tokens = gh * gw;
  const width = vision.width;
  const patches = tf.reshape(
    tf.transpose(tf.reshape(images, [N * gh, p, gw, p, 3]), [0, 2, 4, 1, 3]),
    [N * tokens, 3 * p * p],
  );
  const convWeight = tf.reshape(params[`${VISION_PREFIX}embeddings.patch_embedding.weight`], [width, 3 * p * p]);
  let x = linear(patches, convWeight, params[`${VISION_PREFIX}embeddings.patch_embedding.bias`]);
  x = tf.reshape(
    tf.add(tf.reshape(x, [N, tokens, width]), params[`${VISION_PREFIX}embeddings.position_embedding.weight`]),
    [N * tokens, width],
  );
  const heads = vision.heads;
  const hd = width / heads;
  for (let i = 0; i < vision.depth; i++) {
    const pre = visionLayerPrefix(i);
    const h = layerNorm(x, params[`${pre}layer_norm1.weight`], params[`${pre}layer_norm1.bias`]);
    const q = tf.reshape(linear(h, params[`${pre}self_attn.q_proj.weight`], params[`${pre}self_attn.q_proj.bias`]), [N, tokens, heads, hd]);
    const k = linear(h, params[`${pre}self_attn.k_proj.weight`], params[`${pre}self_attn.k_proj.bias`]);
    const v = linear(h, params[`${pre}self_attn.v_proj.weight`], params[`${pre}self_attn.v_proj.bias`]);
    const toCache = (t: tf.Tensor) => tf.transpose(tf.reshape(t, [N, tokens, heads, hd]), [0, 2, 1, 3]);
    const attn = groupedAttention(q, toCache(k), toCache(v), null);
    x = tf.add(x, linear(attn, params[`${pre}self_attn.out_proj.weight`], params[`${pre}self_attn.out_proj.bias`]));
    const h2 = layerNorm(x, params[`${pre}layer_norm2.weight`], params[`${pre}layer_norm2.bias`]);
    const mlp = linear(
      geluTanh(linear(h2, params[`${pre}mlp.fc1.weight`], params[`${pre}mlp.fc1.bias`])),
      params[`${pre}mlp.fc2.weight`],
      params[`${pre}mlp.fc2.bias`],
    );
    x = tf.add(x, mlp);
  }
  x = layerNorm(x, params[`${VISION_PREFIX}post_layernorm.weight`], params[`${VISION_PREFIX}post_layernorm.bias`]);
  const projected = linear(x, params[`${PROJECTOR_PREFIX}weight`], params[`${PROJECTOR_PREFIX}bias`]);
  return tf.reshape(projected, [N, tokens, decoder.width]);
}
