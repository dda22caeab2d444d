/**
 * Tools (benchmarks, device checks) use the packages as any user would: through `@craft/<pkg>` and
 * its documented sub-paths, never a package's src/ or test/ files (issue 16). Every TypeScript and
 * JavaScript file under tools/ is scanned for import/export-from/require/dynamic import specifiers
 * that reach into packages/<pkg>/src/ or packages/<pkg>/test/. Build output (dist/) is skipped.
 */
import { readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
const toolsDir = path.join(repoRoot, "tools");
const SOURCE = /\.(ts|mts|cts|js|mjs|cjs)$/;
const SKIP_DIRS = new Set(["dist", "node_modules"]);

/** Module specifiers of static imports, `export … from`, dynamic `import(…)` and `require(…)`. */
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(?\s*|\brequire\s*\(\s*)["'`]([^"'`]+)["'`]/g;
const INTO_PACKAGE_INTERNALS = /(?:^|\/)packages\/[^/]+\/(?:src|test)(?:\/|$)/;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return SKIP_DIRS.has(entry.name) || entry.name.startsWith(".") ? [] : sourceFiles(full);
    return SOURCE.test(entry.name) ? [full] : [];
  });
}

/** `file:line: specifier` for each import of a package's internals in `text`. */
function internalImports(file: string, text: string): string[] {
  const found: string[] = [];
  for (const match of text.matchAll(SPECIFIER)) {
    if (!INTO_PACKAGE_INTERNALS.test(match[1])) continue;
    const line = text.slice(0, match.index).split("\n").length;
    found.push(`${path.relative(repoRoot, file)}:${line}: ${match[1]}`);
  }
  return found;
}

describe("tools use only the packages' public entries", () => {
  it("the scan recognises every form of import into a package's src/ or test/, and passes public entries", () => {
    const text = [
      'import { a } from "../../../packages/policy-pi0fast/test/policy-so101";',
      'export { b } from "../../packages/trainer/src/adamw.js";',
      'const c = await import("../../packages/datasets/src/index.ts");',
      "const d = require('../../packages/craft-core/src/config');",
      'import "../../../packages/policy-pi0fast/test/webgpu.test";',
      'import { e } from "@craft/policy-pi0fast/backend";',
      'import { f } from "./so101-frames";',
      "// packages/trainer/src/adamw.ts is where the fused AdamW lives (a comment, not an import)",
    ].join("\n");
    expect(internalImports("/x.ts", text).map((s) => s.split(": ")[1])).toEqual([
      "../../../packages/policy-pi0fast/test/policy-so101",
      "../../packages/trainer/src/adamw.js",
      "../../packages/datasets/src/index.ts",
      "../../packages/craft-core/src/config",
      "../../../packages/policy-pi0fast/test/webgpu.test",
    ]);
  });

  it("no file under tools/ imports from packages/*/src or packages/*/test", () => {
    const files = sourceFiles(toolsDir);
    expect(files.length).toBeGreaterThan(10);
    const offending = files.flatMap((file) => internalImports(file, readFileSync(file, "utf8")));
    expect(offending).toEqual([]);
  });
});
