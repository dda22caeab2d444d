import type { TopLevelSpec } from "vega-lite";
import { formatPercent, type ComparisonRow } from "./comparison";
import { hasMetric, type MetricKey, type RunLog } from "./metricsLog";
import { paretoFront } from "./pareto";
import { aggregateAcrossRuns, thinSeries } from "./series";
import type { MethodResult, PairResult } from "./summary";

/** Runs drawn as one line: the seeds of one method, or a single run on its own. */
export interface RunGroup {
  readonly name: string;
  readonly runs: readonly RunLog[];
}

/** Group names in colour order; a name keeps its colour in every figure, whichever groups a figure shows. */
export type Palette = readonly string[];

export interface FigureSpec {
  /** PNG file name inside report/. */
  readonly file: string;
  readonly title: string;
  readonly caption: string;
  readonly spec: TopLevelSpec;
}

interface ChartRow {
  step: number;
  group: string;
  panel: string;
  value: number;
  lo: number | null;
  hi: number | null;
  band?: string;
}

const MAX_POINTS_PER_LINE = 1500;
const TABLEAU10 = ["#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#eeca3b", "#b279a2", "#ff9da6", "#9d755d", "#bab0ac"];
const PANEL_WIDTH = 360;
const PANEL_HEIGHT = 230;

const baseConfig = {
  font: "DejaVu Sans",
  background: "white",
  title: { fontSize: 16, subtitleFontSize: 12, anchor: "start" as const, offset: 12 },
  axis: { labelFontSize: 11, titleFontSize: 12 },
  legend: { labelFontSize: 11, titleFontSize: 12, labelLimit: 400 },
  header: { labelFontSize: 13, labelFontWeight: "bold" as const },
};

function colorOf(palette: Palette, name: string): string {
  const index = palette.indexOf(name);
  return TABLEAU10[(index === -1 ? palette.length : index) % TABLEAU10.length];
}

function colorEncoding(palette: Palette, shown: readonly string[], title: string, channelField = "group") {
  return {
    field: channelField,
    type: "nominal" as const,
    title,
    sort: shown,
    scale: { domain: [...shown], range: shown.map((g) => colorOf(palette, g)) },
  };
}

function rowsFor(group: RunGroup, key: MetricKey, panel: string): ChartRow[] {
  const series = thinSeries(aggregateAcrossRuns(group.runs, key), MAX_POINTS_PER_LINE);
  const band = group.runs.length > 1;
  return series.map((p) => ({
    step: p.step,
    group: group.name,
    panel,
    value: p.mean,
    lo: band ? p.min : null,
    hi: band ? p.max : null,
  }));
}

function spreadNote(groups: readonly RunGroup[]): string {
  const maxRuns = Math.max(...groups.map((g) => g.runs.length));
  return maxRuns > 1 ? `line: mean over seeds; band: min–max over seeds` : "";
}

interface PanelSource {
  readonly panel: string;
  /** First key a group has logged is used (e.g. task_loss, else loss in baseline runs). */
  readonly keys: readonly MetricKey[];
}

