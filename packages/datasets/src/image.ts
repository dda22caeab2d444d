import { spawnSync } from "node:child_process";
import { PNG } from "pngjs";
import { DatasetError } from "./errors.js";

/** A decoded RGB image, row-major [height, width, 3]. */
export interface RgbImage {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8Array;
}

/** Encode RGB pixels as a PNG (what LeRobot embeds in Parquet image columns). */
export const encodePng = (image: RgbImage): Uint8Array => {
  const png = new PNG({ width: image.width, height: image.height, colorType: 2, inputColorType: 2, inputHasAlpha: false });
  png.data = Buffer.from(image.data.buffer, image.data.byteOffset, image.data.byteLength);
  const buf = PNG.sync.write(png, { colorType: 2, inputColorType: 2, inputHasAlpha: false });
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
};

const isPng = (b: Uint8Array) => b.length > 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47;
const isJpeg = (b: Uint8Array) => b.length > 3 && b[0] === 0xff && b[1] === 0xd8;

const decodePng = (bytes: Uint8Array): RgbImage => {
  const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  const n = png.width * png.height;
  const rgb = new Uint8Array(n * 3);
  const src = png.data;
  for (let i = 0; i < n; i++) {
    rgb[i * 3] = src[i * 4]!;
    rgb[i * 3 + 1] = src[i * 4 + 1]!;
    rgb[i * 3 + 2] = src[i * 4 + 2]!;
  }
  return { width: png.width, height: png.height, data: rgb };
};

/** Decode an embedded PNG (pngjs) or JPEG (converted to PNG by ffmpeg) into RGB. */
export const decodeImage = (bytes: Uint8Array, file: string, field: string): RgbImage => {
  try {
    if (isPng(bytes)) return decodePng(bytes);
    if (isJpeg(bytes)) {
      const r = spawnSync("ffmpeg", ["-v", "error", "-nostdin", "-f", "image2pipe", "-i", "pipe:0", "-f", "image2pipe", "-c:v", "png", "pipe:1"], { input: bytes, maxBuffer: 1 << 28 });
      if (r.status !== 0 || r.stdout.length === 0) throw new Error(r.error?.message ?? r.stderr.toString());
      return decodePng(new Uint8Array(r.stdout));
    }
  } catch (e) {
    throw new DatasetError("SchemaMismatch", { file, field, expected: "a decodable PNG or JPEG image", actual: (e as Error).message });
  }
  throw new DatasetError("SchemaMismatch", { file, field, expected: "PNG or JPEG image bytes", actual: `${bytes.length} bytes of unknown format` });
};
