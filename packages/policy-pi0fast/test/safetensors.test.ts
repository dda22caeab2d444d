import { mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  bfloat16BitsToFloat32,
  decodeSafetensors,
  encodeSafetensors,
  float16BitsToFloat32,
  float32ToBfloat16Bits,
  float32ToFloat16Bits,
  readSafetensors,
  writeSafetensors,
} from "../src/weights/safetensors";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "pi0fast-safetensors-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A file built byte by byte from the format description, as the reference writer lays it out. */
function referenceBytes(): Uint8Array {
  // Reference order: dtype alignment descending (I64 before F32), then name; compact JSON;
  // "__metadata__" first; header padded with spaces to a multiple of 8.
  const json =
    '{"__metadata__":{"format":"pt"},' +
    '"ids":{"dtype":"I64","shape":[1],"data_offsets":[0,8]},' +
    '"weight":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}';
  const padding = (8 - (json.length % 8)) % 8;
  const header = json + " ".repeat(padding);
  const bytes = new Uint8Array(8 + header.length + 16);
  bytes[0] = header.length & 0xff;
  bytes[1] = header.length >> 8;
  for (let i = 0; i < header.length; i++) bytes[8 + i] = header.charCodeAt(i);
  const data = 8 + header.length;
  bytes[data] = 7; // I64 7, little endian
  bytes.set([0x00, 0x00, 0x80, 0x3f], data + 8); // F32 1.0
  bytes.set([0x00, 0x00, 0x00, 0xc0], data + 12); // F32 -2.0
  return bytes;
}

describe("writeSafetensors", () => {
  test("writes the same bytes as the reference layout", async () => {
    const path = join(dir, "reference.safetensors");
    await writeSafetensors(
      path,
      { weight: { dtype: "F32", shape: [2], data: new Float32Array([1, -2]) }, ids: { dtype: "I64", shape: [1], data: new BigInt64Array([7n]) } },
      { format: "pt" },
    );
    expect(new Uint8Array(await readFile(path))).toEqual(referenceBytes());
  });

  test("round-trips every dtype, shape and metadata", async () => {
    const path = join(dir, "all.safetensors");
    const f32 = Float32Array.from({ length: 24 }, (_, i) => Math.sin(i) * 100);
    await writeSafetensors(
      path,
      {
        "model.layers.0.w": { dtype: "F32", shape: [2, 3, 4], data: f32 },
        half: { dtype: "F16", shape: [3], data: new Float32Array([0.5, -1.25, 65504]) },
        brain: { dtype: "BF16", shape: [2], data: new Float32Array([1.5, -3]) },
        idx: { dtype: "I32", shape: [2, 2], data: new Int32Array([1, -2, 3, 2147483647]) },
        long: { dtype: "I64", shape: [2], data: new BigInt64Array([-1n, 1n << 40n]) },
        bytes: { dtype: "U8", shape: [5], data: new Uint8Array([0, 1, 2, 254, 255]) },
        scalar: { dtype: "F32", shape: [], data: new Float32Array([42]) },
        empty: { dtype: "F32", shape: [0, 3], data: new Float32Array(0) },
      },
      { format: "pt", step: "12" },
    );
    const { tensors, metadata } = await readSafetensors(path);
    expect(metadata).toEqual({ format: "pt", step: "12" });
    expect(tensors["model.layers.0.w"]).toEqual({ dtype: "F32", shape: [2, 3, 4], data: f32 });
    expect(Array.from(tensors.half!.data as Float32Array)).toEqual([0.5, -1.25, 65504]);
    expect(Array.from(tensors.brain!.data as Float32Array)).toEqual([1.5, -3]);
    expect(Array.from(tensors.idx!.data as Int32Array)).toEqual([1, -2, 3, 2147483647]);
    expect(Array.from(tensors.long!.data as BigInt64Array)).toEqual([-1n, 1n << 40n]);
    expect(Array.from(tensors.bytes!.data as Uint8Array)).toEqual([0, 1, 2, 254, 255]);
    expect(tensors.scalar).toEqual({ dtype: "F32", shape: [], data: new Float32Array([42]) });
    expect(tensors.empty!.shape).toEqual([0, 3]);
  });

  test("replaces the file atomically and leaves no temporary file behind", async () => {
    const sub = await mkdtemp(join(dir, "atomic-"));
    const path = join(sub, "model.safetensors");
    await writeSafetensors(path, { a: { dtype: "F32", shape: [1], data: new Float32Array([1]) } });
    await writeSafetensors(path, { a: { dtype: "F32", shape: [1], data: new Float32Array([2]) } });
    expect(await readdir(sub)).toEqual(["model.safetensors"]);
    expect((await readSafetensors(path)).tensors.a!.data[0]).toBe(2);
    await expect(
      writeSafetensors(path, { a: { dtype: "F32", shape: [3], data: new Float32Array([1]) } }),
    ).rejects.toThrow(/tensor "a": shape \[3\] needs 3 elements, data has 1/);
    expect(await readdir(sub)).toEqual(["model.safetensors"]);
    expect((await readSafetensors(path)).tensors.a!.data[0]).toBe(2);
  });

  test("rejects a data array that does not match the dtype", () => {
    expect(() => encodeSafetensors({ w: { dtype: "I32", shape: [1], data: new Float32Array([1]) } })).toThrow(
      /tensor "w": dtype I32 expects Int32Array, got Float32Array/,
    );
  });
});

