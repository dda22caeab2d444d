import {
  formatNumber,
  formatRise,
  formatStat,
  orderMethods,
  type ComparisonRow,
  type ExpectationCheck,
} from "./comparison";
import { METRIC_KEYS } from "./metricsLog";
import type { ConfigText, ExperimentSource, RunSource } from "./source";
import { pairRuns } from "./figures";
import { SUMMARY_KEYS, type MethodResult, type PairResult, type SeedMeasurement, type SummaryKey } from "./summary";

export interface RenderedFigure {
  readonly file: string;
  readonly title: string;
  readonly caption: string;
  readonly png: Buffer;
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

const STYLE = `
body { font-family: "DejaVu Sans", system-ui, sans-serif; margin: 2rem auto; max-width: 1200px; padding: 0 1rem; color: #222; }
h1 { font-size: 1.6rem; margin-bottom: 0.2rem; }
h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #ddd; padding-bottom: 0.2rem; }
.meta { color: #666; font-size: 0.9rem; }
table { border-collapse: collapse; font-size: 0.9rem; margin: 0.5rem 0; }
th, td { border: 1px solid #ccc; padding: 0.3rem 0.6rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
thead th { background: #f3f3f3; }
td.pass { color: #1a7f37; font-weight: bold; }
td.fail { color: #c62828; font-weight: bold; }
.warnings { background: #fff8e1; border-left: 4px solid #f9a825; padding: 0.5rem 1rem; }
figure { margin: 1.5rem 0; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.85rem; }
details { margin: 0.5rem 0; }
summary { cursor: pointer; font-weight: bold; }
pre { background: #f7f7f7; padding: 0.8rem; overflow-x: auto; font-size: 0.8rem; }
`;

const SUMMARY_LABELS: Record<SummaryKey, string> = {
  anchor_loss_base: "anchor loss (base)",
  anchor_loss_final: "anchor loss (final)",
  task_loss_final: "task loss (final)",
  anchor_action_mse: "anchor action MSE",
  task_action_mse: "task action MSE",
  anchor_kl_final: "anchor KL to the base (final)",
  epsilon_end: "ε_end",
  anchor_success_base: "A success (base)",
  anchor_success: "A success (final)",
  task_success_base: "B success (base)",
  task_success: "B success (final)",
};

function page(title: string, body: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
${body}
</body>
</html>
`;
}

function warningsHtml(warnings: readonly string[]): string {
  if (warnings.length === 0) return "";
  return `<div class="warnings"><strong>Notes</strong><ul>${warnings.map((w) => `<li>${escapeHtml(w)}</li>`).join("")}</ul></div>`;
}

/** The PNG is embedded so the page works alone, and linked so the file itself is one click away. */
function figuresHtml(figures: readonly RenderedFigure[], heading: string | null = "Figures"): string {
  if (figures.length === 0) return heading === null ? "" : `<h2>${heading}</h2><p>No plottable series were logged.</p>`;
  const items = figures.map(
    (f) => `<figure id="fig-${escapeHtml(f.file.replace(/\.png$/, ""))}">
<a href="${escapeHtml(f.file)}"><img src="data:image/png;base64,${f.png.toString("base64")}" alt="${escapeHtml(f.title)}" data-file="${escapeHtml(f.file)}"></a>
<figcaption><strong>${escapeHtml(f.title)}</strong> — ${escapeHtml(f.caption)} (<a href="${escapeHtml(f.file)}">${escapeHtml(f.file)}</a>)</figcaption>
</figure>`,
  );
  return `${heading === null ? "" : `<h2>${heading}</h2>\n`}${items.join("\n")}`;
}

function configHtml(label: string, config: ConfigText | undefined, fallback: string): string {
  if (!config) return `<p>${escapeHtml(fallback)}</p>`;
  const note = config.parses ? "" : " (not valid JSON, shown as written)";
  return `<details><summary>${escapeHtml(label)}${note}</summary><pre>${escapeHtml(config.text)}</pre></details>`;
}

function comparisonTableHtml(rows: readonly ComparisonRow[]): string {
  const keys = SUMMARY_KEYS.filter((k) => rows.some((r) => r.stats[k]));
  const head = ["method", "seeds", ...keys.map((k) => SUMMARY_LABELS[k]), "anchor-loss rise over base"];
  const body = rows.map((r) => {
    const cells = [
      `<td>${escapeHtml(r.method)}</td>`,
      `<td>${r.seedCount}</td>`,
      ...keys.map((k) => `<td>${escapeHtml(formatStat(r.stats[k]))}</td>`),
      `<td>${escapeHtml(formatRise(r.anchorRise))}</td>`,
    ];
    return `<tr>${cells.join("")}</tr>`;
  });
  return `<table id="comparison"><thead><tr>${head.map((h) => `<th>${escapeHtml(h)}</th>`).join("")}</tr></thead>
<tbody>
${body.join("\n")}
</tbody></table>
<p class="meta">mean ± std over seeds; the rise is (final − base) / base per seed, then averaged.</p>`;
}

function expectationsHtml(check: ExpectationCheck): string {
  if (check.rows.length === 0) return "<h2>Expectations</h2><p>No expectations recorded and too few methods to check them.</p>";
  const source =
    check.source === "summary"
      ? "as recorded by the experiment in summary.json"
      : "checked by the report on the means above (summary.json records no verdicts)";
  const passed = check.rows.filter((r) => r.passed).length;
  const rows = check.rows.map(
    (r) =>
      `<tr><td>${escapeHtml(r.name)}</td><td class="${r.passed ? "pass" : "fail"}">${r.passed ? "✔ passed" : "✘ failed"}</td><td>${escapeHtml(r.detail)}</td></tr>`,
  );
  return `<h2>Expectations: ${passed} of ${check.rows.length} passed</h2>
<p class="meta">${escapeHtml(source)}</p>
<table id="expectations"><thead><tr><th>expectation</th><th>result</th><th>detail</th></tr></thead>
<tbody>
${rows.join("\n")}
</tbody></table>`;
}

function perSeedHtml(source: ExperimentSource): string {
  const rows: string[] = [];
  for (const method of orderMethods(Object.keys(source.summary.methods))) {
    for (const seed of source.summary.methods[method].seeds ?? []) {
      const cells = SUMMARY_KEYS.map((k) => {
        const v = seed[k];
        return `<td>${typeof v === "number" ? escapeHtml(formatNumber(v)) : "–"}</td>`;
      });
      rows.push(
        `<tr><td>${escapeHtml(method)}</td><td>${seed.seed}</td>${cells.join("")}<td>${escapeHtml(seed.run_dir ?? "")}</td></tr>`,
      );
    }
  }
  if (rows.length === 0) return "";
  const head = ["method", "seed", ...SUMMARY_KEYS.map((k) => SUMMARY_LABELS[k]), "run_dir"];
  return `<details><summary>Per-seed results</summary>
<table id="per-seed"><thead><tr>${head.map((h) => `<th>${escapeHtml(h)}</th>`).join("")}</tr></thead>
<tbody>
${rows.join("\n")}
</tbody></table></details>`;
}

/** A rollout GIF: the first seed's first episode of one run in one environment. */
export interface RolloutGif {
  readonly run: string;
  readonly side: "anchor" | "task";
  /** Path relative to the experiment directory. */
  readonly source: string;
  readonly gif: Buffer;
}

/** What the report shows of one anchor → task pair: its summary, its Pareto figures and its rollouts. */
export interface PairSection {
  readonly name: string;
  readonly pair: PairResult;
  readonly figures: readonly RenderedFigure[];
  readonly rollouts: readonly RolloutGif[];
}

const percent = (v: number) => `${(100 * v).toFixed(0)}%`;

function outcomeText(seeds: readonly SeedMeasurement[], field: "outcomes" | "outcomes_base", side: "anchor" | "task"): string {
  const totals = new Map<string, number>();
  for (const s of seeds) for (const [o, n] of Object.entries(s[field]?.[side] ?? {})) totals.set(o, (totals.get(o) ?? 0) + n);
  const parts = [...totals].filter(([, n]) => n > 0).map(([o, n]) => `${o} ${n}`);
  return parts.length === 0 ? "–" : parts.join(", ");
}

/** Success of every run of a pair (methods and sweep points): A before and after, the share of A kept, B, and how episodes ended. */
function successTableHtml(section: PairSection): string {
  const runs = pairRuns(section.pair);
  const stat = (r: MethodResult, k: SummaryKey) => {
    const m = r.mean?.[k];
    const sd = r.std?.[k];
    return typeof m === "number" ? `${percent(m)}${typeof sd === "number" ? ` ± ${(100 * sd).toFixed(0)} pt` : ""}` : "–";
  };
  const kept = (r: MethodResult) => {
    const base = r.mean?.anchor_success_base;
    const final = r.mean?.anchor_success;
    return typeof base === "number" && typeof final === "number" ? (base > 0 ? percent(final / base) : "undefined (base 0%)") : "–";
  };
  const body = runs.map(({ run, family, result }) => {
    const seeds = result.seeds ?? [];
    const cells = [
      run === family ? run : `${run} (${family} sweep)`,
      String(seeds.length),
      stat(result, "anchor_success_base"),
      stat(result, "anchor_success"),
      kept(result),
      stat(result, "task_success_base"),
      stat(result, "task_success"),
      outcomeText(seeds, "outcomes", "anchor"),
      outcomeText(seeds, "outcomes", "task"),
    ];
    return `<tr>${cells.map((c) => `<td>${escapeHtml(c)}</td>`).join("")}</tr>`;
  });
  const head = ["run", "seeds", "A success (base)", "A success", "A kept (final / base)", "B success (base)", "B success", "A episodes ended", "B episodes ended"];
  const n = section.pair.n_episodes;
  return `<table class="success" id="success-${escapeHtml(section.name)}"><thead><tr>${head.map((h) => `<th>${escapeHtml(h)}</th>`).join("")}</tr></thead>
<tbody>
${body.join("\n")}
</tbody></table>
<p class="meta">closed-loop success rate, mean ± std over seeds${n === undefined ? "" : `, ${n} episodes per run and environment (seeds ${section.pair.eval_seed ?? "?"}…)`}; outcomes summed over seeds.</p>`;
}

function rolloutsHtml(section: PairSection): string {
  if (section.rollouts.length === 0) return "<p>No rollout GIFs were recorded.</p>";
  const runs = [...new Set(section.rollouts.map((r) => r.run))];
  const cell = (run: string, side: "anchor" | "task") => {
    const gif = section.rollouts.find((r) => r.run === run && r.side === side);
    // Embedded like the figures, so the page works alone; the link opens the file the experiment wrote.
    const alt = `${run}, task ${side === "anchor" ? "A" : "B"}`;
    return gif
      ? `<td><a href="../${escapeHtml(gif.source)}"><img class="rollout" src="data:image/gif;base64,${gif.gif.toString("base64")}" alt="${escapeHtml(alt)}" data-file="${escapeHtml(gif.source)}" width="128"></a></td>`
      : "<td>–</td>";
  };
  const rows = runs.map((run) => `<tr><td>${escapeHtml(run)}</td>${cell(run, "anchor")}${cell(run, "task")}</tr>`);
  return `<table class="rollouts" id="rollouts-${escapeHtml(section.name)}"><thead><tr><th>policy</th><th>task A: ${escapeHtml(section.pair.anchor?.instruction ?? "anchor")}</th><th>task B: ${escapeHtml(section.pair.task?.instruction ?? "task")}</th></tr></thead>
<tbody>
${rows.join("\n")}
</tbody></table>
<p class="meta">the first evaluation episode of the first seed, as recorded.</p>`;
}

function pairSectionHtml(section: PairSection): string {
  const { anchor, task } = section.pair;
  const heading = anchor && task ? `${section.name}: keep A "${anchor.instruction}" while learning B "${task.instruction}"` : section.name;
  return `<h2 id="pair-${escapeHtml(section.name)}">${escapeHtml(heading)}</h2>
${successTableHtml(section)}
${figuresHtml(section.figures, null)}
<h3>Rollouts</h3>
${rolloutsHtml(section)}`;
}

/** The pair whose methods the summary's top-level `methods` repeats (the table and curves above the pair sections). */
const primaryPair = (source: ExperimentSource): string | undefined =>
  Object.entries(source.summary.pairs ?? {}).find(([, pair]) => JSON.stringify(pair.methods) === JSON.stringify(source.summary.methods))?.[0];

export function experimentPage(
  title: string,
  source: ExperimentSource,
  rows: readonly ComparisonRow[],
  check: ExpectationCheck,
  figures: readonly RenderedFigure[],
  warnings: readonly string[],
  pairs: readonly PairSection[] = [],
): string {
  const configs =
    source.summary.configs === undefined
      ? undefined
      : { path: "summary.json#configs", text: JSON.stringify(source.summary.configs, null, 2), parses: true };
  const body = `<h1>${escapeHtml(title)}</h1>
<p class="meta">experiment directory: ${escapeHtml(source.dir)}</p>
${warningsHtml(warnings)}
<h2>Final comparison${primaryPair(source) === undefined ? "" : ` (losses): ${escapeHtml(primaryPair(source)!)}`}</h2>
${comparisonTableHtml(rows)}
${perSeedHtml(source)}
${expectationsHtml(check)}
${pairs.map(pairSectionHtml).join("\n")}
${figuresHtml(figures)}
<h2>Resolved configs</h2>
${configHtml("configs (from summary.json)", configs, "summary.json records no configs.")}`;
  return page(title, body);
}

function lastValuesHtml(source: RunSource): string {
  const rows = METRIC_KEYS.flatMap((key) => {
    const logged = source.log.points.filter((p) => p.values[key] !== undefined);
    if (logged.length === 0) return [];
    const values = logged.map((p) => p.values[key]!);
    const last = logged[logged.length - 1];
    return [
      `<tr><td>${key}</td><td>${escapeHtml(formatNumber(last.values[key]!))}</td><td>${last.step}</td><td>${escapeHtml(formatNumber(Math.min(...values)))}</td><td>${escapeHtml(formatNumber(Math.max(...values)))}</td></tr>`,
    ];
  });
  const steps = source.log.points.map((p) => p.step);
  return `<p class="meta">${source.log.points.length} log rows, steps ${Math.min(...steps)}–${Math.max(...steps)}</p>
<table id="last-values"><thead><tr><th>metric</th><th>last</th><th>at step</th><th>min</th><th>max</th></tr></thead>
<tbody>
${rows.join("\n")}
</tbody></table>`;
}

function checkpointsHtml(source: RunSource): string {
  if (!source.checkpoints) return "<p>No checkpoints/ directory.</p>";
  if (source.checkpoints.length === 0) return "<p>checkpoints/ is empty.</p>";
  const items = source.checkpoints.map((c) => {
    const link = c.linkTarget ? ` → ${escapeHtml(c.linkTarget)}` : "";
    const size = c.modelBytes !== undefined ? ` (model.safetensors, ${(c.modelBytes / 1e6).toFixed(2)} MB)` : "";
    return `<li><code>${escapeHtml(c.name)}</code>${link}${size}</li>`;
  });
  return `<ul id="checkpoints">${items.join("")}</ul>`;
}

export function runPage(title: string, source: RunSource, figures: readonly RenderedFigure[], warnings: readonly string[]): string {
  const body = `<h1>${escapeHtml(title)}</h1>
<p class="meta">run directory: ${escapeHtml(source.dir)}</p>
${warningsHtml(warnings)}
<h2>Last logged values</h2>
${lastValuesHtml(source)}
${figuresHtml(figures)}
<h2>Checkpoints</h2>
${checkpointsHtml(source)}
<h2>Resolved config</h2>
${configHtml("train_config.json", source.config, "No train_config.json in the run directory.")}`;
  return page(title, body);
}
