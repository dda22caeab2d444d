import { promises as fs } from "node:fs";
import * as path from "node:path";
import type { CraftState } from "@craft/craft-core";
import type { AdamWState } from "./adamw.js";
import type { OptimizerConfig } from "./config.js";
import type { NamedArrays, TensorFileIO } from "./interfaces.js";
import { TrainerError } from "./errors.js";

/** Everything besides the model weights that an exact resume needs. */
export interface TrainingState {
  /** Steps completed (the next step to run has this 0-based index). */
  readonly step: number;
  readonly optimizer: AdamWState;
  readonly loader: { readonly task: unknown; readonly anchor?: unknown };
  readonly craft?: {
    readonly state: CraftState;
    /** The last retention gradient and loss, reused between recomputations when retention_freq > 1. */
    readonly retentionGradient?: NamedArrays;
    readonly retentionLoss?: number;
  };
  /** PRNG states (xoroshiro128+, four int32s each) of the task and anchor seed streams. */
  readonly rng: { readonly task: readonly number[]; readonly anchor: readonly number[] };
  readonly nonfinite: { readonly total: number; readonly consecutive: number };
}

const FORMAT_VERSION = 1;
export const CHECKPOINTS_DIR = "checkpoints";
export const LAST_LINK = "last";
export const PRETRAINED_MODEL_DIR = "pretrained_model";
export const TRAINING_STATE_DIR = "training_state";
const TRAINER_STATE_FILE = "trainer_state.json";
const OPTIMIZER_FILE = "optimizer_state.safetensors";
const RETENTION_GRADIENT_FILE = "retention_gradient.safetensors";
const M_PREFIX = "exp_avg.";
const V_PREFIX = "exp_avg_sq.";

export const stepDirName = (step: number): string => String(step).padStart(6, "0");

const fsyncPath = async (p: string): Promise<void> => {
  const handle = await fs.open(p, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
};

/** fsync every file below dir, then every directory bottom-up, so a rename publishes durable contents. */
const fsyncTree = async (dir: string): Promise<void> => {
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) await fsyncTree(p);
    else if (entry.isFile()) await fsyncPath(p);
  }
  await fsyncPath(dir);
};

const writeJson = (file: string, value: unknown): Promise<void> =>
  fs.writeFile(file, JSON.stringify(value, null, 2) + "\n");

export interface WriteCheckpointArgs {
  readonly outputDir: string;
  readonly step: number;
  readonly io: TensorFileIO;
  /** Writes pretrained_model/ into the directory it is given (policy.save). */
  readonly saveModel: (dir: string) => Promise<void>;
  readonly state: TrainingState;
  readonly optimizerConfig: OptimizerConfig;
  readonly lr: number;
}

/**
 * Writes checkpoints/{step:06d}/{pretrained_model,training_state} atomically: everything goes into
 * a temporary sibling directory, is fsynced, renamed to its final name, and only then does
 * `checkpoints/last` (a relative symlink, itself replaced by rename) point at it. A crash at any
 * instant leaves `last` on a complete checkpoint.
 */
export const writeCheckpoint = async (args: WriteCheckpointArgs): Promise<string> => {
  const checkpoints = path.join(args.outputDir, CHECKPOINTS_DIR);
  await fs.mkdir(checkpoints, { recursive: true });
  const name = stepDirName(args.step);
  const finalDir = path.join(checkpoints, name);
  const tmpDir = path.join(checkpoints, `.tmp-${name}-${process.pid}`);
  await fs.rm(tmpDir, { recursive: true, force: true });
  try {
    await fs.mkdir(tmpDir);
    await args.saveModel(tmpDir);
    try {
      await fs.access(path.join(tmpDir, PRETRAINED_MODEL_DIR));
    } catch {
      throw new Error(`policy.save(dir) wrote no ${PRETRAINED_MODEL_DIR}/ directory into ${tmpDir} (expected dir/${PRETRAINED_MODEL_DIR}/model.safetensors)`);
    }
    const stateDir = path.join(tmpDir, TRAINING_STATE_DIR);
    await fs.mkdir(stateDir);
    await injectFault("write-state", args.step, stateDir);
    await writeTrainingState(stateDir, args);
    await fsyncTree(tmpDir);
  } catch (error) {
    // A partial checkpoint never stays behind (and `last` was not touched).
    await fs.rm(tmpDir, { recursive: true, force: true }).catch(() => undefined);
    throw describeWriteFailure(error, tmpDir, args.step);
  }

  try {
    await publish(checkpoints, name, tmpDir, args.step);
  } catch (error) {
    throw describeWriteFailure(error, checkpoints, args.step);
  }
  return finalDir;
};

