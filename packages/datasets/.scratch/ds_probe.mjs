import { readFileSync } from "node:fs";
import { parquetMetadata, parquetSchema, parquetReadObjects } from "hyparquet";
import { compressors } from "hyparquet-compressors";
const root = "/work/shared/datasets/so101-pick-orange-cube/";
for (const f of ["data/chunk-000/file-000.parquet", "meta/episodes/chunk-000/file-000.parquet", "meta/tasks.parquet"]) {
  const buf = readFileSync(root + f);
  const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
  const md = parquetMetadata(ab);
  console.log(f, md.num_rows, md.row_groups.length, md.row_groups[0].columns.map(c => c.meta_data.path_in_schema.join(".") + ":" + c.meta_data.codec + ":" + c.meta_data.type).join(" | "));
  const rows = await parquetReadObjects({ file: ab, compressors, rowEnd: 2 });
  console.log(JSON.stringify(rows, (k, v) => typeof v === "bigint" ? Number(v) : v).slice(0, 3000));
  const kv = md.key_value_metadata; if (kv) console.log(kv.map(x => x.key));
}
