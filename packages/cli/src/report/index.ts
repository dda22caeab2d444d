import { mkdir, rm, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { comparisonRows, expectationCheck } from "./comparison";
import {
  anchorRiseFigure,
  conflictFigure,
  gradNormFigure,
  lambdaEpsilonFigure,
  lossFigure,
  type FigureSpec,
  type Palette,
  type RunGroup,
} from "./figures";
import { experimentPage, runPage, type RenderedFigure } from "./html";
import { findDejaVuSans, renderSpecToPng } from "./render";
import { loadReportSource } from "./source";

export { ReportError, describeReportIssue, type ReportIssue } from "./errors";

export interface ReportOptions {
  readonly title?: string;
}

export interface ReportResult {
  readonly htmlPath: string;
  /** Absolute paths of the PNG figures written. */
  readonly figures: string[];
}

const ALL_FIGURE_FILES = ["loss.png", "lambda_epsilon.png", "conflict_cosine.png", "grad_norms.png", "anchor_rise.png"];

const SKIP_REASONS: Record<string, string> = {
  "loss.png": "no task_loss, loss or retention_loss logged",
  "lambda_epsilon.png": "no lambda or epsilon logged (baseline runs have none)",
  "conflict_cosine.png": "no conflict_rate or cosine logged",
  "grad_norms.png": "no gradient norms logged",
  "anchor_rise.png": "no method has both anchor_loss_base and anchor_loss_final",
};

function collectFigures(
  groups: readonly RunGroup[],
  legendTitle: string,
  palette: Palette,
  extra: FigureSpec | undefined,
  files: readonly string[],
) {
  const built = new Map<string, FigureSpec | undefined>([
    ["loss.png", lossFigure(groups, legendTitle, palette)],
    ["lambda_epsilon.png", lambdaEpsilonFigure(groups, legendTitle, palette)],
    ["conflict_cosine.png", conflictFigure(groups, legendTitle, palette)],
    ["grad_norms.png", gradNormFigure(groups)],
  ]);
  if (files.includes("anchor_rise.png")) built.set("anchor_rise.png", extra);
  const specs: FigureSpec[] = [];
  const skipped: string[] = [];
  for (const file of files) {
    const spec = built.get(file);
    if (spec) specs.push(spec);
    else skipped.push(`${file} not drawn: ${SKIP_REASONS[file]}.`);
  }
  return { specs, skipped };
}

/**
 * Writes `<outputDir>/report/{index.html, report.json, *.png}` for a training run (metrics.jsonl)
 * or a retention experiment (summary.json + runs/<method>/seed-<seed>/metrics.jsonl).
 */
export async function writeReport(outputDir: string, options: ReportOptions = {}): Promise<ReportResult> {
  const source = await loadReportSource(outputDir);
  const reportDir = join(source.dir, "report");
  await mkdir(reportDir, { recursive: true });
  const warnings: string[] = [];
  if (!findDejaVuSans()) {
    warnings.push("DejaVu Sans was not found: figure text may be missing (Debian: apt-get install fonts-dejavu-core).");
  }

  const isExperiment = source.kind === "experiment";
  const rows = isExperiment ? comparisonRows(source.summary) : [];
  const groups: RunGroup[] = isExperiment ? [...source.groups] : [{ name: source.log.label, runs: [source.log] }];
  const files = isExperiment ? ALL_FIGURE_FILES : ALL_FIGURE_FILES.filter((f) => f !== "anchor_rise.png");
  const palette = isExperiment ? rows.map((r) => r.method) : groups.map((g) => g.name);
  const { specs, skipped } = collectFigures(
    groups,
    isExperiment ? "method" : "run",
    palette,
    anchorRiseFigure(rows, palette),
    files,
  );
  if (isExperiment) warnings.push(...source.missingRuns);
  warnings.push(...skipped);

  const rendered: RenderedFigure[] = [];
  for (const spec of specs) {
    const png = await renderSpecToPng(spec.spec);
    await writeFile(join(reportDir, spec.file), png);
    rendered.push({ file: spec.file, title: spec.title, caption: spec.caption, png });
  }
  // A figure drawn by an earlier report but not this one would otherwise look current.
  for (const file of ALL_FIGURE_FILES) {
    if (!rendered.some((f) => f.file === file)) await rm(join(reportDir, file), { force: true });
  }

  const title =
    options.title ??
    (isExperiment ? `CRaFT retention experiment — ${basename(source.dir)}` : `Training run — ${basename(source.dir)}`);
  const html = isExperiment
    ? experimentPage(title, source, rows, expectationCheck(source.summary, rows), rendered, warnings)
    : runPage(title, source, rendered, warnings);
  const htmlPath = join(reportDir, "index.html");
  await writeFile(htmlPath, html);
  const manifest = {
    kind: source.kind,
    title,
    source_dir: source.dir,
    html: "index.html",
    figures: rendered.map((f) => ({ file: f.file, title: f.title, caption: f.caption })),
    warnings,
  };
  await writeFile(join(reportDir, "report.json"), `${JSON.stringify(manifest, null, 2)}\n`);
  return { htmlPath, figures: rendered.map((f) => join(reportDir, f.file)) };
}