/** Renames a complete temporary checkpoint into place, then re-points `last` at it (by rename). */
const publish = async (checkpoints: string, name: string, tmpDir: string, step: number): Promise<void> => {
  const finalDir = path.join(checkpoints, name);
  // A checkpoint of the same step can already exist (a resumed run re-saving): move it aside first.
  const oldDir = path.join(checkpoints, `.old-${name}-${process.pid}`);
  let replaced = false;
  try {
    await fs.rename(finalDir, oldDir);
    replaced = true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  await fs.rename(tmpDir, finalDir);
  await injectFault("before-link", step);
  const tmpLink = path.join(checkpoints, `.last-${process.pid}`);
  await fs.rm(tmpLink, { force: true });
  await fs.symlink(name, tmpLink);
  await injectFault("before-last", step);
  await fs.rename(tmpLink, path.join(checkpoints, LAST_LINK));
  await fsyncPath(checkpoints);
  if (replaced) await fs.rm(oldDir, { recursive: true, force: true });
};

/** Errors of the storage itself: the run cannot go on, and the message must say where. */
const STORAGE_ERRORS: Readonly<Record<string, string>> = {
  ENOSPC: "no space left on the device",
  EDQUOT: "disk quota exceeded",
  EIO: "input/output error",
  EROFS: "read-only file system",
};

const describeWriteFailure = (error: unknown, dir: string, step: number): unknown => {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === undefined || STORAGE_ERRORS[code] === undefined) return error;
  const where = (error as NodeJS.ErrnoException).path ?? dir;
  return new Error(
    `cannot write the step-${step} checkpoint: ${STORAGE_ERRORS[code]} (${code}) writing ${where}; ` +
      `checkpoints/${LAST_LINK} still points at the previous checkpoint`,
  );
};

/**
 * Fault injection for the crash-safety tests, `CRAFT_FAULT=<action>@<point>[:<step>]`:
 * `kill` (SIGKILL this process), `pause` (print a line on stdout and wait for one on stdin),
 * `enospc` / `eio` (throw that error, as a full or failing disk does). Points: `write-state`
 * (before the training state is written), `before-link` (the step directory renamed into place,
 * `last` not yet re-pointed), `before-last` (the new link made, not yet renamed over `last`),
 * `after-save` (the loop, once a checkpoint is complete). Unset, it costs one string compare.
 */
export const injectFault = async (point: string, step: number, where?: string): Promise<void> => {
  const spec = process.env.CRAFT_FAULT;
  if (spec === undefined || spec === "") return;
  const match = /^(kill|pause|enospc|eio)@([a-z-]+)(?::(\d+))?$/.exec(spec);
  if (match === null) throw new Error(`CRAFT_FAULT: expected <kill|pause|enospc|eio>@<point>[:<step>], got ${JSON.stringify(spec)}`);
  const [, action, at, onStep] = match;
  if (at !== point || (onStep !== undefined && Number(onStep) !== step)) return;
  if (action === "kill") process.kill(process.pid, "SIGKILL");
  if (action === "pause") {
    process.stdout.write(`CRAFT_FAULT paused at ${point}:${step}\n`);
    await new Promise<void>((resolve) => process.stdin.once("data", () => resolve()));
    process.stdin.pause();
    return;
  }
  const code = action === "enospc" ? "ENOSPC" : "EIO";
  const file = path.join(where ?? ".", OPTIMIZER_FILE);
  throw Object.assign(new Error(`${code}: injected by CRAFT_FAULT, write '${file}'`), { code, path: file });
};

/** Bytes a checkpoint takes: the weights, the two AdamW moments, and a cached retention gradient (float32). */
export const checkpointBytes = (parameterCount: number, withRetentionGradient: boolean): number =>
  parameterCount * 4 * (3 + (withRetentionGradient ? 1 : 0));