/** Side-by-side panels sharing the step axis, one line per group, each panel with its own y scale. */
function panelFigure(
  groups: readonly RunGroup[],
  sources: readonly PanelSource[],
  opts: { file: string; title: string; subtitle: string; yTitle: string; legendTitle: string; palette: Palette },
): FigureSpec | undefined {
  const allGroups = groups.map((g) => g.name);
  const rows: ChartRow[] = [];
  for (const source of sources) {
    for (const group of groups) {
      const key = source.keys.find((k) => hasMetric(group.runs, k));
      if (key) rows.push(...rowsFor(group, key, source.panel));
    }
  }
  if (rows.length === 0) return undefined;
  const panels = sources.map((s) => s.panel).filter((p) => rows.some((r) => r.panel === p));
  const shown = allGroups.filter((g) => rows.some((r) => r.group === g));
  for (const row of rows) row.band = colorOf(opts.palette, row.group);
  const color = colorEncoding(opts.palette, shown, opts.legendTitle);
  const x = { field: "step", type: "quantitative" as const, title: "training step" };
  const note = spreadNote(groups.filter((g) => shown.includes(g.name)));
  const spec = {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: { text: opts.title, subtitle: [opts.subtitle, note].filter((s) => s !== "") },
    data: { values: rows },
    facet: { column: { field: "panel", type: "nominal", title: null, sort: panels } },
    spec: {
      width: PANEL_WIDTH,
      height: PANEL_HEIGHT,
      layer: [
        {
          transform: [{ filter: "datum.lo !== null" }],
          mark: { type: "area", opacity: 0.18 },
          encoding: {
            x,
            y: { field: "lo", type: "quantitative", title: opts.yTitle },
            y2: { field: "hi" },
            // Band colour comes from the data (scale: null): a legend-less colour channel on this
            // layer would remove the lines' shared colour legend.
            fill: { field: "band", type: "nominal", scale: null },
            detail: { field: "group", type: "nominal" },
          },
        },
        {
          mark: { type: "line", strokeWidth: 2 },
          encoding: {
            x,
            y: { field: "value", type: "quantitative", title: opts.yTitle, scale: { zero: false } },
            color,
          },
        },
      ],
    },
    resolve: { scale: { y: "independent" } },
    config: baseConfig,
  } as TopLevelSpec;
  return { file: opts.file, title: opts.title, caption: opts.subtitle, spec };
}

export function lossFigure(groups: readonly RunGroup[], legendTitle: string, palette: Palette): FigureSpec | undefined {
  const logsTotalSeparately = groups.some((g) => hasMetric(g.runs, "task_loss") && hasMetric(g.runs, "loss"));
  const sources: PanelSource[] = [
    { panel: "task loss (task B)", keys: ["task_loss", "loss"] },
    { panel: "retention loss (anchor, task A)", keys: ["retention_loss"] },
  ];
  if (logsTotalSeparately) sources.push({ panel: "training objective", keys: ["loss"] });
  return panelFigure(groups, sources, {
    file: "loss.png",
    title: "Task and retention loss over training",
    subtitle: "training objective: task + λ·retention for CRaFT, the task loss for a baseline; baselines log no retention loss",
    yTitle: "loss",
    legendTitle,
    palette,
  });
}

/** Closed-loop success at each periodic evaluation (`craft train --eval_freq --env.type`); undefined when no run evaluated. */
export function evalSuccessFigure(groups: readonly RunGroup[], legendTitle: string, palette: Palette): FigureSpec | undefined {
  return panelFigure(groups, [{ panel: "success rate in the environment", keys: ["eval/success"] }], {
    file: "eval_success.png",
    title: "Closed-loop success during training",
    subtitle: "share of the evaluation episodes that succeeded, every eval_freq steps (eval/success)",
    yTitle: "success rate",
    legendTitle,
    palette,
  });
}

export function conflictFigure(groups: readonly RunGroup[], legendTitle: string, palette: Palette): FigureSpec | undefined {
  return panelFigure(
    groups,
    [
      { panel: "conflict rate", keys: ["conflict_rate"] },
      { panel: "cosine(task grad, retention grad)", keys: ["cosine"] },
    ],
    {
      file: "conflict_cosine.png",
      title: "Gradient conflict between task and retention",
      subtitle: "conflict rate: share of each log window's steps whose task and retention gradients conflict (dot < 0)",
      yTitle: "value",
      legendTitle,
      palette,
    },
  );
}

