import type { VectorSpace } from "@craft/craft-core";

/** Parameter name → values (row-major), as stored in model.safetensors. */
export type NamedArrays = Record<string, Float32Array>;

/**
 * The vector space the trainer hands to craft-core for gradients. The default is craft-core's
 * named Float32Array map; a policy may bring its own (e.g. tensors on a device).
 */
export interface GradientSpace<G> extends VectorSpace<G> {
  /** Flatten to one contiguous buffer in a fixed parameter order (all-reduce, checkpoints). */
  toFlat(g: G): Float32Array;
  fromFlat(flat: Float32Array, like: G): G;
}

export interface LossAndGradients<G> {
  readonly loss: number;
  readonly grads: G;
  readonly metrics?: Readonly<Record<string, number>>;
}

export type RetentionLossKind = "replay" | "distill";

/** What the trainer needs from a policy; policies satisfy it structurally (no import of this package). */
export interface TrainablePolicy<B, G = NamedArrays> {
  /** Defaults to the trainer's named Float32Array space when absent. */
  readonly gradientSpace?: GradientSpace<G>;
  /** Loss on a batch without gradients (evaluation). */
  evaluate(batch: B): Promise<{ loss: number; metrics?: Readonly<Record<string, number>> }>;
  /** Loss and gradients of every trainable parameter. `distill` uses the batch's cached teacher distributions. */
  computeGradients(batch: B, options?: { readonly loss?: RetentionLossKind }): Promise<LossAndGradients<G>>;
  /** Trainable parameters by name (copies). */
  getParameters(): NamedArrays;
  setParameters(params: NamedArrays): void;
  /** Parameters exempt from weight decay (norms, biases, embeddings as LeRobot's AdamW config does). */
  noWeightDecay?(name: string): boolean;
  /** Write pretrained_model/{model.safetensors,config.json} into dir. */
  save(dir: string): Promise<void>;
}

/** An endless (or epoch-bounded) stream of batches whose position can be saved and restored. */
export interface BatchSource<B> {
  next(): Promise<B>;
  /** JSON-serialisable position: restoring it yields exactly the batches that would have come next. */
  position(): unknown;
  restore(position: unknown): void;
  close?(): Promise<void>;
}
