/**
 * The contract between the processor (batches → token ids, pixels, masks) and the model.
 * Two right-padded blocks per sample: the prompt (prefix, bidirectional together with the image
 * tokens) and the action sequence (suffix, causal). Positions for RoPE count valid tokens only,
 * so padding holes do not shift them.
 */
export interface ModelInputs {
  readonly batchSize: number;
  /** Pixels in [-1, 1] (SigLIP normalisation), already resized with padding: [B, nCams, H, W, 3]. */
  readonly images: Float32Array;
  readonly imageShape: readonly [number, number, number, number, number];
  /** [B, nCams]: 1 for a real camera, 0 for an empty (padded) camera whose tokens are masked. */
  readonly imageMask: Uint8Array;
  /** `Task: …, State: …;\n` tokens, right padded to tokenizer_max_length: [B, Lp]. */
  readonly promptTokens: Int32Array;
  readonly promptMask: Uint8Array;
  readonly promptLength: number;
  /** `[BOS] Action: <fast tokens> | [EOS]`, right padded to max_action_tokens: [B, La]. */
  readonly actionTokens: Int32Array;
  /** [B, La]: 1 where a token is present (BOS included). */
  readonly actionMask: Uint8Array;
  /** [B, La]: 1 where the token is a prediction target (every present token but BOS). */
  readonly lossMask: Uint8Array;
  readonly actionLength: number;
}

/** Text tokenizer behind which the byte-level tokenizer and a Hugging Face tokenizer.json sit. */
export interface TextTokenizer {
  readonly vocabSize: number;
  readonly bosId: number;
  readonly eosId: number;
  readonly padId: number;
  encode(text: string): number[];
  decode(ids: readonly number[]): string;
}