/** λ on the left axis (solid), ε on the right axis (dashed): the Lagrange multiplier and the retention budget. */
export function lambdaEpsilonFigure(groups: readonly RunGroup[], legendTitle: string, palette: Palette): FigureSpec | undefined {
  const allGroups = groups.map((g) => g.name);
  const rows: ChartRow[] = groups.flatMap((g) => [...rowsFor(g, "lambda", "lambda"), ...rowsFor(g, "epsilon", "epsilon")]);
  if (rows.length === 0) return undefined;
  const shown = allGroups.filter((g) => rows.some((r) => r.group === g));
  const color = colorEncoding(palette, shown, legendTitle);
  const x = { field: "step", type: "quantitative" as const, title: "training step" };
  const dashLabels = { lambda: "λ (solid, left axis)", epsilon: "ε (dashed, right axis)" };
  const present = (["lambda", "epsilon"] as const).filter((p) => rows.some((r) => r.panel === p));
  const strokeDashScale = {
    domain: present.map((p) => dashLabels[p]),
    range: present.map((p) => (p === "lambda" ? [1, 0] : [7, 4])),
  };
  const layer = present.map((panel) => ({
    transform: [{ filter: `datum.panel === '${panel}'` }],
    mark: { type: "line", strokeWidth: 2 },
    encoding: {
      x,
      y: {
        field: "value",
        type: "quantitative",
        title: panel === "lambda" ? "λ (Lagrange multiplier)" : "ε (retention budget)",
        axis: { orient: panel === "lambda" ? "left" : "right" },
        scale: { zero: panel === "lambda" },
      },
      color,
      strokeDash: { datum: dashLabels[panel], scale: strokeDashScale, title: "series" },
    },
  }));
  const title = "Constraint state: λ and ε over training";
  const subtitle = "λ grows while retention loss exceeds ε; ε anneals from epsilon_start to epsilon_end";
  const spec = {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: { text: title, subtitle },
    width: PANEL_WIDTH * 1.8,
    height: PANEL_HEIGHT * 1.2,
    data: { values: rows },
    layer,
    resolve: { scale: { y: "independent" } },
    config: baseConfig,
  } as TopLevelSpec;
  return { file: "lambda_epsilon.png", title, caption: subtitle, spec };
}

const NORM_SERIES: ReadonlyArray<{ key: MetricKey; label: string; dash: number[] }> = [
  { key: "task_grad_norm", label: "task, before surgery", dash: [1, 0] },
  { key: "task_grad_norm_after", label: "task, after surgery", dash: [7, 4] },
  { key: "retain_grad_norm", label: "retention", dash: [2, 3] },
  { key: "grad_norm", label: "merged, before clipping", dash: [10, 3, 2, 3] },
];

/** Per group, the task gradient's norm before and after projection next to the retention and merged norms. */
export function gradNormFigure(groups: readonly RunGroup[]): FigureSpec | undefined {
  const rows: ChartRow[] = [];
  for (const group of groups) {
    for (const s of NORM_SERIES) {
      for (const r of rowsFor({ name: s.label, runs: group.runs }, s.key, group.name)) rows.push({ ...r, lo: null, hi: null });
    }
  }
  if (rows.length === 0) return undefined;
  const panels = groups.map((g) => g.name).filter((p) => rows.some((r) => r.panel === p));
  const series = NORM_SERIES.filter((s) => rows.some((r) => r.group === s.label));
  const positive = rows.every((r) => r.value > 0);
  const values = rows.map((r) => r.value);
  const logScale = positive && Math.max(...values) / Math.min(...values) > 100;
  const title = "Gradient norms before and after surgery";
  const subtitle =
    "surgery projects the task gradient off the retention gradient when they conflict" +
    (groups.some((g) => g.runs.length > 1) ? "; lines: mean over seeds" : "") +
    (logScale ? "; log scale" : "");
  const spec = {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: { text: title, subtitle },
    data: { values: rows },
    facet: { field: "panel", type: "nominal", title: null, sort: panels },
    columns: 2,
    spec: {
      width: PANEL_WIDTH,
      height: PANEL_HEIGHT,
      mark: { type: "line", strokeWidth: 2 },
      encoding: {
        x: { field: "step", type: "quantitative", title: "training step" },
        y: {
          field: "value",
          type: "quantitative",
          title: "L2 norm",
          scale: logScale ? { type: "log" } : { zero: true },
        },
        color: {
          field: "group",
          type: "nominal",
          title: "gradient",
          sort: series.map((s) => s.label),
          scale: { domain: series.map((s) => s.label), range: series.map((_, i) => TABLEAU10[i]) },
        },
        strokeDash: {
          field: "group",
          type: "nominal",
          title: "gradient",
          sort: series.map((s) => s.label),
          scale: { domain: series.map((s) => s.label), range: series.map((s) => s.dash) },
        },
      },
    },
    resolve: { scale: { y: "independent" } },
    config: baseConfig,
  } as TopLevelSpec;
  return { file: "grad_norms.png", title, caption: subtitle, spec };
}

