import { lstat, readFile, readdir, readlink, stat } from "node:fs/promises";
import { basename, isAbsolute, join, resolve } from "node:path";
import { ReportError } from "./errors";
import type { RunGroup } from "./figures";
import { readMetricsLog, type RunLog } from "./metricsLog";
import { orderMethods } from "./comparison";
import { readSummary, type ExperimentSummary } from "./summary";

export const RUN_METRICS_FILE = "metrics.jsonl";
export const RUN_CONFIG_FILE = "train_config.json";
export const EXPERIMENT_SUMMARY_FILE = "summary.json";

export interface CheckpointEntry {
  readonly name: string;
  /** Where a link such as `last` points. */
  readonly linkTarget?: string;
  /** Size of pretrained_model/model.safetensors when present. */
  readonly modelBytes?: number;
}

export interface ConfigText {
  readonly path: string;
  /** Pretty-printed JSON, or the raw text when it does not parse. */
  readonly text: string;
  readonly parses: boolean;
}

export interface RunSource {
  readonly kind: "run";
  readonly dir: string;
  readonly log: RunLog;
  readonly config: ConfigText | undefined;
  readonly checkpoints: readonly CheckpointEntry[] | undefined;
}

export interface ExperimentSource {
  readonly kind: "experiment";
  readonly dir: string;
  readonly summary: ExperimentSummary;
  readonly groups: readonly RunGroup[];
  /** Per-seed runs listed in the summary whose metrics.jsonl was not found. */
  readonly missingRuns: readonly string[];
}

export type ReportSource = RunSource | ExperimentSource;

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

async function readConfig(path: string): Promise<ConfigText | undefined> {
  if (!(await exists(path))) return undefined;
  const raw = await readFile(path, "utf8");
  try {
    return { path, text: JSON.stringify(JSON.parse(raw), null, 2), parses: true };
  } catch {
    return { path, text: raw, parses: false };
  }
}

async function listCheckpoints(dir: string): Promise<CheckpointEntry[] | undefined> {
  if (!(await exists(dir))) return undefined;
  const names = (await readdir(dir)).sort();
  return Promise.all(
    names.map(async (name): Promise<CheckpointEntry> => {
      const path = join(dir, name);
      const info = await lstat(path);
      const linkTarget = info.isSymbolicLink() ? await readlink(path) : undefined;
      try {
        const model = await stat(join(path, "pretrained_model", "model.safetensors"));
        return { name, linkTarget, modelBytes: model.size };
      } catch {
        return { name, linkTarget };
      }
    }),
  );
}

async function loadRun(dir: string): Promise<RunSource> {
  return {
    kind: "run",
    dir,
    log: await readMetricsLog(join(dir, RUN_METRICS_FILE), basename(dir)),
    config: await readConfig(join(dir, RUN_CONFIG_FILE)),
    checkpoints: await listCheckpoints(join(dir, "checkpoints")),
  };
}

/** The summary's run_dir (absolute, or relative to the experiment), else runs/<method>/seed-<seed>. */
async function seedMetricsPath(dir: string, method: string, seed: number, runDir: string | null | undefined) {
  const candidates: string[] = [];
  if (runDir) candidates.push(join(isAbsolute(runDir) ? runDir : join(dir, runDir), RUN_METRICS_FILE));
  candidates.push(join(dir, "runs", method, `seed-${seed}`, RUN_METRICS_FILE));
  for (const candidate of candidates) if (await exists(candidate)) return { found: candidate, tried: candidates };
  return { found: undefined, tried: candidates };
}

async function loadExperiment(dir: string): Promise<ExperimentSource> {
  const summary = await readSummary(join(dir, EXPERIMENT_SUMMARY_FILE));
  const groups: RunGroup[] = [];
  const missingRuns: string[] = [];
  for (const method of orderMethods(Object.keys(summary.methods))) {
    const runs: RunLog[] = [];
    for (const seed of summary.methods[method].seeds ?? []) {
      const { found, tried } = await seedMetricsPath(dir, method, seed.seed, seed.run_dir);
      if (found) runs.push(await readMetricsLog(found, `${method} seed ${seed.seed}`));
      else missingRuns.push(`${method} seed ${seed.seed}: no ${RUN_METRICS_FILE} at ${tried.join(" or ")}`);
    }
    if (runs.length > 0) groups.push({ name: method, runs });
  }
  return { kind: "experiment", dir, summary, groups, missingRuns };
}

/** An experiment directory has summary.json; a training run has metrics.jsonl. */
export async function loadReportSource(outputDir: string): Promise<ReportSource> {
  const dir = resolve(outputDir);
  let isDir = false;
  try {
    isDir = (await stat(dir)).isDirectory();
  } catch {
    isDir = false;
  }
  if (!isDir) throw new ReportError({ _tag: "NotADirectory", path: dir });
  if (await exists(join(dir, EXPERIMENT_SUMMARY_FILE))) return loadExperiment(dir);
  if (await exists(join(dir, RUN_METRICS_FILE))) return loadRun(dir);
  throw new ReportError({
    _tag: "UnknownDirectoryKind",
    path: dir,
    expected: [`${RUN_METRICS_FILE} (a training run)`, `${EXPERIMENT_SUMMARY_FILE} (an experiment)`],
  });
}
