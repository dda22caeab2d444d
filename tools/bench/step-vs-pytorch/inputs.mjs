// Synthetic model inputs shared by the step bench, the profile and the A/B (same shapes as step.py).
/** ModelInputs (src/inputs.ts), one camera, full prompt, 3/4 of the action block as targets (48 of 64 for tiny); the same every call (seeded). */
export function syntheticInputs(config, BATCH) {
  let s = 12345;
  const rand = () => ((s = (s * 1103515245 + 12345) >>> 0) / 4294967296);
  const size = config.vision.image_size;
  const lp = config.tokenizer_max_length;
  const la = config.max_action_tokens;
  const vocab = config.decoder.vocab_size;
  const ids = (n) => Int32Array.from({ length: BATCH * n }, () => Math.floor(rand() * vocab));
  const actionMask = new Uint8Array(BATCH * la);
  const lossMask = new Uint8Array(BATCH * la);
  for (let b = 0; b < BATCH; b++)
    for (let t = 0; t <= Math.floor((la * 3) / 4); t++) {
      actionMask[b * la + t] = 1;
      lossMask[b * la + t] = t > 0 ? 1 : 0;
    }
  return {
    batchSize: BATCH,
    images: Float32Array.from({ length: BATCH * size * size * 3 }, () => rand() * 2 - 1),
    imageShape: [BATCH, 1, size, size, 3],
    imageMask: new Uint8Array(BATCH).fill(1),
    promptTokens: ids(lp),
    promptMask: new Uint8Array(BATCH * lp).fill(1),
    promptLength: lp,
    actionTokens: ids(la),
    actionMask,
    lossMask,
    actionLength: la,
  };
}
