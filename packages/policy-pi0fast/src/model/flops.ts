import type { PI0FastConfig } from "../config";

export interface ModelFlops {
  /** Forward FLOPs of the whole batch (a multiply-add counts 2). */
  readonly forward: number;
  /** Forward + backward (backward ≈ 2× forward for matmuls). */
  readonly trainingStep: number;
  readonly vision: number;
  readonly decoder: number;
  readonly lmHead: number;
}

/**
 * Analytic matmul FLOPs of one forward of the model as this package computes it: every camera's
 * vision tower, the decoder over [images | prompt | action block] with full L×L attention, and
 * the tied head over the La − 1 predicting positions. Elementwise ops are not counted.
 */
export function modelFlops(
  config: Pick<PI0FastConfig, "vision" | "decoder">,
  shape: { batchSize: number; cameras: number; promptLength: number; actionLength: number },
): ModelFlops {
  const { vision: v, decoder: d } = config;
  const N = (v.image_size / v.patch_size) ** 2;
  const patchDim = 3 * v.patch_size * v.patch_size;
  const perImage =
    2 * N * patchDim * v.width +
    v.depth * (4 * 2 * N * v.width * v.width + 2 * 2 * N * N * v.width + 2 * 2 * N * v.width * v.mlp_dim) +
    2 * N * v.width * d.width;
  const L = shape.cameras * N + shape.promptLength + shape.actionLength;
  const qo = 2 * 2 * L * d.width * d.heads * d.head_dim;
  const kv = 2 * 2 * L * d.width * d.kv_heads * d.head_dim;
  const attention = 2 * 2 * d.heads * L * L * d.head_dim;
  const mlp = 3 * 2 * L * d.width * d.mlp_dim;
  const perSample = d.depth * (qo + kv + attention + mlp);
  const head = 2 * (shape.actionLength - 1) * d.width * d.vocab_size;
  const vision = shape.batchSize * shape.cameras * perImage;
  const decoder = shape.batchSize * perSample;
  const lmHead = shape.batchSize * head;
  const forward = vision + decoder + lmHead;
  return { forward, trainingStep: 3 * forward, vision, decoder, lmHead };
}
