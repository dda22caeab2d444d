import { dirname } from "node:path";
import { fileURLToPath } from "node:url";

/** Directory of this module (src/backend in tests, dist/ once bundled). */
export function moduleDirectory(): string {
  // ESM (dist/*.js, vitest): import.meta.url. The CJS build has no import.meta (esbuild leaves it
  // empty) and uses __dirname; ESM checks import.meta first because `node -e` defines a global
  // __dirname of ".".
  try {
    const url: string | undefined = (import.meta as { url?: string }).url;
    if (url !== undefined) return dirname(fileURLToPath(url));
  } catch {
    // not an ES module
  }
  if (typeof __dirname === "string") return __dirname;
  return process.cwd();
}