/**
 * Refuses to start when the file system of `outputDir` cannot hold one checkpoint, before the
 * training time is spent. `CRAFT_FAULT_FREE_BYTES` stands in for the free space in tests.
 */
export const checkFreeSpace = async (outputDir: string, needed: number): Promise<void> => {
  const fake = process.env.CRAFT_FAULT_FREE_BYTES;
  let free: number;
  if (fake !== undefined && fake !== "") free = Number(fake);
  else {
    // The directory may not exist yet: its nearest existing ancestor is on the same file system.
    let probe = path.resolve(outputDir);
    while (!(await fs.stat(probe).then(() => true, () => false)) && path.dirname(probe) !== probe) probe = path.dirname(probe);
    const stats = await fs.statfs(probe);
    free = Number(stats.bavail) * Number(stats.bsize);
  }
  if (free < needed) {
    throw new Error(
      `output_dir ${outputDir}: ${formatBytes(free)} free, a checkpoint needs ${formatBytes(needed)} ` +
        `(parameters and AdamW moments, float32); free space or choose another output_dir`,
    );
  }
};

const formatBytes = (n: number): string => {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let x = n;
  while (x >= 1024 && i < units.length - 1) {
    x /= 1024;
    i++;
  }
  return `${i === 0 ? x : x.toFixed(1)} ${units[i]} (${n} bytes)`;
};

const writeTrainingState = async (dir: string, args: WriteCheckpointArgs): Promise<void> => {
  const { state } = args;
  const moments: NamedArrays = {};
  for (const [k, m] of Object.entries(state.optimizer.m)) moments[M_PREFIX + k] = m;
  for (const [k, v] of Object.entries(state.optimizer.v)) moments[V_PREFIX + k] = v;
  await args.io.write(path.join(dir, OPTIMIZER_FILE), moments, { step: String(state.optimizer.step) });
  if (state.craft?.retentionGradient !== undefined) {
    await args.io.write(path.join(dir, RETENTION_GRADIENT_FILE), state.craft.retentionGradient);
  }
  await writeJson(path.join(dir, "training_step.json"), { step: state.step });
  await writeJson(path.join(dir, "optimizer_param_groups.json"), [
    { ...args.optimizerConfig, lr: args.lr, step: state.optimizer.step },
  ]);
  await writeJson(path.join(dir, TRAINER_STATE_FILE), {
    format_version: FORMAT_VERSION,
    step: state.step,
    optimizer_step: state.optimizer.step,
    loader: state.loader,
    craft:
      state.craft === undefined
        ? null
        : {
            state: state.craft.state,
            retention_loss: state.craft.retentionLoss ?? null,
            has_retention_gradient: state.craft.retentionGradient !== undefined,
          },
    rng: state.rng,
    nonfinite: state.nonfinite,
  });
};

