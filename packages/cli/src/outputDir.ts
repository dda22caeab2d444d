import { existsSync, linkSync, mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join, resolve } from "node:path";
import * as E from "fp-ts/lib/Either.js";
import * as t from "io-ts";
import { METRICS_FILE, readLastCheckpointSummary, SUPERSEDED_METRICS_FILE, type CheckpointSummary } from "@craft/trainer";
import { ConfigError } from "./errors.js";
import type { RunConfig } from "./runConfig.js";

/**
 * One run per output directory. The lock file is created atomically (a complete temporary file
 * hard-linked to the lock name: `link` fails when the name exists, and the holder is never read
 * half-written), holds who took it, and is removed when the run ends, also on an error or a
 * SIGINT/SIGTERM. A lock whose process is gone (same host, dead pid) is taken over with a notice.
 */
export const LOCK_FILE = ".craft.lock";
const TRAIN_CONFIG_FILE = "train_config.json";

const LockHolderCodec = t.type({ host: t.string, pid: t.number, started_at: t.string, command: t.string });
type LockHolder = t.TypeOf<typeof LockHolderCodec>;

export interface OutputDirLock {
  readonly file: string;
  /** Removes the lock (if still ours), and the directory if this run created it and left it empty. */
  release(): void;
}

const describeHolder = (h: LockHolder): string => `${h.command} (pid ${h.pid} on host ${h.host}, started ${h.started_at})`;

/** Whether `pid` on this host is a live process (EPERM: alive, owned by someone else). */
const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
};

