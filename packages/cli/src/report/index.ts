import { mkdir, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { comparisonRows, expectationCheck, orderMethods } from "./comparison";
import {
  anchorRiseFigure,
  conflictFigure,
  evalSuccessFigure,
  gradNormFigure,
  lambdaEpsilonFigure,
  lossFigure,
  paretoFigure,
  type FigureSpec,
  type Palette,
  type RunGroup,
} from "./figures";
import { experimentPage, runPage, type PairSection, type RenderedFigure, type RolloutGif } from "./html";
import { findDejaVuSans, renderSpecToPng } from "./render";
import { loadReportSource, type ExperimentSource } from "./source";
import type { PairResult } from "./summary";

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

/** Drawn only when a run logged what they show, without a "not drawn" line otherwise (most runs evaluate in no environment). */
const OPTIONAL_FIGURE_FILES = ["eval_success.png"];

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

async function renderFigure(reportDir: string, spec: FigureSpec): Promise<RenderedFigure> {
  const png = await renderSpecToPng(spec.spec);
  await writeFile(join(reportDir, spec.file), png);
  return { file: spec.file, title: spec.title, caption: spec.caption, png };
}

/** The base's and each method's first recorded rollout per environment (first seed); a GIF not found is a warning. */
async function pairRollouts(dir: string, pair: PairResult, warnings: string[]): Promise<RolloutGif[]> {
  const wanted: { run: string; side: "anchor" | "task"; source: string | undefined }[] = [];
  const firstSeed = (run: string) => pair.methods[run]?.seeds?.[0];
  const baseSeed = firstSeed(Object.keys(pair.methods)[0] ?? "");
  for (const side of ["anchor", "task"] as const) wanted.push({ run: "base", side, source: baseSeed?.gifs_base?.[side] });
  for (const run of orderMethods(Object.keys(pair.methods))) for (const side of ["anchor", "task"] as const) wanted.push({ run, side, source: firstSeed(run)?.gifs?.[side] });
  const gifs: RolloutGif[] = [];
  for (const { run, side, source } of wanted) {
    if (source === undefined) continue;
    try {
      gifs.push({ run, side, source, gif: await readFile(join(dir, source)) });
    } catch {
      warnings.push(`rollout GIF of ${run} (task ${side === "anchor" ? "A" : "B"}) not found at ${join(dir, source)}.`);
    }
  }
  return gifs;
}

/** Per pair: the Pareto figures (success and loss) and the rollout GIFs. */
async function pairSections(source: ExperimentSource, reportDir: string, palette: readonly string[], warnings: string[]): Promise<PairSection[]> {
  const sections: PairSection[] = [];
  for (const [name, pair] of Object.entries(source.summary.pairs ?? {})) {
    const figures: RenderedFigure[] = [];
    for (const kind of ["success", "loss"] as const) {
      const spec = paretoFigure(name, pair, kind, palette);
      if (spec) figures.push(await renderFigure(reportDir, spec));
      else warnings.push(`pareto_${kind}_${name}.png not drawn: no run of ${name} has both its task-A and task-B ${kind}.`);
    }
    sections.push({ name, pair, figures, rollouts: await pairRollouts(source.dir, pair, warnings) });
  }
  return sections;
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
  const evalSuccess = evalSuccessFigure(groups, isExperiment ? "method" : "run", palette);
  if (evalSuccess) specs.push(evalSuccess);
  if (isExperiment) warnings.push(...source.missingRuns);
  warnings.push(...skipped);

  const rendered: RenderedFigure[] = [];
  for (const spec of specs) rendered.push(await renderFigure(reportDir, spec));
  const pairs = source.kind === "experiment" ? await pairSections(source, reportDir, palette, warnings) : [];
  const allRendered = [...rendered, ...pairs.flatMap((p) => p.figures)];
  // A figure drawn by an earlier report but not this one would otherwise look current.
  for (const file of [...ALL_FIGURE_FILES, ...OPTIONAL_FIGURE_FILES, ...(await readdir(reportDir)).filter((f) => /^pareto_.*\.png$/.test(f))]) {
    if (!allRendered.some((f) => f.file === file)) await rm(join(reportDir, file), { force: true });
  }

  const title =
    options.title ??
    (isExperiment ? `CRaFT retention experiment — ${basename(source.dir)}` : `Training run — ${basename(source.dir)}`);
  const html = isExperiment
    ? experimentPage(title, source, rows, expectationCheck(source.summary, rows), rendered, warnings, pairs)
    : runPage(title, source, rendered, warnings);
  const htmlPath = join(reportDir, "index.html");
  await writeFile(htmlPath, html);
  const manifest = {
    kind: source.kind,
    title,
    source_dir: source.dir,
    html: "index.html",
    figures: rendered.map((f) => ({ file: f.file, title: f.title, caption: f.caption })),
    pairs: pairs.map((p) => ({
      name: p.name,
      figures: p.figures.map((f) => ({ file: f.file, title: f.title, caption: f.caption })),
      rollouts: p.rollouts.map((r) => ({ run: r.run, side: r.side, source: r.source })),
    })),
    warnings,
  };
  await writeFile(join(reportDir, "report.json"), `${JSON.stringify(manifest, null, 2)}\n`);
  return { htmlPath, figures: allRendered.map((f) => join(reportDir, f.file)) };
}
