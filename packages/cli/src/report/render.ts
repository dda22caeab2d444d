import { readdirSync, type Dirent } from "node:fs";
import { join } from "node:path";
import type { TopLevelSpec } from "vega-lite";

/**
 * Loaded on first use: vega is ESM-only with top-level await, so a static import would make
 * `require("@craft/cli")` (the CJS build) throw for every command, not just `craft report`.
 */
async function plottingLibraries() {
  const [vega, vegaLite, resvg] = await Promise.all([import("vega"), import("vega-lite"), import("@resvg/resvg-js")]);
  return { vega, compile: vegaLite.compile, Resvg: resvg.Resvg };
}

/** Vega-Lite → Vega → SVG (headless, no canvas) → PNG at 2× for crisp text. */
export async function renderSpecToPng(spec: TopLevelSpec): Promise<Buffer> {
  const { vega, compile, Resvg } = await plottingLibraries();
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: "none" });
  try {
    const svg = await view.toSVG();
    const png = new Resvg(svg, {
      font: { loadSystemFonts: true, defaultFontFamily: "DejaVu Sans" },
      background: "white",
      fitTo: { mode: "zoom", value: 2 },
    })
      .render()
      .asPng();
    return png;
  } finally {
    view.finalize();
  }
}

const FONT_DIRS = ["/usr/share/fonts", "/usr/local/share/fonts", "/Library/Fonts", "/System/Library/Fonts"];

/** resvg draws no text at all without a usable font, so say so instead of writing label-less figures. */
export function findDejaVuSans(): string | undefined {
  const walk = (dir: string, depth: number): string | undefined => {
    let entries: Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return undefined;
    }
    for (const entry of entries) {
      const path = join(dir, entry.name);
      if (entry.isFile() && /^DejaVuSans\.ttf$/i.test(entry.name)) return path;
      if (entry.isDirectory() && depth > 0) {
        const found = walk(path, depth - 1);
        if (found) return found;
      }
    }
    return undefined;
  };
  for (const dir of FONT_DIRS) {
    const found = walk(dir, 3);
    if (found) return found;
  }
  return undefined;
}
