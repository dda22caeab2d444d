import { promises as fs } from "node:fs";
import * as path from "node:path";
import { TrainerError } from "./errors.js";

/** One line of metrics.jsonl. CRaFT-only fields are null in a baseline run. */
export interface TrainMetrics {
  /** Steps completed. */
  readonly step: number;
  /** task_loss + λ·retention_loss (CRaFT's Lagrangian), the task loss in a baseline run; mean over the window. */
  readonly loss: number | null;
  readonly task_loss: number | null;
  readonly retention_loss: number | null;
  readonly lambda: number | null;
  readonly epsilon: number | null;
  /** retention_loss − ε (positive: the constraint is violated). */
  readonly violation: number | null;
  /** Norm of the merged gradient before clipping. */
  readonly grad_norm: number | null;
  readonly task_grad_norm: number | null;
  /** Task gradient norm after surgery. */
  readonly task_grad_norm_after: number | null;
  readonly retain_grad_norm: number | null;
  readonly cosine: number | null;
  /** Fraction of the window's steps whose task and retention gradients conflicted (dot < 0). */
  readonly conflict_rate: number | null;
  readonly lr: number;
  readonly step_time_s: number;
  readonly samples_per_s: number;
  /** Non-finite steps skipped since the start of the run. */
  readonly nonfinite_skipped: number;
}

export const METRIC_KEYS: readonly (keyof TrainMetrics)[] = [
  "step", "loss", "task_loss", "retention_loss", "lambda", "epsilon", "violation", "grad_norm",
  "task_grad_norm", "task_grad_norm_after", "retain_grad_norm", "cosine", "conflict_rate", "lr",
  "step_time_s", "samples_per_s", "nonfinite_skipped",
];

/** What one completed (not skipped) step contributes to the window. */
export interface StepRecord {
  readonly loss: number;
  readonly taskLoss: number;
  readonly gradNorm: number;
  readonly taskGradNorm: number;
  readonly craft?: {
    readonly retentionLoss: number;
    readonly lambda: number;
    readonly epsilon: number;
    readonly violation: number;
    readonly taskGradNormAfter: number;
    readonly retainGradNorm: number;
    readonly cosine: number;
    readonly conflict: boolean;
  };
}

type Sums = { n: number; loss: number; taskLoss: number; gradNorm: number; taskGradNorm: number };
type CraftSums = { n: number; retentionLoss: number; taskAfter: number; retain: number; cosine: number; conflicts: number };

/** Averages a log window of steps (losses and norms: means; λ, ε, violation, lr: latest). */
export class MetricsWindow {
  private sums: Sums = { n: 0, loss: 0, taskLoss: 0, gradNorm: 0, taskGradNorm: 0 };
  private craftSums: CraftSums = { n: 0, retentionLoss: 0, taskAfter: 0, retain: 0, cosine: 0, conflicts: 0 };
  private latestCraft: StepRecord["craft"] | undefined;
  private steps = 0;
  private seconds = 0;
  private samples = 0;

  addStep(seconds: number, samples: number, record: StepRecord | undefined): void {
    this.steps += 1;
    this.seconds += seconds;
    this.samples += samples;
    if (record === undefined) return;
    const s = this.sums;
    s.n += 1;
    s.loss += record.loss;
    s.taskLoss += record.taskLoss;
    s.gradNorm += record.gradNorm;
    s.taskGradNorm += record.taskGradNorm;
    if (record.craft !== undefined) {
      const c = this.craftSums;
      c.n += 1;
      c.retentionLoss += record.craft.retentionLoss;
      c.taskAfter += record.craft.taskGradNormAfter;
      c.retain += record.craft.retainGradNorm;
      c.cosine += record.craft.cosine;
      c.conflicts += record.craft.conflict ? 1 : 0;
      this.latestCraft = record.craft;
    }
  }

  /** The window's metrics; resets the window. */
  flush(step: number, lr: number, nonfiniteSkipped: number): TrainMetrics {
    const s = this.sums;
    const c = this.craftSums;
    const mean = (x: number, n: number): number | null => (n > 0 ? x / n : null);
    const latest = this.latestCraft;
    const metrics: TrainMetrics = {
      step,
      loss: mean(s.loss, s.n),
      task_loss: mean(s.taskLoss, s.n),
      retention_loss: mean(c.retentionLoss, c.n),
      lambda: latest?.lambda ?? null,
      epsilon: latest?.epsilon ?? null,
      violation: latest?.violation ?? null,
      grad_norm: mean(s.gradNorm, s.n),
      task_grad_norm: mean(s.taskGradNorm, s.n),
      task_grad_norm_after: mean(c.taskAfter, c.n),
      retain_grad_norm: mean(c.retain, c.n),
      cosine: mean(c.cosine, c.n),
      conflict_rate: mean(c.conflicts, c.n),
      lr,
      step_time_s: this.steps > 0 ? this.seconds / this.steps : 0,
      samples_per_s: this.seconds > 0 ? this.samples / this.seconds : 0,
      nonfinite_skipped: nonfiniteSkipped,
    };
    this.sums = { n: 0, loss: 0, taskLoss: 0, gradNorm: 0, taskGradNorm: 0 };
    this.craftSums = { n: 0, retentionLoss: 0, taskAfter: 0, retain: 0, cosine: 0, conflicts: 0 };
    this.steps = 0;
    this.seconds = 0;
    this.samples = 0;
    return metrics;
  }
}

