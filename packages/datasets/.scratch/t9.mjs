import { readFileSync } from "node:fs";
import { parquetMetadata } from "hyparquet";
for (const f of ["/tmp/readme-ds/reach/data/chunk-000/file-000.parquet", "/tmp/readme-ds/reach/meta/tasks.parquet", "/tmp/readme-ds/reach/meta/episodes/chunk-000/file-000.parquet"]) {
  const b = readFileSync(f);
  const md = parquetMetadata(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
  console.log(f.split("/").slice(-2).join("/"), (md.key_value_metadata ?? []).map((k) => k.key + "=" + k.value.slice(0, 80)), md.row_groups.length, md.row_groups[0].columns.slice(0, 3).map((c) => c.meta_data.path_in_schema.join(".") + ":" + c.meta_data.codec));
}
