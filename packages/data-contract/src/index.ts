/**
 * `@craft/data-contract`: what a dataset hands a policy, declared once. @craft/datasets produces
 * these shapes and @craft/policy-pi0fast consumes them; neither depends on the other, both on this
 * types-only package (it has no runtime code, so nothing is built or bundled for it).
 */

/** A dense array with a shape, row-major. No tensor library: the policy turns these into tensors. */
export interface ArrayTensor<D extends Float32Array | Uint8Array | Int32Array = Float32Array | Uint8Array | Int32Array> {
  readonly data: D;
  readonly shape: readonly number[];
}

/**
 * One batch of frames, as the loader yields it.
 *
 * `features` holds, by LeRobot feature key:
 * - float features (`observation.state` [B, D], `action` [B, D] or, with delta_timestamps,
 *   [B, T, D]) as Float32Array;
 * - `<key>_is_pad` masks [B, T] as Uint8Array (1 = padded: index fell outside the episode);
 * - images and decoded video frames (`observation.images.*`) as Uint8Array RGB [B, H, W, 3]
 *   (with delta_timestamps: [B, T, H, W, 3]);
 * - `timestamp` [B] Float32Array, `episode_index`, `frame_index`, `index`, `task_index` [B] Int32Array.
 * `task` is the language instruction of each frame.
 */
export interface Batch {
  readonly size: number;
  readonly features: Readonly<Record<string, ArrayTensor>>;
  readonly task: readonly string[];
}

/** Per-feature normalisation statistics, as in meta/stats.json (arrays over the feature's last axis). */
export interface FeatureStats {
  readonly mean?: readonly number[];
  readonly std?: readonly number[];
  readonly min?: readonly number[];
  readonly max?: readonly number[];
  readonly q01?: readonly number[];
  readonly q10?: readonly number[];
  readonly q50?: readonly number[];
  readonly q90?: readonly number[];
  readonly q99?: readonly number[];
  readonly count?: readonly number[];
}

export type DatasetStats = Readonly<Record<string, FeatureStats>>;
