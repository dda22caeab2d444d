import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readFileSync, readSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { parquetMetadata } from "hyparquet";
import { tableFromIPC, tableToIPC, Type, type Table, type Vector, type Data } from "apache-arrow";
import * as parquetWasm from "parquet-wasm";
import { DatasetError } from "./errors.js";

/**
 * Parquet ↔ Apache Arrow. Reader: parquet-wasm (Rust arrow-rs compiled to wasm), chosen by
 * measurement against hyparquet (see README): it decodes a whole file straight into Arrow buffers,
 * keeps `FixedSizeList<float32>` columns contiguous, and is ~10× faster on LeRobot data files.
 */
export const readParquetTable = (file: string, field = "(file)"): Table => {
  if (!existsSync(file)) {
    throw new DatasetError("MissingFile", { file, field, expected: "an existing Parquet file" });
  }
  const bytes = readFileSync(file);
  if (bytes.length < 12 || bytes.subarray(0, 4).toString("latin1") !== "PAR1" || bytes.subarray(bytes.length - 4).toString("latin1") !== "PAR1") {
    throw new DatasetError("CorruptParquet", {
      file,
      field,
      expected: "a complete Parquet file (PAR1 magic at both ends)",
      actual: `${bytes.length} bytes, truncated or not Parquet`,
    });
  }
  try {
    const wasmTable = parquetWasm.readParquet(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    return tableFromIPC(wasmTable.intoIPCStream());
  } catch (e) {
    throw new DatasetError("CorruptParquet", {
      file,
      field,
      expected: "a readable Parquet file",
      actual: String(e instanceof Error ? e.message : e),
    });
  }
};

/**
 * Why a Parquet file cannot be read, from its footer alone (cheap enough for every file of a
 * dataset): the PAR1 magic at both ends, a footer length that fits the file, a footer that decodes
 * (Thrift FileMetaData), and column chunks that end before the footer begins. `null` when sound.
 */
export const parquetFooterProblem = (file: string): string | null => {
  const fd = openSync(file, "r");
  try {
    const size = fstatSync(fd).size;
    if (size < 12) return `${size} bytes, shorter than an empty Parquet file (12)`;
    const read = (position: number, length: number): Buffer => {
      const buf = Buffer.alloc(length);
      readSync(fd, buf, 0, length, position);
      return buf;
    };
    if (read(0, 4).toString("latin1") !== "PAR1") return "no PAR1 magic at the start (not Parquet)";
    const tail = read(size - 8, 8);
    if (tail.subarray(4).toString("latin1") !== "PAR1") return `no PAR1 magic at the end (${size} bytes: truncated?)`;
    const footerLength = tail.readUInt32LE(0);
    if (footerLength > size - 12) return `footer length ${footerLength} exceeds the ${size - 12} bytes before it (truncated?)`;
    const footerStart = size - 8 - footerLength;
    let meta: ReturnType<typeof parquetMetadata>;
    try {
      meta = parquetMetadata(read(footerStart, footerLength + 8));
    } catch (e) {
      return `footer does not decode (${e instanceof Error ? e.message : String(e)})`;
    }
    for (const group of meta.row_groups) {
      for (const column of group.columns) {
        const m = column.meta_data;
        if (m === undefined) continue;
        const start = Number(m.dictionary_page_offset ?? m.data_page_offset);
        const end = start + Number(m.total_compressed_size);
        if (end > footerStart) return `column chunk ${m.path_in_schema.join(".")} ends at byte ${end}, past the footer at ${footerStart}`;
      }
    }
    return null;
  } finally {
    closeSync(fd);
  }
};

/** Write an Arrow table as Snappy-compressed Parquet (what LeRobot writes). */
export const writeParquetTable = (file: string, table: Table, keyValueMetadata?: ReadonlyMap<string, string>): void => {
  const ipc = tableToIPC(table, "stream");
  const wasmTable = parquetWasm.Table.fromIPCStream(ipc);
  let builder = new parquetWasm.WriterPropertiesBuilder().setCompression(parquetWasm.Compression.SNAPPY);
  // Schema metadata (pandas index, HF features) also goes in the footer's key-value metadata, where
  // pyarrow/pandas look for it, not only inside the encoded ARROW:schema.
  const kv = new Map([...table.schema.metadata, ...(keyValueMetadata ?? new Map())]);
  if (kv.size > 0) builder = builder.setKeyValueMetadata(kv);
  const props = builder.build();
  const bytes = parquetWasm.writeParquet(wasmTable, props);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, bytes);
};

const typeName = (v: Vector): string => String(v.type);