/** Bar per method: relative rise of the anchor loss over the base checkpoint, ± std over seeds. */
export function anchorRiseFigure(rows: readonly ComparisonRow[], palette: Palette): FigureSpec | undefined {
  const bars = rows.flatMap((r) =>
    r.anchorRise
      ? [
          {
            method: r.method,
            rise: r.anchorRise.mean,
            lo: r.anchorRise.mean - (r.anchorRise.std ?? 0),
            hi: r.anchorRise.mean + (r.anchorRise.std ?? 0),
            label: formatPercent(r.anchorRise.mean),
          },
        ]
      : [],
  );
  if (bars.length === 0) return undefined;
  const shown = bars.map((b) => b.method);
  const x = { field: "method", type: "nominal" as const, title: "method", sort: shown, axis: { labelAngle: 0 } };
  const seeds = Math.max(...rows.map((r) => r.seedCount));
  const title = "Anchor-loss rise over the base checkpoint";
  const subtitle = `(final − base) / base of the anchor (task-A) loss, mean ± std over ${seeds} seed${seeds === 1 ? "" : "s"}`;
  const spec = {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: { text: title, subtitle: [subtitle, "dashed line: +100% (anchor loss doubled)"] },
    width: Math.max(360, 130 * bars.length),
    height: 300,
    layer: [
      {
        data: { values: bars },
        mark: { type: "bar", width: { band: 0.6 } },
        encoding: {
          x,
          y: { field: "rise", type: "quantitative", title: "relative anchor-loss rise", axis: { format: "+.0%" } },
          color: {
            field: "method",
            type: "nominal",
            legend: null,
            scale: { domain: shown, range: shown.map((m) => colorOf(palette, m)) },
          },
        },
      },
      {
        data: { values: bars },
        mark: { type: "rule", strokeWidth: 1.5, color: "black" },
        encoding: { x, y: { field: "lo", type: "quantitative" }, y2: { field: "hi" } },
      },
      {
        data: { values: bars },
        mark: { type: "text", dy: -8, fontSize: 12, fontWeight: "bold" },
        encoding: { x, y: { field: "hi", type: "quantitative" }, text: { field: "label" } },
      },
      {
        data: { values: [{ y: 1 }] },
        mark: { type: "rule", strokeDash: [6, 4], color: "#888" },
        encoding: { y: { field: "y", type: "quantitative" } },
      },
      {
        data: { values: [{ y: 0 }] },
        mark: { type: "rule", color: "black" },
        encoding: { y: { field: "y", type: "quantitative" } },
      },
    ],
    config: baseConfig,
  } as TopLevelSpec;
  return { file: "anchor_rise.png", title, caption: subtitle, spec };
}

/** One run of a pair (a method, or a sweep point) placed in a Pareto plot; `family` is the method it varies. */
export interface PairRun {
  readonly run: string;
  readonly family: string;
  readonly result: MethodResult;
}

/** A pair's runs: its methods, then each sweep's points that are not a method's own run (those vary the sweep's method). */
export function pairRuns(pair: PairResult): PairRun[] {
  const runs: PairRun[] = Object.entries(pair.methods).map(([run, result]) => ({ run, family: run, result }));
  for (const points of Object.values(pair.sweeps ?? {})) {
    const family = points.find((p) => pair.methods[p.run] !== undefined)?.run ?? points[0]?.run ?? "sweep";
    for (const point of points) if (!runs.some((r) => r.run === point.run)) runs.push({ run: point.run, family, result: point });
  }
  return runs;
}

const PARETO_WIDTH = 460;
const PARETO_HEIGHT = 360;
/** Pixels per label line, and per character of a 10-pixel label (an over-estimate, so that boxes err apart). */
const LABEL_LINE = 12;
const LABEL_CHAR = 6;
/** Horizontal gap between a point and its label's text, in pixels. */
const LABEL_DX = 7;

const extent = (xs: readonly number[]): [number, number] => [Math.min(...xs), Math.max(...xs)];