/** The directory `checkpoints/last` points at, or undefined when there is none. */
export const lastCheckpointDir = async (outputDir: string): Promise<string | undefined> => {
  const link = path.join(outputDir, CHECKPOINTS_DIR, LAST_LINK);
  let target: string;
  try {
    target = await fs.readlink(link);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  return path.resolve(path.dirname(link), target);
};

/** Removes temporary directories and links that a killed run left behind. */
export const removeStaleTemporaries = async (outputDir: string): Promise<void> => {
  const checkpoints = path.join(outputDir, CHECKPOINTS_DIR);
  let entries: string[];
  try {
    entries = await fs.readdir(checkpoints);
  } catch {
    return;
  }
  for (const entry of entries) {
    if (entry.startsWith(".tmp-") || entry.startsWith(".old-") || entry.startsWith(".last-")) {
      await fs.rm(path.join(checkpoints, entry), { recursive: true, force: true });
    }
  }
};

interface TrainerStateFile {
  format_version: number;
  step: number;
  optimizer_step: number;
  loader: { task: unknown; anchor?: unknown };
  craft: { state: CraftState; retention_loss: number | null; has_retention_gradient: boolean } | null;
  rng: { task: number[]; anchor: number[] };
  nonfinite: { total: number; consecutive: number };
}

const fail = (file: string, field: string, expected: string, got: unknown): never => {
  throw new TrainerError("InvalidCheckpoint", {
    file,
    field,
    expected,
    actual: JSON.stringify(got),
    message: `${file}: field \`${field}\`: expected ${expected}, got ${JSON.stringify(got)}`,
  });
};

const isRngState = (v: unknown): boolean =>
  Array.isArray(v) && v.length === 4 && v.every((x) => Number.isInteger(x) && x >= -(2 ** 31) && x < 2 ** 32);

const readTrainerStateFile = async (file: string): Promise<TrainerStateFile> => {
  let raw: unknown;
  try {
    raw = JSON.parse(await fs.readFile(file, "utf8"));
  } catch (error) {
    throw new TrainerError("InvalidCheckpoint", {
      file,
      field: "(file)",
      expected: "the trainer state as JSON",
      actual: (error as Error).message,
      message: `${file}: cannot read the trainer state (${(error as Error).message})`,
    });
  }
  const s = raw as Partial<TrainerStateFile>;
  if (s.format_version !== FORMAT_VERSION) fail(file, "format_version", String(FORMAT_VERSION), s.format_version);
  if (!Number.isInteger(s.step) || (s.step as number) < 0) fail(file, "step", "an integer ≥ 0", s.step);
  if (!Number.isInteger(s.optimizer_step)) fail(file, "optimizer_step", "an integer ≥ 0", s.optimizer_step);
  if (typeof s.loader !== "object" || s.loader === null) fail(file, "loader", "an object", s.loader);
  if (!isRngState(s.rng?.task) || !isRngState(s.rng?.anchor)) fail(file, "rng", "{task, anchor}, each four 32-bit integers (xoroshiro128+ states)", s.rng);
  if (typeof s.nonfinite?.total !== "number") fail(file, "nonfinite", "{total, consecutive} numbers", s.nonfinite);
  return s as TrainerStateFile;
};

/** What a run's checks need to know of a checkpoint without loading its tensors. */
export interface CheckpointSummary {
  readonly dir: string;
  /** Steps completed when it was written. */
  readonly step: number;
  /** Whether it holds CRaFT state (a CRaFT run wrote it). */
  readonly craft: boolean;
}

/** The checkpoint `checkpoints/last` of a run points at, or undefined when the run has none. */
export const readLastCheckpointSummary = async (outputDir: string): Promise<CheckpointSummary | undefined> => {
  const dir = await lastCheckpointDir(outputDir);
  if (dir === undefined) return undefined;
  const file = await readTrainerStateFile(path.join(dir, TRAINING_STATE_DIR, TRAINER_STATE_FILE));
  return { dir, step: file.step, craft: file.craft !== null };
};

/** Reads the training state of a checkpoint directory written by `writeCheckpoint`. */
export const readTrainingState = async (checkpointDir: string, io: TensorFileIO): Promise<TrainingState> => {
  const dir = path.join(checkpointDir, TRAINING_STATE_DIR);
  const file = await readTrainerStateFile(path.join(dir, TRAINER_STATE_FILE));
  const { tensors } = await io.read(path.join(dir, OPTIMIZER_FILE));
  const m: NamedArrays = {};
  const v: NamedArrays = {};
  for (const [k, x] of Object.entries(tensors)) {
    if (k.startsWith(M_PREFIX)) m[k.slice(M_PREFIX.length)] = x;
    else if (k.startsWith(V_PREFIX)) v[k.slice(V_PREFIX.length)] = x;
  }
  const craft =
    file.craft === null
      ? undefined
      : {
          state: file.craft.state,
          retentionLoss: file.craft.retention_loss ?? undefined,
          retentionGradient: file.craft.has_retention_gradient
            ? (await io.read(path.join(dir, RETENTION_GRADIENT_FILE))).tensors
            : undefined,
        };
  return {
    step: file.step,
    optimizer: { step: file.optimizer_step, m, v },
    loader: file.loader,
    craft,
    rng: file.rng,
    nonfinite: file.nonfinite,
  };
};

/** Default parameter loader on resume: `model.safetensors` of a checkpoint's pretrained_model/ directory. */
export const readModelParameters = async (pretrainedModelDir: string, io: TensorFileIO): Promise<NamedArrays> =>
  (await io.read(path.join(pretrainedModelDir, "model.safetensors"))).tensors;
