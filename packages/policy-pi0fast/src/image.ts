/**
 * Resize with padding as LeRobot's pi0 / pi0-FAST `resize_with_pad`: scale by
 * max(w / W, h / H) keeping the aspect ratio (sizes truncated to integers), bilinear interpolation
 * with align_corners = False and no antialiasing (torch F.interpolate), then pad with black CENTRED
 * (top/left get ⌊pad / 2⌋, bottom/right the rest: `divmod(height − resized, 2)` in LeRobot's
 * policies/common/vla_utils.py), and map to [−1, 1] (SigLIP: x / 255 · 2 − 1, so padding is −1).
 */

/** uint8 RGB [h, w, 3] → float32 [H, W, 3] in [−1, 1], H × W = `target` ([height, width]). */
export function resizeWithPad(
  pixels: Uint8Array,
  height: number,
  width: number,
  target: readonly [number, number],
  out: Float32Array = new Float32Array(target[0] * target[1] * 3),
  outOffset = 0,
): Float32Array {
  const [th, tw] = target;
  if (pixels.length !== height * width * 3) {
    throw new Error(`resizeWithPad: expected ${height}×${width}×3 = ${height * width * 3} bytes, got ${pixels.length}`);
  }
  const ratio = Math.max(width / tw, height / th);
  const rh = Math.max(1, Math.min(th, Math.trunc(height / ratio)));
  const rw = Math.max(1, Math.min(tw, Math.trunc(width / ratio)));
  const padTop = Math.floor((th - rh) / 2);
  const padLeft = Math.floor((tw - rw) / 2);
  out.fill(-1, outOffset, outOffset + th * tw * 3);
  const sy = height / rh;
  const sx = width / rw;
  for (let y = 0; y < rh; y++) {
    const fy = Math.max(0, (y + 0.5) * sy - 0.5);
    const y0 = Math.min(height - 1, Math.floor(fy));
    const y1 = Math.min(height - 1, y0 + 1);
    const wy = fy - y0;
    for (let x = 0; x < rw; x++) {
      const fx = Math.max(0, (x + 0.5) * sx - 0.5);
      const x0 = Math.min(width - 1, Math.floor(fx));
      const x1 = Math.min(width - 1, x0 + 1);
      const wx = fx - x0;
      const o = outOffset + ((padTop + y) * tw + padLeft + x) * 3;
      for (let c = 0; c < 3; c++) {
        const top = pixels[(y0 * width + x0) * 3 + c] * (1 - wx) + pixels[(y0 * width + x1) * 3 + c] * wx;
        const bottom = pixels[(y1 * width + x0) * 3 + c] * (1 - wx) + pixels[(y1 * width + x1) * 3 + c] * wx;
        out[o + c] = ((top * (1 - wy) + bottom * wy) / 255) * 2 - 1;
      }
    }
  }
  return out;
}