describe("readSafetensors rejects damaged files with the file, tensor and expectation", () => {
  async function damaged(name: string, bytes: Uint8Array): Promise<string> {
    const path = join(dir, name);
    await writeFile(path, bytes);
    return path;
  }

  test("a file shorter than the length field", async () => {
    const path = await damaged("tiny.safetensors", new Uint8Array([1, 2, 3]));
    await expect(readSafetensors(path)).rejects.toThrow(`${path}: 3 bytes is too short`);
  });

  test("a header length past the end of the file", async () => {
    const bytes = referenceBytes();
    bytes[1] = 0x10; // header length + 4096
    const path = await damaged("long-header.safetensors", bytes);
    await expect(readSafetensors(path)).rejects.toThrow(/header length \d+ exceeds the \d+ bytes after the length field/);
  });

  test("a truncated data section", async () => {
    const bytes = referenceBytes();
    const path = await damaged("truncated.safetensors", bytes.subarray(0, bytes.length - 3));
    await expect(readSafetensors(path)).rejects.toThrow(
      `${path}: tensor "weight": data_offsets [8, 16] run past the data section of 13 bytes (file truncated?)`,
    );
  });

  test("a header that is not JSON", async () => {
    const bytes = referenceBytes();
    bytes[8] = 0x7a; // 'z' instead of the opening '{'
    const path = await damaged("garbage.safetensors", bytes);
    await expect(readSafetensors(path)).rejects.toThrow(`${path}: header is not valid JSON`);
  });

  function withHeader(header: object, dataBytes: number): Uint8Array {
    const json = new TextEncoder().encode(JSON.stringify(header));
    const out = new Uint8Array(8 + json.length + dataBytes);
    new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
    out.set(json, 8);
    return out;
  }

  test("a shape whose size disagrees with its offsets", async () => {
    const path = await damaged("shape.safetensors", withHeader({ w: { dtype: "F32", shape: [3], data_offsets: [0, 8] } }, 8));
    await expect(readSafetensors(path)).rejects.toThrow(`${path}: tensor "w": F32 [3] needs 12 bytes, data_offsets span 8`);
  });

  test("overlapping tensors", async () => {
    const path = await damaged(
      "overlap.safetensors",
      withHeader(
        { a: { dtype: "F32", shape: [2], data_offsets: [0, 8] }, b: { dtype: "F32", shape: [2], data_offsets: [4, 12] } },
        12,
      ),
    );
    await expect(readSafetensors(path)).rejects.toThrow(`${path}: tensor "b" [4, 12] overlaps tensor "a" [0, 8]`);
  });

  test("an unknown dtype, a bad shape, bad offsets, non-string metadata", async () => {
    const cases: Array<[object, RegExp]> = [
      [{ w: { dtype: "F64", shape: [1], data_offsets: [0, 8] } }, /tensor "w": dtype must be one of F32, F16, BF16, I32, I64, U8, got "F64"/],
      [{ w: { dtype: "F32", shape: [-1], data_offsets: [0, 4] } }, /tensor "w": shape must be an array of non-negative integers/],
      [{ w: { dtype: "F32", shape: [1], data_offsets: [4, 0] } }, /tensor "w": data_offsets \[4, 0\] has begin > end/],
      [{ w: { dtype: "F32", shape: [1], data_offsets: [0] } }, /tensor "w": data_offsets must be \[begin, end\]/],
      [{ __metadata__: { step: 3 } }, /"__metadata__.step" must be a string, got number/],
    ];
    for (const [header, message] of cases) {
      expect(() => decodeSafetensors(withHeader(header, 8), "case.safetensors")).toThrow(message);
    }
  });
});

describe("half-precision conversion", () => {
  test("F16 hand-worked values, subnormals, overflow and round-to-nearest-even", () => {
    expect(float32ToFloat16Bits(1)).toBe(0x3c00);
    expect(float32ToFloat16Bits(-2)).toBe(0xc000);
    expect(float32ToFloat16Bits(65504)).toBe(0x7bff);
    expect(float32ToFloat16Bits(1e6)).toBe(0x7c00);
    expect(float32ToFloat16Bits(2 ** -24)).toBe(0x0001);
    expect(float32ToFloat16Bits(1 + 2 ** -11)).toBe(0x3c00); // tie → even
    expect(float32ToFloat16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie → even (up)
    expect(Number.isNaN(float16BitsToFloat32(float32ToFloat16Bits(NaN)))).toBe(true);
    expect(float16BitsToFloat32(0x0001)).toBe(2 ** -24);
    expect(float16BitsToFloat32(0xfc00)).toBe(-Infinity);
  });

  test("BF16 keeps the float32 exponent and rounds the mantissa to nearest even", () => {
    expect(float32ToBfloat16Bits(1)).toBe(0x3f80);
    expect(float32ToBfloat16Bits(3e38)).toBe(0x7f62);
    expect(bfloat16BitsToFloat32(0x3f80)).toBe(1);
    expect(bfloat16BitsToFloat32(float32ToBfloat16Bits(1 + 2 ** -8))).toBe(1); // tie → even
    expect(bfloat16BitsToFloat32(float32ToBfloat16Bits(1 + 3 * 2 ** -8))).toBe(1 + 2 ** -6);
  });

  test("every F16 bit pattern survives widen → narrow", () => {
    const mismatches: number[] = [];
    for (let h = 0; h < 0x10000; h++) {
      const isNaN16 = ((h >> 10) & 0x1f) === 0x1f && (h & 0x3ff) !== 0; // NaN payloads are not preserved
      if (!isNaN16 && float32ToFloat16Bits(float16BitsToFloat32(h)) !== h) mismatches.push(h);
    }
    expect(mismatches).toEqual([]);
  });
});