export interface PlacedLabel {
  readonly x: number;
  readonly y: number;
  readonly label: string;
  /** Text runs right of its point (left-aligned) or, in the plot's right half, left of it. */
  readonly align: "left" | "right";
  /** Vertical offset of the text's baseline from its point, in pixels (negative: above). */
  readonly dy: number;
}

/**
 * Point labels of a scatter plot, placed so that none runs off the right edge or overprints
 * another: a label in the right half of the x domain reads leftwards from its point; labels sit
 * just above their point (below it in the top quarter, where the title is), and one whose box (in
 * pixels, estimated from its length) meets a label already placed moves a line further away, as
 * many lines as it takes. Higher points are placed first.
 */
export function placeLabels(labels: readonly { x: number; y: number; label: string }[], xDomain: readonly [number, number], yDomain: readonly [number, number]): PlacedLabel[] {
  const px = (v: number, [lo, hi]: readonly [number, number], size: number) => (hi > lo ? ((v - lo) / (hi - lo)) * size : size / 2);
  const boxes: { left: number; right: number; top: number; bottom: number }[] = [];
  const order = [...labels].sort((a, b) => b.y - a.y || a.x - b.x);
  return order.map((l) => {
    const x = px(l.x, xDomain, PARETO_WIDTH);
    const y = PARETO_HEIGHT - px(l.y, yDomain, PARETO_HEIGHT);
    const align = x > PARETO_WIDTH / 2 ? "right" : "left";
    const width = LABEL_CHAR * l.label.length;
    const [left, right] = align === "left" ? [x + LABEL_DX, x + LABEL_DX + width] : [x - LABEL_DX - width, x - LABEL_DX];
    const below = y < PARETO_HEIGHT / 4;
    const dyAt = (row: number) => (below ? 16 + LABEL_LINE * row : -6 - LABEL_LINE * row);
    const boxAt = (row: number) => ({ left, right, top: y + dyAt(row) - LABEL_LINE + 2, bottom: y + dyAt(row) + 2 });
    const meets = (a: ReturnType<typeof boxAt>) => boxes.some((b) => a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom);
    let row = 0;
    while (meets(boxAt(row))) row += 1;
    boxes.push(boxAt(row));
    return { ...l, align, dy: dyAt(row) };
  });
}

/** Placed labels grouped by alignment and offset: one text layer each (a text mark's align and dy are per layer). */
const labelLayers = (labels: readonly PlacedLabel[]) => {
  const groups = new Map<string, { align: "left" | "right"; dy: number; values: PlacedLabel[] }>();
  for (const l of labels) {
    const key = `${l.align} ${l.dy}`;
    groups.set(key, { align: l.align, dy: l.dy, values: [...(groups.get(key)?.values ?? []), l] });
  }
  return [...groups.values()];
};

const PARETO_AXES = {
  success: {
    x: "anchor_success",
    y: "task_success",
    xTitle: "task A success (kept skill)",
    yTitle: "task B success (new skill)",
    better: "up and right",
    sign: 1,
  },
  loss: {
    x: "anchor_loss_final",
    y: "task_loss_final",
    xTitle: "task A loss (anchor set)",
    yTitle: "task B loss (held out)",
    better: "down and left",
    sign: -1,
  },
} as const;

/**
 * A success against B success (or A loss against B loss) of every run of a pair, one point per
 * run at its mean over seeds (per-seed points faint), coloured by the method it varies, with
 * replay's Pareto front drawn through the replay-weight sweep.
 */
