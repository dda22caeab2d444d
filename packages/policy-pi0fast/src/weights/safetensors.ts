import { open, rename, rm, stat } from "node:fs/promises";
import { PolicyError } from "../errors";

/**
 * The safetensors format (huggingface/safetensors): u64 little-endian header length N, N bytes of
 * UTF-8 JSON `{"__metadata__": {..}, name: {dtype, shape, data_offsets: [begin, end]}, ..}` padded
 * with spaces to a multiple of 8, then the raw little-endian tensor bytes. Offsets are relative to
 * the data section. Tensors are laid out as the reference writer does: by dtype alignment
 * (largest first), then by name.
 */
export type SafetensorsDtype = "F32" | "F16" | "BF16" | "I32" | "I64" | "U8";

export type SafetensorsData = Float32Array | Uint16Array | Int32Array | BigInt64Array | Uint8Array;

export interface SafetensorsInput {
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
  /** F32: Float32Array; F16/BF16: Float32Array (rounded) or Uint16Array (raw bits); I32: Int32Array; I64: BigInt64Array; U8: Uint8Array. */
  readonly data: SafetensorsData;
}

export interface SafetensorsTensor {
  readonly dtype: SafetensorsDtype;
  readonly shape: number[];
  /** F32/F16/BF16 → Float32Array (halves widened); I32 → Int32Array; I64 → BigInt64Array; U8 → Uint8Array. */
  readonly data: Float32Array | Int32Array | BigInt64Array | Uint8Array;
}

export interface SafetensorsFile {
  readonly tensors: Record<string, SafetensorsTensor>;
  readonly metadata: Record<string, string>;
}

const DTYPE_BYTES: Record<SafetensorsDtype, number> = { F32: 4, F16: 2, BF16: 2, I32: 4, I64: 8, U8: 1 };
// The reference writer orders tensors by its Dtype enum (declaration order), descending.
const DTYPE_RANK: Record<SafetensorsDtype, number> = { U8: 1, F16: 7, BF16: 8, I32: 9, F32: 11, I64: 13 };
/** Refuse headers larger than the reference reader does (100 MB). */
const MAX_HEADER_BYTES = 100_000_000;

if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
  throw new Error("safetensors: this implementation assumes a little-endian platform");
}

/** A file that is not valid safetensors: a PolicyError naming the file, the header field and what was expected there. */
const invalidSafetensors = (file: string, field: string, expected: string, message: string): PolicyError =>
  new PolicyError("InvalidSafetensors", { file, field, expected, message });

const isDtype = (d: unknown): d is SafetensorsDtype => typeof d === "string" && d in DTYPE_BYTES;

function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

// IEEE half ↔ float, round to nearest even.
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function float32ToFloat16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    const m = mant | 0x800000;
    const shift = 14 - e;
    let half = m >>> shift;
    const rest = m & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rest > halfway || (rest === halfway && (half & 1) === 1)) half++;
    return sign | half;
  }
  let half = sign | (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (half & 1) === 1)) half++;
  return half;
}

export function float16BitsToFloat32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant === 0 ? sign * Infinity : NaN;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

export function float32ToBfloat16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  if ((x & 0x7f800000) === 0x7f800000 && (x & 0x7fffff) !== 0) return (x >>> 16) | 0x40;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

export function bfloat16BitsToFloat32(h: number): number {
  u32[0] = h << 16;
  return f32[0]!;
}

