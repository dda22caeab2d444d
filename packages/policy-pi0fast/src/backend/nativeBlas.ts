import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { moduleDirectory } from "./moduleLocation";

/** The optional N-API addon in `native/` (OpenBLAS `cblas_sgemm`), see native/src/blas.c. */
export interface NativeBlas {
  /** C[i] = op(A[i])·op(B[i]) row-major for i < batch; a stride of 0 broadcasts that operand. */
  readonly sgemmBatched: (
    batch: number,
    transA: boolean,
    transB: boolean,
    m: number,
    n: number,
    k: number,
    a: Float32Array,
    aStride: number,
    b: Float32Array,
    bStride: number,
    c: Float32Array,
  ) => void;
  readonly threads: () => number;
  readonly config: () => string;
}

export type NativeBlasLoad =
  | { readonly _tag: "Loaded"; readonly blas: NativeBlas; readonly path: string }
  | { readonly _tag: "Unavailable"; readonly reason: string };

const PACKAGE_NAME = "@craft/policy-pi0fast";
const ADDON_RELATIVE = join("native", "build", "Release", "pi0fast_blas.node");

function findPackageRoot(start: string): string | undefined {
  let dir = start;
  for (;;) {
    const manifest = join(dir, "package.json");
    if (existsSync(manifest)) {
      try {
        if ((JSON.parse(readFileSync(manifest, "utf8")) as { name?: string }).name === PACKAGE_NAME) return dir;
      } catch {
        // unreadable manifest: keep walking up
      }
    }
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

let cached: NativeBlasLoad | undefined;

/**
 * Loads the addon once. `PI0FAST_NATIVE_BLAS=0` disables it; `PI0FAST_NATIVE_BLAS=/path/x.node`
 * points at a specific build. Never throws: a missing or broken addon is reported as Unavailable.
 */
export function loadNativeBlas(): NativeBlasLoad {
  if (cached !== undefined) return cached;
  cached = probeNativeBlas(typeof process !== "undefined" ? process.env.PI0FAST_NATIVE_BLAS : undefined);
  return cached;
}

/** Uncached load, `setting` as PI0FAST_NATIVE_BLAS: undefined/"1" (default path), "0", or a path. */
export function probeNativeBlas(setting: string | undefined): NativeBlasLoad {
  const env = setting;
  if (env === "0" || env === "false") return { _tag: "Unavailable", reason: "disabled by PI0FAST_NATIVE_BLAS=0" };
  const root = findPackageRoot(moduleDirectory()) ?? findPackageRoot(process.cwd());
  const path = env !== undefined && env !== "" && env !== "1" ? env : root !== undefined ? join(root, ADDON_RELATIVE) : undefined;
  if (path === undefined) return { _tag: "Unavailable", reason: `package root of ${PACKAGE_NAME} not found` };
  if (!existsSync(path)) return { _tag: "Unavailable", reason: `${path} not built (npm run build:native)` };
  try {
    const blas = createRequire(join(dirname(path), "noop.js"))(path) as NativeBlas;
    if (typeof blas.sgemmBatched !== "function") return { _tag: "Unavailable", reason: `${path} has no sgemmBatched` };
    return { _tag: "Loaded", blas, path };
  } catch (error) {
    return { _tag: "Unavailable", reason: `${path} failed to load: ${(error as Error).message}` };
  }
}