export function paretoFigure(pairName: string, pair: PairResult, kind: keyof typeof PARETO_AXES, palette: Palette): FigureSpec | undefined {
  const axes = PARETO_AXES[kind];
  const finiteNumber = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);
  const runs = pairRuns(pair);
  const means = runs.flatMap((r) => {
    const x = r.result.mean?.[axes.x];
    const y = r.result.mean?.[axes.y];
    return finiteNumber(x) && finiteNumber(y) ? [{ run: r.run, family: r.family, x, y }] : [];
  });
  if (means.length === 0) return undefined;
  const seeds = runs.flatMap((r) =>
    (r.result.seeds ?? []).flatMap((s) => (finiteNumber(s[axes.x]) && finiteNumber(s[axes.y]) ? [{ run: r.run, family: r.family, x: s[axes.x] as number, y: s[axes.y] as number }] : [])),
  );
  const front = paretoFront(means.filter((p) => p.family === "replay").map((p) => ({ ...p, x: axes.sign * p.x, y: axes.sign * p.y }))).map((p) => ({
    ...p,
    x: axes.sign * p.x,
    y: axes.sign * p.y,
  })).sort((a, b) => a.x - b.x);
  // Runs at the same point (all at 0% success, say) share one label instead of overprinting theirs.
  const atPoint = new Map<string, typeof means>();
  for (const p of means) atPoint.set(`${p.x} ${p.y}`, [...(atPoint.get(`${p.x} ${p.y}`) ?? []), p]);
  const labels = placeLabels(
    [...atPoint.values()].map((at) => ({
      x: at[0]!.x,
      y: at[0]!.y,
      label: at.length <= 2 ? at.map((p) => p.run).join(", ") : `${at[0]!.run} and ${at.length - 1} more runs`,
    })),
    kind === "success" ? [-0.05, 1.05] : extent(means.map((p) => p.x)),
    kind === "success" ? [-0.05, 1.05] : extent(means.map((p) => p.y)),
  );
  const shown = palette.filter((m) => means.some((p) => p.family === m)).concat([...new Set(means.map((p) => p.family))].filter((f) => !palette.includes(f)));
  const color = colorEncoding(palette, shown, "method", "family");
  const scale = kind === "success" ? { domain: [-0.05, 1.05], nice: false } : { zero: false };
  const x = { field: "x", type: "quantitative" as const, title: axes.xTitle, scale };
  const y = { field: "y", type: "quantitative" as const, title: axes.yTitle, scale };
  const base = (pair.methods.naive ?? Object.values(pair.methods)[0])?.mean;
  const baseSuccess = kind === "success" && finiteNumber(base?.anchor_success_base) && finiteNumber(base?.task_success_base) ? [{ x: base!.anchor_success_base, y: base!.task_success_base, run: "base" }] : [];
  const seedCount = Math.max(...runs.map((r) => r.result.seeds?.length ?? 0));
  const title = `${pairName}: ${kind === "success" ? "closed-loop success" : "loss"}, task A against task B`;
  const subtitle = [
    `one point per run (mean over ${seedCount} seed${seedCount === 1 ? "" : "s"}${seedCount > 1 ? "; faint: each seed" : ""}); better is ${axes.better}`,
    // The front is a line only when the replay-weight sweep ran (a run restricted by --runs may lack it).
    [front.length > 1 ? "dashed: replay's Pareto front over its weight sweep" : "", baseSuccess.length > 0 ? "black cross: the base before fine-tuning" : ""].filter((part) => part !== "").join("; "),
  ].filter((line) => line !== "");
  const layer: unknown[] = [
    ...(seedCount > 1 ? [{ data: { values: seeds }, mark: { type: "point", filled: true, opacity: 0.3, size: 30 }, encoding: { x, y, color } }] : []),
    ...(front.length > 1
      ? [{ data: { values: front }, mark: { type: "line", strokeDash: [6, 4], strokeWidth: 2, color: colorOf(palette, "replay") }, encoding: { x, y, order: { field: "x", type: "quantitative" } } }]
      : []),
    { data: { values: means }, mark: { type: "point", filled: true, size: 110, opacity: 0.9 }, encoding: { x, y, color } },
    ...labelLayers(labels).map(({ align, dy, values }) => ({
      data: { values },
      mark: { type: "text", align, dx: align === "left" ? LABEL_DX : -LABEL_DX, dy, fontSize: 10 },
      encoding: { x, y, text: { field: "label" } },
    })),
    ...(baseSuccess.length > 0 ? [{ data: { values: baseSuccess }, mark: { type: "point", shape: "cross", size: 160, color: "black", filled: true }, encoding: { x, y } }] : []),
  ];
  const spec = {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: { text: title, subtitle },
    width: PARETO_WIDTH,
    height: PARETO_HEIGHT,
    layer,
    config: baseConfig,
  } as TopLevelSpec;
  return { file: `pareto_${kind}_${pairName}.png`, title, caption: subtitle.join("; "), spec };
}
