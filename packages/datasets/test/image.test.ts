import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { decodeImage, encodePng } from "../src/image.js";
import { caught } from "./helpers.js";

const gradient = (w: number, h: number) => Uint8Array.from({ length: w * h * 3 }, (_, i) => (i * 7) % 256);

describe("embedded images", () => {
  it("PNG round-trips exactly", () => {
    const data = gradient(9, 5);
    expect(decodeImage(encodePng({ width: 9, height: 5, data }), "f", "img")).toEqual({ width: 9, height: 5, data });
  });

  it("JPEG decodes (through ffmpeg) to the right size and colour", () => {
    const rgb = new Uint8Array(16 * 8 * 3);
    for (let i = 0; i < 16 * 8; i++) rgb.set([200, 40, 90], i * 3);
    const jpeg = spawnSync("ffmpeg", ["-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "16x8", "-i", "pipe:0", "-frames:v", "1", "-q:v", "2", "-f", "image2pipe", "-c:v", "mjpeg", "pipe:1"], { input: rgb }).stdout;
    const img = decodeImage(new Uint8Array(jpeg), "f", "img");
    expect([img.width, img.height]).toEqual([16, 8]);
    expect(Math.abs(img.data[0]! - 200)).toBeLessThan(10);
    expect(Math.abs(img.data[2]! - 90)).toBeLessThan(10);
  });

  it("rejects bytes that are not an image, naming file and field", async () => {
    const e = await caught(() => decodeImage(Uint8Array.of(1, 2, 3, 4), "data.parquet", "observation.images.wrist"));
    expect(e._tag).toBe("SchemaMismatch");
    expect(e.message).toContain("data.parquet");
    expect(e.message).toContain("observation.images.wrist");
  });
});
