import { readFile } from "node:fs/promises";
import { ReportError } from "./errors";

/** Keys the trainer writes to metrics.jsonl every `log_freq` steps (DESIGN §5); any may be absent. */
export const METRIC_KEYS = [
  "loss",
  "task_loss",
  "retention_loss",
  "lambda",
  "epsilon",
  "violation",
  "grad_norm",
  "task_grad_norm",
  "task_grad_norm_after",
  "retain_grad_norm",
  "cosine",
  "conflict_rate",
  "lr",
  "step_time_s",
  "samples_per_s",
  "nonfinite_skipped",
  // Periodic closed-loop evaluation (craft train --eval_freq --env.type): a line of its own after the step's.
  "eval/success",
  "eval/pc_success",
  "eval/avg_sum_reward",
  "eval/invalid_decodes",
] as const;

export type MetricKey = (typeof METRIC_KEYS)[number];

export interface MetricsPoint {
  readonly step: number;
  readonly values: Partial<Record<MetricKey, number>>;
}

/** One training run's logged metrics, labelled for legends (a method, a seed, or the run itself). */
export interface RunLog {
  readonly label: string;
  readonly path: string;
  readonly points: readonly MetricsPoint[];
}

const NON_FINITE_SPELLINGS = new Set(["nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"]);

function describeValue(value: unknown): string {
  return typeof value === "object" ? JSON.stringify(value) : `${typeof value} ${String(value)}`;
}

/**
 * A metric value, or undefined when the step logged none (null) or a non-finite one
 * (the trainer skips such steps; JSON cannot spell NaN, so writers use null or "NaN").
 */
function metricValue(raw: unknown, path: string, line: number, field: string): number | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw === "number") return Number.isFinite(raw) ? raw : undefined;
  if (typeof raw === "string" && NON_FINITE_SPELLINGS.has(raw.trim().toLowerCase())) return undefined;
  throw new ReportError({
    _tag: "InvalidField",
    path,
    line,
    field,
    expected: "a number, null or \"NaN\"",
    actual: describeValue(raw),
  });
}

/** Parses metrics.jsonl text; a torn last line (the trainer was still writing it) is dropped. */
export function parseMetricsLog(text: string, path: string): MetricsPoint[] {
  const lines = text.split("\n");
  const points: MetricsPoint[] = [];
  lines.forEach((rawLine, index) => {
    const line = rawLine.trim();
    if (line === "") return;
    const lineNumber = index + 1;
    const isUnterminatedLast = index === lines.length - 1 && !text.endsWith("\n");
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch (err) {
      if (isUnterminatedLast) return;
      throw new ReportError({ _tag: "InvalidJson", path, line: lineNumber, reason: (err as Error).message });
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
      throw new ReportError({
        _tag: "InvalidField",
        path,
        line: lineNumber,
        field: "(line)",
        expected: "a JSON object",
        actual: describeValue(parsed),
      });
    }
    const record = parsed as Record<string, unknown>;
    const step = metricValue(record.step, path, lineNumber, "step") ?? points.length;
    const values: Partial<Record<MetricKey, number>> = {};
    for (const key of METRIC_KEYS) {
      const value = metricValue(record[key], path, lineNumber, key);
      if (value !== undefined) values[key] = value;
    }
    // An evaluation line completes the training line of its step: one point, not a repeated step.
    const previous = points[points.length - 1];
    const isEvaluation = Object.keys(record).some((k) => k.startsWith("eval/")) && !Object.keys(record).some((k) => k !== "step" && !k.startsWith("eval/"));
    if (isEvaluation && previous !== undefined && previous.step === step && Object.keys(values).every((k) => !(k in previous.values))) {
      points[points.length - 1] = { step, values: { ...previous.values, ...values } };
      return;
    }
    points.push({ step, values });
  });
  return points;
}

/**
 * One line when the log's steps do not strictly increase: a resumed run keeps them increasing,
 * so repeats mean two runs wrote into one output_dir (or the file was edited).
 */
export function stepOrderWarning(points: readonly MetricsPoint[], path: string): string | undefined {
  let highest = -Infinity;
  let first: { index: number; step: number; after: number } | undefined;
  let count = 0;
  points.forEach((p, index) => {
    if (p.step <= highest) {
      count++;
      first ??= { index, step: p.step, after: highest };
    }
    highest = Math.max(highest, p.step);
  });
  if (first === undefined) return undefined;
  return (
    `warning: ${path}: ${count} of ${points.length} entries repeat or go back in steps (first: entry ${first.index + 1}, step ${first.step} after step ${first.after}); ` +
    `two runs may have written into one output_dir; the figures show the entries in file order`
  );
}

export async function readMetricsLog(path: string, label: string): Promise<RunLog> {
  const text = await readFile(path, "utf8");
  const points = parseMetricsLog(text, path);
  if (points.length === 0) throw new ReportError({ _tag: "EmptyMetrics", path });
  const warning = stepOrderWarning(points, path);
  if (warning !== undefined) console.error(warning);
  return { label, path, points };
}

/** Whether any point of any run logged `key`. */
export function hasMetric(runs: readonly RunLog[], key: MetricKey): boolean {
  return runs.some((run) => run.points.some((p) => p.values[key] !== undefined));
}

/**
 * Seconds the run's logged training steps took: each line's mean step time times the steps since
 * the line before (eval lines carry none). Read from the log, it is the same on every re-run.
 */
export function loggedTrainingSeconds(log: RunLog): number {
  let total = 0;
  let previous = 0;
  for (const point of log.points) {
    const stepTime = point.values.step_time_s;
    if (stepTime === undefined) continue;
    total += stepTime * (point.step - previous);
    previous = point.step;
  }
  return total;
}
