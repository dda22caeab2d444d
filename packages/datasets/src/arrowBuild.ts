import {
  Binary,
  Field,
  FixedSizeList,
  Float32,
  Float64,
  Int64,
  List,
  RecordBatch,
  Schema,
  Struct,
  Table,
  Utf8,
  makeData,
  type Data,
  type DataType,
} from "apache-arrow";

/** One named column for a table built by the writer. */
export interface BuiltColumn {
  readonly name: string;
  readonly data: Data;
}

const utf8Data = (values: readonly string[]): Data<Utf8> => {
  const enc = new TextEncoder();
  const parts = values.map((v) => enc.encode(v));
  return binaryLike(new Utf8(), parts) as Data<Utf8>;
};

const binaryLike = (type: Utf8 | Binary, parts: readonly Uint8Array[]): Data => {
  const offsets = new Int32Array(parts.length + 1);
  parts.forEach((p, i) => (offsets[i + 1] = offsets[i]! + p.length));
  const bytes = new Uint8Array(offsets[parts.length]!);
  parts.forEach((p, i) => bytes.set(p, offsets[i]!));
  return makeData({ type, length: parts.length, nullCount: 0, valueOffsets: offsets, data: bytes } as never);
};

export const int64Column = (name: string, values: ArrayLike<number>): BuiltColumn => ({
  name,
  data: makeData({ type: new Int64(), length: values.length, nullCount: 0, data: BigInt64Array.from(Array.from(values), (v) => BigInt(v)) }),
});

export const float32Column = (name: string, values: Float32Array): BuiltColumn => ({
  name,
  data: makeData({ type: new Float32(), length: values.length, nullCount: 0, data: values }),
});

export const float64Column = (name: string, values: ArrayLike<number>): BuiltColumn => ({
  name,
  data: makeData({ type: new Float64(), length: values.length, nullCount: 0, data: Float64Array.from(Array.from(values)) }),
});

/** `FixedSizeList<float32>[width]`: how LeRobot stores fixed-length float features. */
export const fixedFloat32ListColumn = (name: string, values: Float32Array, width: number): BuiltColumn => {
  const child = makeData({ type: new Float32(), length: values.length, nullCount: 0, data: values });
  return {
    name,
    data: makeData({ type: new FixedSizeList(width, new Field("item", new Float32(), true)), length: values.length / width, nullCount: 0, child }),
  };
};

/** `List<element>` of numbers (float64 or int64), for per-episode stats. */
export const numberListColumn = (name: string, rows: readonly (readonly number[])[], element: "float64" | "float32" | "int64"): BuiltColumn => {
  const offsets = new Int32Array(rows.length + 1);
  rows.forEach((r, i) => (offsets[i + 1] = offsets[i]! + r.length));
  const flat = rows.flat();
  const type: DataType = element === "float64" ? new Float64() : element === "float32" ? new Float32() : new Int64();
  const child =
    element === "float64"
      ? makeData({ type: new Float64(), length: flat.length, nullCount: 0, data: Float64Array.from(flat) })
      : element === "float32"
        ? makeData({ type: new Float32(), length: flat.length, nullCount: 0, data: Float32Array.from(flat) })
        : makeData({ type: new Int64(), length: flat.length, nullCount: 0, data: BigInt64Array.from(flat, (v) => BigInt(Math.round(v))) });
  return { name, data: makeData({ type: new List(new Field("item", type, true)), length: rows.length, nullCount: 0, valueOffsets: offsets, child } as never) };
};

export const stringColumn = (name: string, values: readonly string[]): BuiltColumn => ({ name, data: utf8Data(values) });

export const stringListColumn = (name: string, rows: readonly (readonly string[])[]): BuiltColumn => {
  const offsets = new Int32Array(rows.length + 1);
  rows.forEach((r, i) => (offsets[i + 1] = offsets[i]! + r.length));
  const child = utf8Data(rows.flat());
  return { name, data: makeData({ type: new List(new Field("item", new Utf8(), true)), length: rows.length, nullCount: 0, valueOffsets: offsets, child } as never) };
};

/** HF datasets' Image feature: `struct{bytes: binary, path: string}`. */
export const imageStructColumn = (name: string, bytes: readonly Uint8Array[], paths: readonly string[]): BuiltColumn => {
  const b = binaryLike(new Binary(), bytes);
  const p = utf8Data(paths);
  const type = new Struct([new Field("bytes", new Binary(), true), new Field("path", new Utf8(), true)]);
  return { name, data: makeData({ type, length: bytes.length, nullCount: 0, children: [b, p] }) };
};

/** A one-batch table from columns, with schema-level metadata (pandas/huggingface keys). */
export const buildTable = (columns: readonly BuiltColumn[], metadata: ReadonlyMap<string, string> = new Map()): Table => {
  const fields = columns.map((c) => new Field(c.name, c.data.type, true));
  const schema = new Schema(fields, new Map(metadata));
  const length = columns[0]?.data.length ?? 0;
  const structData = makeData({ type: new Struct(fields), length, nullCount: 0, children: columns.map((c) => c.data) });
  return new Table(schema, [new RecordBatch(schema, structData)]);
};
