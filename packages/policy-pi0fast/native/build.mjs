// Builds the optional OpenBLAS addon (native/build/Release/pi0fast_blas.node) offline.
// Never fails the caller: without a compiler, Node headers or libopenblas-dev the package
// runs on the stock wasm kernels (see src/backend/nativeBlas.ts).
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const strict = process.argv.includes("--strict");

function skip(reason) {
  console.warn(`[pi0fast native] addon not built: ${reason}; the wasm kernels will be used.`);
  process.exit(strict ? 1 : 0);
}

const cblasHeaders = [
  "/usr/include/x86_64-linux-gnu/openblas-pthread/cblas.h",
  "/usr/include/aarch64-linux-gnu/openblas-pthread/cblas.h",
  "/usr/include/cblas.h",
];
if (!cblasHeaders.some((p) => existsSync(p))) skip("cblas.h not found (apt-get install libopenblas-dev)");

const nodedir = process.env.npm_config_nodedir ?? (existsSync("/usr/include/node/node_api.h") ? "/usr" : undefined);
if (nodedir === undefined) skip("Node headers not found (set nodedir in .npmrc)");

const gypCandidates = [
  join(dirname(process.execPath), "../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js"),
  "/usr/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js",
  "/usr/share/nodejs/node-gyp/bin/node-gyp.js",
];
const gyp = gypCandidates.map((p) => resolve(p)).find((p) => existsSync(p));
if (gyp === undefined) skip("node-gyp not found next to npm");

const result = spawnSync(process.execPath, [gyp, "rebuild", `--nodedir=${nodedir}`], {
  cwd: here,
  stdio: "inherit",
  env: { ...process.env, npm_config_nodedir: nodedir },
});
if (result.status !== 0) skip(`node-gyp exited with ${result.status}`);
console.log(`[pi0fast native] built ${join(here, "build/Release/pi0fast_blas.node")}`);