function tensorBytes(path: string, name: string, t: SafetensorsInput): Uint8Array {
  const n = elementCount(t.shape);
  if (!t.shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw new Error(`${path}: tensor "${name}": shape [${t.shape.join(",")}] must be non-negative integers`);
  }
  if (t.data.length !== n) {
    throw new Error(`${path}: tensor "${name}": shape [${t.shape.join(",")}] needs ${n} elements, data has ${t.data.length}`);
  }
  const expect = (ok: boolean, what: string): void => {
    if (!ok) throw new Error(`${path}: tensor "${name}": dtype ${t.dtype} expects ${what}, got ${t.data.constructor.name}`);
  };
  let view: ArrayBufferView;
  switch (t.dtype) {
    case "F32":
      expect(t.data instanceof Float32Array, "Float32Array");
      view = t.data;
      break;
    case "F16":
    case "BF16": {
      if (t.data instanceof Uint16Array) {
        view = t.data;
      } else {
        expect(t.data instanceof Float32Array, "Float32Array or Uint16Array (raw bits)");
        const convert = t.dtype === "F16" ? float32ToFloat16Bits : float32ToBfloat16Bits;
        const bits = new Uint16Array(n);
        for (let i = 0; i < n; i++) bits[i] = convert((t.data as Float32Array)[i]!);
        view = bits;
      }
      break;
    }
    case "I32":
      expect(t.data instanceof Int32Array, "Int32Array");
      view = t.data;
      break;
    case "I64":
      expect(t.data instanceof BigInt64Array, "BigInt64Array");
      view = t.data;
      break;
    case "U8":
      expect(t.data instanceof Uint8Array, "Uint8Array");
      view = t.data;
      break;
    default:
      throw new Error(`${path}: tensor "${name}": unsupported dtype ${String((t as { dtype: unknown }).dtype)}`);
  }
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

interface Layout {
  readonly header: Uint8Array;
  readonly order: Array<{ name: string; bytes: Uint8Array }>;
}

function layout(path: string, tensors: Record<string, SafetensorsInput>, metadata?: Record<string, string>): Layout {
  const names = Object.keys(tensors);
  for (const name of names) {
    if (name === "__metadata__") throw new Error(`${path}: "__metadata__" is reserved and cannot name a tensor`);
    if (!isDtype(tensors[name]!.dtype)) {
      throw new Error(`${path}: tensor "${name}": dtype must be one of ${Object.keys(DTYPE_BYTES).join(", ")}, got ${String(tensors[name]!.dtype)}`);
    }
  }
  names.sort((a, b) => {
    const byDtype = DTYPE_RANK[tensors[b]!.dtype] - DTYPE_RANK[tensors[a]!.dtype];
    return byDtype !== 0 ? byDtype : a < b ? -1 : a > b ? 1 : 0;
  });
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) {
    const sorted: Record<string, string> = {};
    for (const key of Object.keys(metadata).sort()) {
      if (typeof metadata[key] !== "string") throw new Error(`${path}: metadata "${key}" must be a string`);
      sorted[key] = metadata[key]!;
    }
    header.__metadata__ = sorted;
  }
  const order: Layout["order"] = [];
  let offset = 0;
  for (const name of names) {
    const t = tensors[name]!;
    const bytes = tensorBytes(path, name, t);
    header[name] = { dtype: t.dtype, shape: [...t.shape], data_offsets: [offset, offset + bytes.byteLength] };
    order.push({ name, bytes });
    offset += bytes.byteLength;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.byteLength / 8) * 8;
  const headerBytes = new Uint8Array(8 + padded).fill(0x20, 8 + json.byteLength);
  new DataView(headerBytes.buffer).setBigUint64(0, BigInt(padded), true);
  headerBytes.set(json, 8);
  return { header: headerBytes, order };
}

/** The file's bytes in memory (small files and tests; writeSafetensors streams instead). */
export function encodeSafetensors(tensors: Record<string, SafetensorsInput>, metadata?: Record<string, string>): Uint8Array {
  const { header, order } = layout("<memory>", tensors, metadata);
  const out = new Uint8Array(header.byteLength + order.reduce((s, t) => s + t.bytes.byteLength, 0));
  out.set(header, 0);
  let at = header.byteLength;
  for (const t of order) {
    out.set(t.bytes, at);
    at += t.bytes.byteLength;
  }
  return out;
}

/** Writes `path` atomically: a temporary file in the same directory, then rename. */
export async function writeSafetensors(
  path: string,
  tensors: Record<string, SafetensorsInput>,
  metadata?: Record<string, string>,
): Promise<void> {
  const { header, order } = layout(path, tensors, metadata);
  const tmp = `${path}.tmp-${process.pid}-${Date.now().toString(36)}`;
  const file = await open(tmp, "w");
  try {
    let position = 0;
    const write = async (bytes: Uint8Array): Promise<void> => {
      let done = 0;
      while (done < bytes.byteLength) {
        const { bytesWritten } = await file.write(bytes, done, Math.min(bytes.byteLength - done, 1 << 30), position);
        done += bytesWritten;
        position += bytesWritten;
      }
    };
    await write(header);
    for (const t of order) await write(t.bytes);
    await file.sync();
    await file.close();
    await rename(tmp, path);
  } catch (error) {
    await file.close().catch(() => undefined);
    await rm(tmp, { force: true });
    throw error;
  }
}

interface HeaderEntry {
  readonly name: string;
  readonly dtype: SafetensorsDtype;
  readonly shape: number[];
  readonly begin: number;
  readonly end: number;
}

