import { readFileSync } from "node:fs";
import { parquetReadObjects, parquetRead } from "hyparquet";
import { compressors } from "hyparquet-compressors";
import * as pw from "parquet-wasm";
import { tableFromIPC } from "apache-arrow";
const f = "/work/shared/datasets/so101-pick-orange-cube/data/chunk-000/file-000.parquet";
const buf = readFileSync(f);
const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
function t(name, fn, n = 20) { fn(); const s = performance.now(); for (let i = 0; i < n; i++) fn(); console.log(name, ((performance.now() - s) / n).toFixed(2), "ms"); }
async function ta(name, fn, n = 20) { await fn(); const s = performance.now(); for (let i = 0; i < n; i++) await fn(); console.log(name, ((performance.now() - s) / n).toFixed(2), "ms"); }
let s0 = performance.now();
const tb = pw.readParquet(new Uint8Array(buf));
console.log("pw first (incl wasm init)", performance.now() - s0);
t("parquet-wasm readParquet + IPC + tableFromIPC", () => { const w = pw.readParquet(new Uint8Array(buf)); const at = tableFromIPC(w.intoIPCStream()); return at; });
const at = tableFromIPC(pw.readParquet(new Uint8Array(buf)).intoIPCStream());
console.log(at.schema.fields.map(f => f.name + ":" + f.type), at.numRows, at.batches.length);
await ta("hyparquet objects", () => parquetReadObjects({ file: ab, compressors }));
await ta("hyparquet columnar (onChunk)", () => new Promise(res => parquetRead({ file: ab, compressors, onComplete: res, rowFormat: "array" })));
