import { readFileSync } from "node:fs";
import * as pw from "parquet-wasm";
import { tableFromIPC } from "apache-arrow";
for (const f of ["meta/tasks.parquet","data/chunk-000/file-000.parquet"]) {
const b = readFileSync("/work/shared/datasets/so101-pick-orange-cube/"+f);
const t = tableFromIPC(pw.readParquet(new Uint8Array(b)).intoIPCStream());
console.log(t.schema.fields.map(f=>f.name+":"+f.type+":"+f.nullable), [...t.schema.metadata.entries()].map(([k,v])=>k+"="+v.slice(0,1500)));
}