export const METRICS_FILE = "metrics.jsonl";
/** Lines a resumed run logs again (logged after the checkpoint it resumes from), kept rather than deleted. */
export const SUPERSEDED_METRICS_FILE = "metrics.superseded.jsonl";

const isNonEmptyFile = async (file: string): Promise<boolean> => {
  try {
    return (await fs.stat(file)).size > 0;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw error;
  }
};

/**
 * Appends one JSON object per line, and never drops a line. A new run refuses a non-empty file
 * (it belongs to an earlier run). On resume, lines past the checkpoint's step (logged by the
 * killed run after its last checkpoint, and about to be logged again) move to
 * metrics.superseded.jsonl, so metrics.jsonl reads as one uninterrupted run.
 */
export class MetricsFile {
  private constructor(private readonly file: string) {}

  static async open(outputDir: string, keepUpToStep: number | undefined): Promise<MetricsFile> {
    await fs.mkdir(outputDir, { recursive: true });
    const file = path.join(outputDir, METRICS_FILE);
    if (keepUpToStep === undefined) {
      if (await isNonEmptyFile(file)) {
        throw new TrainerError("OutputDirInUse", {
          file,
          field: "resume",
          expected: "true to continue the earlier run's log, or a new output_dir",
          actual: "false",
          message: `${file} holds the metrics of an earlier run: pass resume=true to continue its log, or choose a new output_dir`,
        });
      }
      await fs.writeFile(file, "");
      return new MetricsFile(file);
    }
    let text = "";
    try {
      text = await fs.readFile(file, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
    const kept: string[] = [];
    const superseded: string[] = [];
    for (const line of text.split("\n")) {
      if (line.trim() === "") continue;
      let step: unknown;
      try {
        step = (JSON.parse(line) as { step?: unknown }).step;
      } catch {
        step = undefined; // a line torn by the kill
      }
      (typeof step === "number" && step <= keepUpToStep ? kept : superseded).push(line + "\n");
    }
    if (superseded.length > 0) {
      // Superseded lines are saved first and metrics.jsonl replaced by rename: a crash in between duplicates, never loses.
      await fs.appendFile(path.join(outputDir, SUPERSEDED_METRICS_FILE), superseded.join(""));
      const tmp = `${file}.tmp-${process.pid}`;
      await fs.writeFile(tmp, kept.join(""));
      await fs.rename(tmp, file);
    } else if (!text.endsWith("\n") && text !== "") {
      await fs.appendFile(file, "\n");
    }
    return new MetricsFile(file);
  }

  /** A training record, or any other record of a step (a periodic evaluation's `eval/*` values). */
  async append(metrics: { readonly step: number }): Promise<void> {
    try {
      await fs.appendFile(this.file, JSON.stringify(metrics) + "\n");
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw new Error(`cannot append step ${metrics.step} to ${this.file}: ${(error as Error).message}${code ? ` (${code})` : ""}`);
    }
  }
}

const fmt = (x: number | null, digits = 4): string => (x === null ? "-" : Number(x.toPrecision(digits)).toString());

export const formatMetrics = (m: TrainMetrics, totalSteps: number): string => {
  const parts = [`step ${m.step}/${totalSteps}`, `loss ${fmt(m.loss)}`];
  if (m.retention_loss !== null) {
    parts.push(`task ${fmt(m.task_loss)}`, `retain ${fmt(m.retention_loss)}`, `λ ${fmt(m.lambda)}`, `ε ${fmt(m.epsilon)}`);
    parts.push(`cos ${fmt(m.cosine, 3)}`, `conflict ${fmt(m.conflict_rate, 3)}`);
  }
  parts.push(`|g| ${fmt(m.grad_norm)}`, `lr ${m.lr.toExponential(2)}`, `${fmt(m.samples_per_s, 3)} samples/s`);
  if (m.nonfinite_skipped > 0) parts.push(`skipped ${m.nonfinite_skipped}`);
  return parts.join("  ");
};

/** A single redrawn line on a TTY, plain lines otherwise (log files, CI). */
export class ProgressDisplay {
  private drawn = false;
  constructor(
    private readonly stream: NodeJS.WritableStream & { isTTY?: boolean },
    private readonly totalSteps: number,
  ) {}

  update(m: TrainMetrics): void {
    const line = formatMetrics(m, this.totalSteps);
    if (this.stream.isTTY === true) {
      const bar = progressBar(m.step / this.totalSteps, 20);
      this.stream.write(`\r\x1b[2K${bar} ${line}`);
      this.drawn = true;
    } else {
      this.stream.write(line + "\n");
    }
  }

  /** Prints a message on its own line (warnings), keeping the progress line intact on a TTY. */
  message(text: string): void {
    if (this.drawn) this.stream.write("\n");
    this.drawn = false;
    this.stream.write(text + "\n");
  }

  end(): void {
    if (this.drawn) this.stream.write("\n");
    this.drawn = false;
  }
}

const progressBar = (fraction: number, width: number): string => {
  const filled = Math.round(Math.max(0, Math.min(1, fraction)) * width);
  return `[${"#".repeat(filled)}${".".repeat(width - filled)}]`;
};