/** Creates `file` holding `text`, atomically; false when it already exists. */
const createExclusive = (file: string, text: string): boolean => {
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}`;
  writeFileSync(tmp, text, { flag: "wx" });
  try {
    linkSync(tmp, file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw error;
  } finally {
    unlinkSync(tmp);
  }
};

/** The holder recorded in a lock file; undefined when the file has gone meanwhile. */
const readHolder = (file: string): LockHolder | undefined => {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = text;
  }
  const decoded = LockHolderCodec.decode(parsed);
  if (E.isLeft(decoded)) {
    throw new ConfigError([`${file}: expected a craft lock {host, pid, started_at, command}, got ${JSON.stringify(text.slice(0, 80))}; remove it if no run uses this output_dir`]);
  }
  return decoded.right;
};

const sameHolder = (a: LockHolder | undefined, b: LockHolder): boolean =>
  a !== undefined && a.host === b.host && a.pid === b.pid && a.started_at === b.started_at;

/**
 * When (ms since the epoch) process `pid` started, from Linux's /proc (`starttime` in clock ticks
 * since boot, field 22 of /proc/<pid>/stat; boot time `btime` in /proc/stat); undefined elsewhere.
 */
const processStartMs = (pid: number): number | undefined => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(fields[19]);
    const btime = Number(/^btime (\d+)$/m.exec(readFileSync("/proc/stat", "utf8"))?.[1]);
    // USER_HZ is 100 on every Linux build Node supports.
    return Number.isFinite(ticks) && Number.isFinite(btime) ? btime * 1000 + ticks * 10 : undefined;
  } catch {
    return undefined;
  }
};

/**
 * A lock is stale when its process is gone: a dead pid on this host, or a live pid that started
 * after the lock was written (the pid was reused, as after a container restart).
 */
const isStale = (h: LockHolder): boolean => {
  if (h.host !== hostname()) return false;
  if (!isAlive(h.pid)) return true;
  const started = processStartMs(h.pid);
  const locked = Date.parse(h.started_at);
  return started !== undefined && Number.isFinite(locked) && started > locked + 2000;
};

/** Takes the lock of `dir` (creating the directory) or throws one line naming the holder. */
export function lockOutputDir(dir: string, command: string, notice: (line: string) => void): OutputDirLock {
  const created = !existsSync(dir);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, LOCK_FILE);
  const me: LockHolder = { host: hostname(), pid: process.pid, started_at: new Date().toISOString(), command };
  const text = `${JSON.stringify(me)}\n`;
  // Three tries: the holder may vanish, or be taken over, between our attempts.
  for (let attempt = 0; attempt < 3; attempt++) {
    if (createExclusive(file, text)) return holdLock(dir, file, me, created);
    const holder = readHolder(file);
    if (holder === undefined) continue;
    if (!isStale(holder)) {
      const where = holder.host === me.host ? "" : " (on another host: remove the lock file if that run is gone)";
      throw new ConfigError([`output_dir ${dir} is in use by ${describeHolder(holder)}; lock file ${file}${where}`]);
    }
    // Two runs may find the same stale lock: a second exclusive file decides which one removes it.
    const takeover = `${file}.takeover`;
    if (!createExclusive(takeover, text)) {
      const other = readHolder(takeover);
      if (other !== undefined && isStale(other)) unlinkSync(takeover);
      else if (other !== undefined) throw new ConfigError([`output_dir ${dir} is being taken over by ${describeHolder(other)}; lock file ${file}`]);
      continue;
    }
    try {
      if (sameHolder(readHolder(file), holder)) unlinkSync(file);
    } finally {
      unlinkSync(takeover);
    }
    notice(`[craft] taking over the stale lock ${file} of ${describeHolder(holder)}: that process is gone`);
  }
  throw new ConfigError([`output_dir ${dir}: could not take the lock ${file} (other runs keep taking it)`]);
}

function holdLock(dir: string, file: string, me: LockHolder, created: boolean): OutputDirLock {
  let held = true;
  const release = (): void => {
    if (!held) return;
    held = false;
    process.off("exit", release);
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    try {
      if (sameHolder(readHolder(file), me)) unlinkSync(file);
      if (created && readdirSync(dir).length === 0) rmdirSync(dir);
    } catch {
      // Releasing must never mask the run's own outcome; a leftover lock is taken over as stale.
    }
  };
  // Release, then let the signal do what it would have done (its default: end the process).
  const onSignal = (signal: NodeJS.Signals): void => {
    release();
    process.kill(process.pid, signal);
  };
  process.once("exit", release);
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  return { file, release };
}

/** What the pre-flight checks found in the output directory. */
export interface RunDirectoryState {
  readonly checkpoint: CheckpointSummary | undefined;
  readonly metricsLines: number;
  /** The settings the run in the directory was started (or last resumed) with. */
  readonly saved: Record<string, unknown> | undefined;
}

const countLines = (file: string): number => {
  try {
    return readFileSync(file, "utf8").split("\n").filter((l) => l.trim() !== "").length;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return 0;
    throw error;
  }
};

const readSavedConfig = (dir: string): Record<string, unknown> | undefined => {
  const file = join(dir, TRAIN_CONFIG_FILE);
  if (!existsSync(file)) return undefined;
  try {
    const value: unknown = JSON.parse(readFileSync(file, "utf8"));
    if (typeof value === "object" && value !== null && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // handled below
  }
  throw new ConfigError([`${file}: expected the JSON object a craft run writes; cannot check a resume against it`]);
};

const sameDataset = (a: unknown, b: RunConfig["dataset"]): boolean => {
  const saved = (a ?? {}) as { root?: unknown; repo_id?: unknown; episodes?: unknown };
  const root = (r: unknown) => (typeof r === "string" ? resolve(r) : null);
  return root(saved.root) === root(b.root) && (saved.repo_id ?? null) === b.repo_id && JSON.stringify(saved.episodes ?? null) === JSON.stringify(b.episodes);
};

/**
 * Every check an output directory needs before anything in it changes: an existing run vs
 * --resume/--overwrite, and a resume's compatibility with the run it continues (batch size,
 * dataset, baseline vs CRaFT, steps beyond the step it finished). Reads only.
 */
export async function checkRunDirectory(run: RunConfig, notice: (line: string) => void): Promise<RunDirectoryState> {
  const dir = run.train.output_dir;
  const resume = run.train.resume;
  const checkpoint = await readLastCheckpointSummary(dir);
  const metricsLines = countLines(join(dir, METRICS_FILE));
  const saved = readSavedConfig(dir);
  const state = { checkpoint, metricsLines, saved };
  const fail = (line: string): never => {
    throw new ConfigError([line]);
  };
  if (resume && run.overwrite) fail(`--resume=true and --overwrite=true contradict each other: continue the run in ${dir}, or replace it, not both`);
  if (run.overwrite) return state;
  if (!resume) {
    if (checkpoint !== undefined) {
      fail(`output_dir ${dir} already holds a run (checkpoint at step ${checkpoint.step}): pass --resume=true to continue it, --overwrite=true to replace it, or choose a new --output_dir`);
    }
    if (metricsLines > 0) {
      fail(`output_dir ${dir} holds ${METRICS_FILE} (${metricsLines} lines) of a run that saved no checkpoint: pass --resume=true to continue its log, or --overwrite=true to replace it`);
    }
    return state;
  }
  if (checkpoint === undefined && metricsLines === 0) fail(`--resume=true: ${dir} holds no checkpoint (checkpoints/last) and no ${METRICS_FILE}: nothing to resume`);
  if (saved !== undefined) {
    if (saved.batch_size !== undefined && saved.batch_size !== run.train.batch_size) {
      fail(`--batch_size=${run.train.batch_size}: the run in ${dir} was trained with batch_size ${JSON.stringify(saved.batch_size)} (${TRAIN_CONFIG_FILE}); a resume must keep it`);
    }
    if (saved.dataset !== undefined && !sameDataset(saved.dataset, run.dataset)) {
      const was = saved.dataset as Record<string, unknown>;
      fail(`--dataset.root=${run.dataset.root ?? run.dataset.repo_id}: the run in ${dir} was trained on ${JSON.stringify(was.root ?? was.repo_id)}${was.episodes ? ` episodes ${JSON.stringify(was.episodes)}` : ""} (${TRAIN_CONFIG_FILE}); a resume must keep its dataset`);
    }
  }
  if (checkpoint !== undefined) {
    if (checkpoint.craft !== run.train.craft.enable) {
      fail(`--resume=true: ${checkpoint.dir} is a ${checkpoint.craft ? "CRaFT" : "baseline"} checkpoint; resume it with craft ${checkpoint.craft ? "train-craft" : "train"} (craft.enable=${checkpoint.craft})`);
    }
    if (run.train.steps <= checkpoint.step) {
      fail(`--steps=${run.train.steps}: the run in ${dir} already completed step ${checkpoint.step}; pass --steps greater than ${checkpoint.step} to train further`);
    }
    const planned = saved?.steps;
    if (typeof planned === "number" && planned !== run.train.steps) {
      notice(`[craft] resuming at step ${checkpoint.step} a run planned for ${planned} steps, now to ${run.train.steps}: the learning-rate and ε schedules span ${run.train.steps} steps from here on`);
    }
  }
  return state;
}

/** --overwrite=true, once every check passed: the earlier run's checkpoints and logs go. */
export function clearEarlierRun(dir: string): void {
  rmSync(join(dir, "checkpoints"), { recursive: true, force: true });
  for (const file of [METRICS_FILE, SUPERSEDED_METRICS_FILE, TRAIN_CONFIG_FILE]) rmSync(join(dir, file), { force: true });
}

/** Steps a run in `dir` has completed (its last checkpoint), 0 when it has none. For commands that run trainings as parts. */
export async function completedSteps(dir: string): Promise<number> {
  return (await readLastCheckpointSummary(dir))?.step ?? 0;
}
