import { readFileSync } from "node:fs";
import * as pw from "parquet-wasm";
import { tableFromIPC, tableToIPC, Table, makeVector, Int64 } from "apache-arrow";
const f = "/tmp/ds_syn/reach/meta/episodes/chunk-000/file-000.parquet";
const ep = tableFromIPC(pw.readParquet(new Uint8Array(readFileSync(f))).intoIPCStream());
try { pw.Table.fromIPCStream(tableToIPC(ep, "stream")); console.log("plain ok"); } catch (e) { console.log("plain", e.message); }
const cols = Object.fromEntries(ep.schema.fields.map((f) => [f.name, ep.getChild(f.name)]));
try { pw.Table.fromIPCStream(tableToIPC(new Table(cols), "stream")); console.log("rebuilt ok"); } catch (e) { console.log("rebuilt", e.message); }
cols.z = makeVector({ type: new Int64(), data: new BigInt64Array(ep.numRows) });
try { pw.Table.fromIPCStream(tableToIPC(new Table(cols), "stream")); console.log("z ok"); } catch (e) { console.log("z", e.message); }
cols.z2 = cols.z;
try { pw.Table.fromIPCStream(tableToIPC(new Table(cols), "stream")); console.log("z2 ok"); } catch (e) { console.log("z2", e.message); }
import { Float64 } from "apache-arrow";
cols.f = makeVector({ type: new Float64(), data: new Float64Array(ep.numRows) });
try { pw.Table.fromIPCStream(tableToIPC(new Table(cols), "stream")); console.log("f ok"); } catch (e) { console.log("f", e.message); }
