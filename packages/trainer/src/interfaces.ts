import type { RetentionLossKind, VectorSpace } from "@craft/craft-core";

/** Declared once, in craft-core's config (`craft.retention_loss`). */
export type { RetentionLossKind };

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
  /**
   * Named host copies (the optimizer and checkpoints work on these). Optional for the default
   * named space, where a gradient already is a `NamedArrays`; required for any other representation.
   */
  toNamed?(g: G): NamedArrays;
  /** Inverse of `toNamed` (restoring the cached retention gradient on resume). */
  fromNamed?(named: NamedArrays): G;
}

export interface LossAndGradients<G> {
  readonly loss: number;
  /** Gradients of the trainable parameters only; parameters absent here are frozen and never updated. */
  readonly grads: G;
  readonly metrics?: Readonly<Record<string, number>>;
}

export interface ComputeGradientsOptions {
  /** Which retention loss to use on an anchor batch (`distill` uses the batch's cached teacher distributions). */
  readonly loss?: RetentionLossKind;
  /**
   * A per-micro-batch seed drawn from the trainer's checkpointed PRNG, for anything random inside
   * the policy (dropout, noise). Policies without randomness ignore it.
   */
  readonly seed?: number;
}

/** What the trainer needs from a policy; policies satisfy it structurally (no import of this package). */
export interface TrainablePolicy<B, G = NamedArrays> {
  /** Defaults to the trainer's named Float32Array space when absent. */
  readonly gradientSpace?: GradientSpace<G>;
  /** Loss on a batch without gradients (evaluation). */
  evaluate(batch: B): Promise<{ loss: number; metrics?: Readonly<Record<string, number>> }>;
  /** Loss and gradients of every trainable parameter. `distill` uses the batch's cached teacher distributions. */
  computeGradients(batch: B, options?: ComputeGradientsOptions): Promise<LossAndGradients<G>>;
  /** Parameters by name (copies). */
  getParameters(): NamedArrays;
  /**
   * Replace the named parameters, keeping the others: after a step the trainer passes those it
   * updated (the ones computeGradients returned), on resume every one getParameters returned.
   */
  setParameters(params: NamedArrays): void;
  /** Parameters exempt from weight decay (norms, biases, embeddings as LeRobot's AdamW config does). */
  noWeightDecay?(name: string): boolean;
  /** Write `dir/pretrained_model/{model.safetensors,config.json}` (the directory itself included). */
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

/**
 * Reads and writes named float32 tensors (the CLI injects the policy package's safetensors
 * reader/writer). `metadata` is the safetensors `__metadata__` map.
 */
export interface TensorFileIO {
  write(path: string, tensors: NamedArrays, metadata?: Readonly<Record<string, string>>): Promise<void>;
  read(path: string): Promise<{ tensors: NamedArrays; metadata: Readonly<Record<string, string>> }>;
}

/**
 * The data-parallel hook (issue 9): averages a flat fp32 buffer over every rank (MPI_Allreduce /
 * world size) and returns the result. Identity in a single process.
 */
export type ReduceGradients = (flat: Float32Array) => Promise<Float32Array>;