/** Elements per row of a float column (1 for a scalar column), or undefined if not a float column. */
export const floatColumnWidth = (v: Vector): number | undefined => {
  const tid = v.type.typeId;
  if (tid === Type.Float) return 1;
  if (tid === Type.FixedSizeList) {
    const child = (v.type as unknown as { children: { type: { typeId: Type } }[] }).children[0];
    return child?.type.typeId === Type.Float ? (v.type as unknown as { listSize: number }).listSize : undefined;
  }
  if (tid === Type.List) {
    const child = (v.type as unknown as { children: { type: { typeId: Type } }[] }).children[0];
    if (child?.type.typeId !== Type.Float) return undefined;
    const first = v.data[0];
    if (first === undefined || first.length === 0) return 0;
    const offs = first.valueOffsets as Int32Array;
    return offs[first.offset + 1]! - offs[first.offset]!;
  }
  return undefined;
};

/**
 * A float column (scalar, `FixedSizeList<float>` or `List<float>` of constant length `width`)
 * as one contiguous Float32Array, rejecting nulls, ragged lists and NaN/Inf.
 */
export const floatColumn = (v: Vector, width: number, file: string, field: string): Float32Array => {
  const out = new Float32Array(v.length * width);
  let row = 0;
  for (const d of v.data as Data[]) {
    if (d.nullCount > 0) {
      throw new DatasetError("SchemaMismatch", { file, field, expected: "no null values", actual: `${d.nullCount} nulls` });
    }
    const tid = d.type.typeId;
    if (tid === Type.Float) {
      out.set(d.values.subarray(d.offset, d.offset + d.length), row);
    } else if (tid === Type.FixedSizeList) {
      const child = d.children[0]!;
      const start = child.offset + d.offset * width;
      out.set(child.values.subarray(start, start + d.length * width), row * width);
    } else if (tid === Type.List) {
      const offs = d.valueOffsets as Int32Array;
      const child = d.children[0]!;
      for (let i = 0; i < d.length; i++) {
        const a = offs[d.offset + i]!;
        const b = offs[d.offset + i + 1]!;
        if (b - a !== width) {
          throw new DatasetError("SchemaMismatch", { file, field, expected: `lists of length ${width}`, actual: `length ${b - a} at row ${row + i}` });
        }
        out.set(child.values.subarray(child.offset + a, child.offset + b), (row + i) * width);
      }
    } else {
      throw new DatasetError("SchemaMismatch", { file, field, expected: "a float column", actual: typeName(v) });
    }
    row += d.length;
  }
  for (let i = 0; i < out.length; i++) {
    if (!Number.isFinite(out[i]!)) {
      throw new DatasetError("NonFiniteValue", {
        file,
        field,
        expected: "finite float values",
        actual: `${out[i]} at row ${Math.floor(i / width)}, element ${i % width}`,
      });
    }
  }
  return out;
};

/** An integer column (any int width, incl. int64) as Int32Array; values must fit in int32. */
export const intColumn = (v: Vector, file: string, field: string): Int32Array => {
  if (v.type.typeId !== Type.Int) {
    throw new DatasetError("SchemaMismatch", { file, field, expected: "an integer column", actual: typeName(v) });
  }
  const out = new Int32Array(v.length);
  let row = 0;
  for (const d of v.data as Data[]) {
    if (d.nullCount > 0) {
      throw new DatasetError("SchemaMismatch", { file, field, expected: "no null values", actual: `${d.nullCount} nulls` });
    }
    const vals = d.values as ArrayLike<number | bigint>;
    for (let i = 0; i < d.length; i++) out[row + i] = Number(vals[d.offset + i]);
    row += d.length;
  }
  return out;
};

/** An image column stored as LeRobot/HF `struct{bytes: binary, path: string}`: the encoded bytes per row. */
export const imageColumn = (v: Vector, file: string, field: string): Uint8Array[] => {
  if (v.type.typeId !== Type.Struct) {
    throw new DatasetError("SchemaMismatch", { file, field, expected: "struct{bytes: binary, path: string} (an image)", actual: typeName(v) });
  }
  const out: Uint8Array[] = [];
  for (let i = 0; i < v.length; i++) {
    const cell = v.get(i) as { bytes?: Uint8Array | null } | null;
    const bytes = cell?.bytes;
    if (!(bytes instanceof Uint8Array) || bytes.length === 0) {
      throw new DatasetError("SchemaMismatch", { file, field: `${field}.bytes`, expected: "embedded image bytes", actual: `none at row ${i}` });
    }
    out.push(bytes);
  }
  return out;
};

/** A column of strings (Utf8) or of lists of strings, as JS values. */
export const stringListColumn = (v: Vector): string[][] => {
  const out: string[][] = [];
  for (let i = 0; i < v.length; i++) {
    const cell = v.get(i) as unknown;
    if (typeof cell === "string") out.push([cell]);
    else if (cell !== null && typeof cell === "object" && Symbol.iterator in (cell as object)) out.push([...(cell as Iterable<string>)].map(String));
    else out.push([]);
  }
  return out;
};