/** Parses and checks the JSON header against the data section's length. */
function parseHeader(path: string, json: string, dataBytes: number): { entries: HeaderEntry[]; metadata: Record<string, string> } {
  let header: unknown;
  try {
    header = JSON.parse(json);
  } catch (error) {
    throw invalidSafetensors(path, "header", "JSON", `${path}: header is not valid JSON (${(error as Error).message})`);
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) {
    throw invalidSafetensors(path, "header", "a JSON object", `${path}: header must be a JSON object`);
  }
  const metadata: Record<string, string> = {};
  const entries: HeaderEntry[] = [];
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === "__metadata__") {
      if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw invalidSafetensors(path, "__metadata__", "an object of strings", `${path}: "__metadata__" must be an object of strings`);
      for (const [k, v] of Object.entries(raw)) {
        if (typeof v !== "string") throw invalidSafetensors(path, `__metadata__.${k}`, "a string", `${path}: "__metadata__.${k}" must be a string, got ${typeof v}`);
        metadata[k] = v;
      }
      continue;
    }
    const where = `${path}: tensor "${name}"`;
    if (typeof raw !== "object" || raw === null) throw invalidSafetensors(path, name, "{dtype, shape, data_offsets}", `${where}: expected {dtype, shape, data_offsets}`);
    const { dtype, shape, data_offsets: offsets } = raw as Record<string, unknown>;
    if (!isDtype(dtype)) throw invalidSafetensors(path, `${name}.dtype`, `one of ${Object.keys(DTYPE_BYTES).join(", ")}`, `${where}: dtype must be one of ${Object.keys(DTYPE_BYTES).join(", ")}, got ${JSON.stringify(dtype)}`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw invalidSafetensors(path, `${name}.shape`, "an array of non-negative integers", `${where}: shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      throw invalidSafetensors(path, `${name}.data_offsets`, "[begin, end] non-negative integers", `${where}: data_offsets must be [begin, end] non-negative integers, got ${JSON.stringify(offsets)}`);
    }
    const [begin, end] = offsets as [number, number];
    if (begin > end) throw invalidSafetensors(path, `${name}.data_offsets`, "begin ≤ end", `${where}: data_offsets [${begin}, ${end}] has begin > end`);
    if (end > dataBytes) {
      throw invalidSafetensors(path, `${name}.data_offsets`, `offsets within the data section of ${dataBytes} bytes`, `${where}: data_offsets [${begin}, ${end}] run past the data section of ${dataBytes} bytes (file truncated?)`);
    }
    const expected = elementCount(shape as number[]) * DTYPE_BYTES[dtype];
    if (end - begin !== expected) {
      throw invalidSafetensors(path, `${name}.data_offsets`, `a span of ${expected} bytes`, `${where}: ${dtype} [${(shape as number[]).join(",")}] needs ${expected} bytes, data_offsets span ${end - begin}`);
    }
    entries.push({ name, dtype, shape: shape as number[], begin, end });
  }
  const byOffset = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  for (let i = 1; i < byOffset.length; i++) {
    const prev = byOffset[i - 1]!;
    const cur = byOffset[i]!;
    if (cur.begin < prev.end && cur.end > cur.begin && prev.end > prev.begin) {
      throw invalidSafetensors(path, `${cur.name}.data_offsets`, "a byte range no other tensor uses", `${path}: tensor "${cur.name}" [${cur.begin}, ${cur.end}] overlaps tensor "${prev.name}" [${prev.begin}, ${prev.end}]`,);
    }
  }
  return { entries, metadata };
}

function decodeTensor(entry: HeaderEntry, bytes: Uint8Array): SafetensorsTensor {
  const n = elementCount(entry.shape);
  // Copy into a fresh, aligned buffer: data offsets need not be aligned to the element size.
  const own = bytes.slice();
  switch (entry.dtype) {
    case "F32":
      return { dtype: entry.dtype, shape: entry.shape, data: new Float32Array(own.buffer, 0, n) };
    case "F16":
    case "BF16": {
      const bits = new Uint16Array(own.buffer, 0, n);
      const widen = entry.dtype === "F16" ? float16BitsToFloat32 : bfloat16BitsToFloat32;
      const data = new Float32Array(n);
      for (let i = 0; i < n; i++) data[i] = widen(bits[i]!);
      return { dtype: entry.dtype, shape: entry.shape, data };
    }
    case "I32":
      return { dtype: entry.dtype, shape: entry.shape, data: new Int32Array(own.buffer, 0, n) };
    case "I64":
      return { dtype: entry.dtype, shape: entry.shape, data: new BigInt64Array(own.buffer, 0, n) };
    case "U8":
      return { dtype: entry.dtype, shape: entry.shape, data: own };
  }
}

/** Reads a safetensors file; every header field is checked against the file before any data is read. */
export async function readSafetensors(path: string): Promise<SafetensorsFile> {
  const size = (await stat(path)).size;
  if (size < 8) throw invalidSafetensors(path, "header length", "an 8-byte header length", `${path}: ${size} bytes is too short for a safetensors file (8-byte header length expected)`);
  const file = await open(path, "r");
  try {
    const readAt = async (position: number, length: number): Promise<Uint8Array> => {
      const out = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const { bytesRead } = await file.read(out, done, Math.min(length - done, 1 << 30), position + done);
        if (bytesRead === 0) throw invalidSafetensors(path, "data", `${length} bytes at byte ${position}`, `${path}: unexpected end of file at byte ${position + done}`);
        done += bytesRead;
      }
      return out;
    };
    const lengthBytes = await readAt(0, 8);
    const headerLength = new DataView(lengthBytes.buffer).getBigUint64(0, true);
    if (headerLength > BigInt(Math.min(size - 8, MAX_HEADER_BYTES))) {
      throw invalidSafetensors(path, "header length", `at most ${size - 8} bytes`, `${path}: header length ${headerLength} exceeds the ${size - 8} bytes after the length field` +
          (headerLength > BigInt(MAX_HEADER_BYTES) ? ` (limit ${MAX_HEADER_BYTES})` : " (file truncated or not safetensors)"),);
    }
    const n = Number(headerLength);
    let json: string;
    try {
      json = new TextDecoder("utf-8", { fatal: true }).decode(await readAt(8, n));
    } catch (error) {
      throw invalidSafetensors(path, "header", "UTF-8 JSON", `${path}: header is not valid UTF-8 (${(error as Error).message})`);
    }
    const dataStart = 8 + n;
    const { entries, metadata } = parseHeader(path, json, size - dataStart);
    const tensors: Record<string, SafetensorsTensor> = {};
    for (const entry of entries) {
      tensors[entry.name] = decodeTensor(entry, await readAt(dataStart + entry.begin, entry.end - entry.begin));
    }
    return { tensors, metadata };
  } finally {
    await file.close();
  }
}

export interface SafetensorsHeader {
  readonly tensors: Record<string, { readonly dtype: SafetensorsDtype; readonly shape: number[] }>;
  readonly metadata: Record<string, string>;
  /** Bytes read from the file: the 8-byte length and the JSON header, never the data. */
  readonly bytesRead: number;
}

/**
 * The header of a safetensors file alone (names, dtypes, shapes), checked against the file size
 * as readSafetensors checks it; reads 8 + header bytes, so it is cheap on a multi-GB checkpoint.
 */
export async function readSafetensorsHeader(path: string): Promise<SafetensorsHeader> {
  const size = (await stat(path)).size;
  if (size < 8) throw invalidSafetensors(path, "header length", "an 8-byte header length", `${path}: ${size} bytes is too short for a safetensors file (8-byte header length expected)`);
  const file = await open(path, "r");
  try {
    const lengthBytes = new Uint8Array(8);
    await file.read(lengthBytes, 0, 8, 0);
    const headerLength = new DataView(lengthBytes.buffer).getBigUint64(0, true);
    if (headerLength > BigInt(Math.min(size - 8, MAX_HEADER_BYTES))) {
      throw invalidSafetensors(path, "header length", `at most ${size - 8} bytes`, `${path}: header length ${headerLength} exceeds the ${size - 8} bytes after the length field (file truncated or not safetensors)`);
    }
    const n = Number(headerLength);
    const headerBytes = new Uint8Array(n);
    const { bytesRead } = await file.read(headerBytes, 0, n, 8);
    if (bytesRead !== n) throw invalidSafetensors(path, "header", `${n} bytes`, `${path}: unexpected end of file in the header`);
    let json: string;
    try {
      json = new TextDecoder("utf-8", { fatal: true }).decode(headerBytes);
    } catch (error) {
      throw invalidSafetensors(path, "header", "UTF-8 JSON", `${path}: header is not valid UTF-8 (${(error as Error).message})`);
    }
    const { entries, metadata } = parseHeader(path, json, size - 8 - n);
    const tensors: SafetensorsHeader["tensors"] = {};
    for (const e of entries) tensors[e.name] = { dtype: e.dtype, shape: e.shape };
    return { tensors, metadata, bytesRead: 8 + n };
  } finally {
    await file.close();
  }
}

/** Parses a whole file held in memory (same checks as readSafetensors). */
export function decodeSafetensors(bytes: Uint8Array, name = "<memory>"): SafetensorsFile {
  if (bytes.byteLength < 8) throw invalidSafetensors(name, "header length", "an 8-byte header length", `${name}: ${bytes.byteLength} bytes is too short for a safetensors file`);
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (headerLength > BigInt(Math.min(bytes.byteLength - 8, MAX_HEADER_BYTES))) {
    throw invalidSafetensors(name, "header length", `at most ${bytes.byteLength - 8} bytes`, `${name}: header length ${headerLength} exceeds the ${bytes.byteLength - 8} bytes after the length field`);
  }
  const n = Number(headerLength);
  const json = new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + n));
  const { entries, metadata } = parseHeader(name, json, bytes.byteLength - 8 - n);
  const tensors: Record<string, SafetensorsTensor> = {};
  for (const e of entries) tensors[e.name] = decodeTensor(e, bytes.subarray(8 + n + e.begin, 8 + n + e.end));
  return { tensors, metadata };
}
