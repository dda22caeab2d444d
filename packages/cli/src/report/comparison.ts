import { meanAndStd } from "./series";
import { SUMMARY_KEYS, type ExperimentSummary, type MethodResult, type SummaryKey } from "./summary";

export interface Stat {
  readonly mean: number;
  /** Undefined when the summary gives a mean but no spread. */
  readonly std: number | undefined;
}

export interface ComparisonRow {
  readonly method: string;
  readonly seedCount: number;
  readonly stats: Partial<Record<SummaryKey, Stat>>;
  /** (anchor_loss_final − anchor_loss_base) / anchor_loss_base, over seeds. */
  readonly anchorRise: Stat | undefined;
}

export interface ExpectationRow {
  readonly name: string;
  readonly passed: boolean;
  readonly detail: string;
}

export interface ExpectationCheck {
  /** "summary" when summary.json carries the experiment's own verdicts, "report" when derived here. */
  readonly source: "summary" | "report";
  readonly rows: readonly ExpectationRow[];
}

const METHOD_ORDER = ["naive", "replay", "craft_no_surgery", "craft"];

/** Known methods in the order of the issue's narrative (baseline first), then any others by name. */
export function orderMethods(methods: readonly string[]): string[] {
  const rank = (m: string) => {
    const i = METHOD_ORDER.indexOf(m);
    return i === -1 ? METHOD_ORDER.length : i;
  };
  return [...methods].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

const finite = (v: number | null | undefined): v is number => typeof v === "number" && Number.isFinite(v);

function statFor(result: MethodResult, key: SummaryKey): Stat | undefined {
  const mean = result.mean?.[key];
  const std = result.std?.[key];
  if (finite(mean)) return { mean, std: finite(std) ? std : undefined };
  const perSeed = (result.seeds ?? []).map((s) => s[key]).filter(finite);
  return meanAndStd(perSeed);
}

function anchorRiseFor(result: MethodResult): Stat | undefined {
  const perSeed = (result.seeds ?? []).flatMap((s) =>
    finite(s.anchor_loss_base) && finite(s.anchor_loss_final) && s.anchor_loss_base !== 0
      ? [(s.anchor_loss_final - s.anchor_loss_base) / s.anchor_loss_base]
      : [],
  );
  const fromSeeds = meanAndStd(perSeed);
  if (fromSeeds) return fromSeeds;
  const base = result.mean?.anchor_loss_base;
  const final = result.mean?.anchor_loss_final;
  return finite(base) && finite(final) && base !== 0 ? { mean: (final - base) / base, std: undefined } : undefined;
}

export function comparisonRows(summary: ExperimentSummary): ComparisonRow[] {
  return orderMethods(Object.keys(summary.methods)).map((method) => {
    const result = summary.methods[method];
    const stats: Partial<Record<SummaryKey, Stat>> = {};
    for (const key of SUMMARY_KEYS) {
      const stat = statFor(result, key);
      if (stat) stats[key] = stat;
    }
    return { method, seedCount: result.seeds?.length ?? 0, stats, anchorRise: anchorRiseFor(result) };
  });
}

/** Fixed-width rendering used everywhere in the report: 4 significant digits, exponent outside [1e-3, 1e4). */
export function formatNumber(value: number): string {
  if (value === 0) return "0";
  const magnitude = Math.abs(value);
  return magnitude >= 1e4 || magnitude < 1e-3 ? value.toExponential(3) : value.toPrecision(4);
}

export function formatPercent(fraction: number): string {
  const pct = fraction * 100;
  return `${pct >= 0 ? "+" : "−"}${Math.abs(pct).toFixed(1)}%`;
}

export function formatStat(stat: Stat | undefined, format: (v: number) => string = formatNumber): string {
  if (!stat) return "–";
  return stat.std === undefined ? format(stat.mean) : `${format(stat.mean)} ± ${formatNumber(stat.std)}`;
}

/** A relative rise as a signed percentage, its spread in percentage points: "+112.0% ± 8.0%". */
export function formatRise(stat: Stat | undefined): string {
  if (!stat) return "–";
  const mean = formatPercent(stat.mean);
  return stat.std === undefined ? mean : `${mean} ± ${(stat.std * 100).toFixed(1)}%`;
}

function measuredText(measured: number | null | undefined, threshold: number | undefined): string {
  if (measured === undefined) return "";
  return `measured ${measured === null ? "undefined" : formatNumber(measured)}${threshold === undefined ? "" : ` (threshold ${formatNumber(threshold)})`}`;
}

function detailText(detail: unknown): string {
  if (detail === undefined || detail === null) return "";
  return typeof detail === "string" ? detail : JSON.stringify(detail);
}

/**
 * The experiment's verdicts when summary.json has them; otherwise the three expectations of
 * issue 6 checked on the table's means (naive ≥ 2× base anchor loss; CRaFT's final anchor loss
 * ≤ 1.1 ε_end; CRaFT's task loss ≤ 1.25× naive's), each only when its numbers are present.
 */
export function expectationCheck(summary: ExperimentSummary, rows: readonly ComparisonRow[]): ExpectationCheck {
  if (summary.expectations) {
    return {
      source: "summary",
      rows: summary.expectations.map((e) => ({
        name: e.pair === undefined ? e.name : `${e.pair}: ${e.name}`,
        passed: e.passed,
        detail: [measuredText(e.measured, e.threshold), detailText(e.detail)].filter((t) => t !== "").join("; "),
      })),
    };
  }
  const row = (method: string) => rows.find((r) => r.method === method);
  const naive = row("naive");
  const craft = row("craft");
  const derived: ExpectationRow[] = [];
  const naiveBase = naive?.stats.anchor_loss_base?.mean;
  const naiveFinal = naive?.stats.anchor_loss_final?.mean;
  if (naiveBase !== undefined && naiveFinal !== undefined) {
    derived.push({
      name: "naive fine-tuning at least doubles the anchor loss",
      passed: naiveFinal >= 2 * naiveBase,
      detail: `anchor loss ${formatNumber(naiveBase)} → ${formatNumber(naiveFinal)} (×${formatNumber(naiveFinal / naiveBase)})`,
    });
  }
  const craftFinal = craft?.stats.anchor_loss_final?.mean;
  const craftEpsilon = craft?.stats.epsilon_end?.mean;
  if (craftFinal !== undefined && craftEpsilon !== undefined) {
    derived.push({
      name: "CRaFT keeps the final anchor loss within 10% of ε_end (or below it)",
      passed: craftFinal <= 1.1 * craftEpsilon,
      detail: `anchor loss ${formatNumber(craftFinal)} vs ε_end ${formatNumber(craftEpsilon)} (limit ${formatNumber(1.1 * craftEpsilon)})`,
    });
  }
  const craftTask = craft?.stats.task_loss_final?.mean;
  const naiveTask = naive?.stats.task_loss_final?.mean;
  if (craftTask !== undefined && naiveTask !== undefined) {
    derived.push({
      name: "CRaFT's task-B loss is within 25% of naive's",
      passed: craftTask <= 1.25 * naiveTask,
      detail: `task loss ${formatNumber(craftTask)} vs naive ${formatNumber(naiveTask)} (limit ${formatNumber(1.25 * naiveTask)})`,
    });
  }
  return { source: "report", rows: derived };
}
