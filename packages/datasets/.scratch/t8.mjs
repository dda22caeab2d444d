import { readFileSync } from "node:fs";
import { parquetReadObjects, parquetRead } from "hyparquet";
import { compressors } from "hyparquet-compressors";
import * as pw from "parquet-wasm";
import { tableFromIPC } from "apache-arrow";
const buf = readFileSync("/work/shared/datasets/so101-pick-orange-cube/data/chunk-000/file-000.parquet");
const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
const fns = {
  wasm: () => tableFromIPC(pw.readParquet(new Uint8Array(buf)).intoIPCStream()),
  wasmOnly: () => pw.readParquet(new Uint8Array(buf)).free(),
  hyObj: () => parquetReadObjects({ file: ab, compressors }),
  hyCol: () => new Promise((r) => parquetRead({ file: ab, compressors, onComplete: r })),
};
const times = Object.fromEntries(Object.keys(fns).map((k) => [k, []]));
for (let i = 0; i < 60; i++) for (const [k, f] of Object.entries(fns)) { const t = performance.now(); await f(); times[k].push(performance.now() - t); }
for (const [k, v] of Object.entries(times)) { v.sort((a, b) => a - b); console.log(k, "median", v[30].toFixed(2), "min", v[0].toFixed(2)); }
