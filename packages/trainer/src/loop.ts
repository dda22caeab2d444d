import { promises as fs } from "node:fs";
import * as path from "node:path";
import { craftStep, initialCraftState, isRetentionStep, type CraftConfig, type CraftMetrics, type CraftState } from "@craft/craft-core";
import { adamwStep, createAdamWState, type AdamWState } from "./adamw.js";
import {
  CHECKPOINTS_DIR,
  LAST_LINK,
  PRETRAINED_MODEL_DIR,
  checkFreeSpace,
  checkpointBytes,
  injectFault,
  lastCheckpointDir,
  readModelParameters,
  readTrainingState,
  removeStaleTemporaries,
  writeCheckpoint,
} from "./checkpoint.js";
import { clipByGlobalNorm } from "./clip.js";
import type { TrainConfig } from "./config.js";
import { fromNamed, gradientSpaceOf, toNamed } from "./gradientSpace.js";
import type {
  BatchSource,
  GradientSpace,
  NamedArrays,
  ReduceGradients,
  RetentionLossKind,
  TensorFileIO,
  TrainablePolicy,
} from "./interfaces.js";
import { METRICS_FILE, MetricsFile, MetricsWindow, ProgressDisplay, type StepRecord, type TrainMetrics } from "./metrics.js";
import { createRng, streamRng, type Rng } from "./rng.js";
import { TrainerError } from "./errors.js";
import { startWandb, type WandbOptions, type WandbSink } from "./wandb.js";

export interface TrainOptions<B, G = NamedArrays> {
  readonly config: TrainConfig;
  readonly policy: TrainablePolicy<B, G>;
  readonly taskSource: BatchSource<B>;
  /** Reads/writes optimizer moments and gradients (the CLI injects the safetensors IO). */
  readonly tensorIO: TensorFileIO;
  /** Learning rate of the 0-based step about to run (warmup + cosine from the policy preset); default: constant optimizer.lr. */
  readonly learningRate?: (step: number) => number;
  /** Parameters of a checkpoint's pretrained_model/ dir on resume; default: tensorIO.read(model.safetensors). */
  readonly loadParameters?: (pretrainedModelDir: string) => Promise<NamedArrays>;
  /** Data-parallel average over ranks (issue 9); identity when absent. */
  readonly reduceGradients?: ReduceGradients;
  /** Only the main process (rank 0) logs, writes metrics, checkpoints and wandb. Default true. */
  readonly isMainProcess?: boolean;
  /** Called with every logged metrics record (on every rank). */
  readonly onMetrics?: (metrics: TrainMetrics) => void;
  /** Where the progress display goes (default process.stderr); a TTY gets one redrawn line. */
  readonly progressStream?: NodeJS.WritableStream & { isTTY?: boolean };
  readonly wandb?: WandbOptions;
  /**
   * Awaited after every completed step, once its log line and checkpoint are written (LeRobot's
   * periodic evaluation sits there), on every rank. Values it returns, named as they should appear
   * (`eval/pc_success`), are logged at that step on the main process: a metrics.jsonl line of their
   * own, W&B, the progress display. It is handed no RNG and the loop draws none for it, so a run
   * with a hook follows exactly the run without. It must not call collectives other ranks do not.
   */
  readonly onStepEnd?: StepEndHook;
}

/** A per-step hook of the loop: `step` steps are complete; returns values to log at that step, or nothing. */
export type StepEndHook = (step: number) => Promise<Readonly<Record<string, number>> | undefined>;

export interface TrainCraftOptions<B, G = NamedArrays> extends TrainOptions<B, G> {
  /** Anchor batches (endless) for the retention gradient. */
  readonly anchorSource: BatchSource<B>;
}

export interface TrainResult {
  /** Steps completed. */
  readonly step: number;
  /** Final parameters (the trainer's master copy). */
  readonly parameters: NamedArrays;
  /** Directory of the last checkpoint written (undefined on non-main ranks). */
  readonly lastCheckpoint: string | undefined;
  readonly nonfiniteSkipped: number;
  readonly craftState?: CraftState;
}

interface Retention<B> {
  readonly config: CraftConfig;
  readonly source: BatchSource<B>;
}

interface Accumulated<G> {
  readonly loss: number;
  readonly grads: G;
}

const exists = async (p: string): Promise<boolean> => {
  try {
    await fs.lstat(p);
    return true;
  } catch {
    return false;
  }
};

const progressNotice = (options: { progressStream?: NodeJS.WritableStream }, line: string): void =>
  void (options.progressStream ?? process.stderr).write(line + "\n");

/** What changes from step to step, and what a checkpoint saves. */
interface LoopState<G> {
  readonly params: NamedArrays;
  optimizer: AdamWState;
  step: number;
  taskRng: Rng;
  anchorRng: Rng;
  craftState: CraftState | undefined;
  /** The last retention gradient, reused between retention steps (`craft.retention_freq`). */
  cachedRetention: Accumulated<G> | undefined;
  nonfiniteTotal: number;
  nonfiniteInARow: number;
  lastCheckpoint: string | undefined;
}

/** What stays fixed for the run once setup is done. */
interface Loop<B, G> {
  readonly options: TrainOptions<B, G>;
  readonly config: TrainConfig;
  readonly retention: Retention<B> | undefined;
  readonly space: GradientSpace<G>;
  readonly learningRate: (step: number) => number;
  readonly main: boolean;
  readonly craft: ReturnType<typeof craftStep<G>> | undefined;
  readonly metricsFile: MetricsFile | undefined;
  readonly wandb: WandbSink | undefined;
  readonly progress: ProgressDisplay | undefined;
  readonly window: MetricsWindow;
}

/**
 * The one training loop. `retention` undefined is the baseline: task gradient → clip → AdamW.
 * With `retention`, the task and retention gradients go through craft-core's `craftStep`
 * (surgery, merge with λ, ε schedule, λ update) before the same clip and AdamW.
 * Phases as LeRobot's train loop: setup, then per step update, log, checkpoint; finish.
 */
export const runTraining = async <B, G>(options: TrainOptions<B, G>, retention: Retention<B> | undefined): Promise<TrainResult> => {
  const { loop, state } = await setupTraining(options, retention);
  try {
    while (state.step < loop.config.steps) {
      const started = performance.now();
      const lr = loop.learningRate(state.step);
      const record = await updatePolicy(loop, state, lr);
      state.step += 1;
      loop.window.addStep((performance.now() - started) / 1000, loop.config.batch_size * loop.config.gradient_accumulation_steps, record);
      await logStep(loop, state, lr);
      await checkpointStep(loop, state);
      await stepEndHook(loop, state);
    }
  } finally {
    await finishTraining(loop);
  }
  const { step, params, lastCheckpoint, nonfiniteTotal, craftState } = state;
  return { step, parameters: params, lastCheckpoint, nonfiniteSkipped: nonfiniteTotal, craftState };
};

/** Refuses a run directory that is not this run's, restores a resumed run, opens the sinks. */
async function setupTraining<B, G>(options: TrainOptions<B, G>, retention: Retention<B> | undefined): Promise<{ loop: Loop<B, G>; state: LoopState<G> }> {
  const { config, policy } = options;
  const main = options.isMainProcess ?? true;
  const space = gradientSpaceOf(policy);
  if (!config.resume && main && (await exists(path.join(config.output_dir, CHECKPOINTS_DIR, LAST_LINK)))) {
    throw new TrainerError("OutputDirInUse", {
      file: config.output_dir,
      field: "resume",
      expected: "true to continue the run whose checkpoints output_dir holds, or a new output_dir",
      actual: "false",
      message: `output_dir ${config.output_dir} already holds checkpoints: pass resume=true to continue that run, or choose a new output_dir`,
    });
  }
  const state: LoopState<G> = {
    params: policy.getParameters(),
    optimizer: createAdamWState(),
    step: 0,
    taskRng: streamRng(config.seed, 0),
    anchorRng: streamRng(config.seed, 1),
    craftState: retention === undefined ? undefined : initialCraftState(retention.config),
    cachedRetention: undefined,
    nonfiniteTotal: 0,
    nonfiniteInARow: 0,
    lastCheckpoint: undefined,
  };
  await resumeFromCheckpoint(options, retention, space, state);

  // Fails at once, before any step, when wandb is asked for and python3 or its wandb package is missing.
  if (main) {
    const count = Object.values(state.params).reduce((n, p) => n + p.length, 0);
    await checkFreeSpace(config.output_dir, checkpointBytes(count, retention !== undefined));
  }
  const metricsFile = main ? await MetricsFile.open(config.output_dir, config.resume ? state.step : undefined) : undefined;
  if (main) await removeStaleTemporaries(config.output_dir);
  const wandb: WandbSink | undefined =
    main && config.wandb.enable ? startWandb(config.wandb, { dir: config.output_dir, runConfig: config, ...options.wandb }) : undefined;
  const loop: Loop<B, G> = {
    options,
    config,
    retention,
    space,
    learningRate: options.learningRate ?? (() => config.optimizer.lr),
    main,
    craft: retention === undefined ? undefined : craftStep(retention.config, space, config.steps),
    metricsFile,
    wandb,
    progress: main ? new ProgressDisplay(options.progressStream ?? process.stderr, config.steps) : undefined,
    window: new MetricsWindow(),
  };
  return { loop, state };
}

/** With `resume`, the last checkpoint's parameters, optimizer, loaders, RNGs and CRaFT state. */
async function resumeFromCheckpoint<B, G>(options: TrainOptions<B, G>, retention: Retention<B> | undefined, space: GradientSpace<G>, state: LoopState<G>): Promise<void> {
  const { config, policy, taskSource, tensorIO } = options;
  const dir = config.resume ? await lastCheckpointDir(config.output_dir) : undefined;
  if (config.resume && dir === undefined) {
    // A run that died before its first checkpoint: nothing to restore, but its log is continued (from step 0).
    if (!(await exists(path.join(config.output_dir, METRICS_FILE)))) {
      const last = path.join(config.output_dir, CHECKPOINTS_DIR, LAST_LINK);
      throw new TrainerError("ResumeMismatch", {
        file: last,
        field: "resume",
        expected: "a checkpoint to resume from",
        message: `resume=true but ${last} does not exist: no checkpoint to resume from`,
      });
    }
    if (options.isMainProcess ?? true) progressNotice(options, `[craft] ${config.output_dir} holds metrics but no checkpoint: starting at step 0, continuing its ${METRICS_FILE}`);
  }
  if (dir === undefined) return;
  const saved = await readTrainingState(dir, tensorIO);
  const modelDir = path.join(dir, PRETRAINED_MODEL_DIR);
  const loaded = await (options.loadParameters ?? ((d: string) => readModelParameters(d, tensorIO)))(modelDir);
  const params = state.params;
  for (const name of Object.keys(params)) {
    const value = loaded[name];
    if (value === undefined) {
      throw new TrainerError("InvalidCheckpoint", {
        file: modelDir,
        field: name,
        expected: "the policy's parameter",
        message: `${modelDir}: parameter "${name}" is missing from the checkpoint`,
      });
    }
    if (value.length !== params[name].length) {
      throw new TrainerError("InvalidCheckpoint", {
        file: modelDir,
        field: name,
        expected: `${params[name].length} values`,
        actual: String(value.length),
        message: `${modelDir}: parameter "${name}" has ${value.length} values, the policy expects ${params[name].length}`,
      });
    }
    params[name] = Float32Array.from(value);
  }
  policy.setParameters(params);
  state.optimizer = saved.optimizer;
  state.step = saved.step;
  taskSource.restore(saved.loader.task);
  state.taskRng = createRng(saved.rng.task);
  state.anchorRng = createRng(saved.rng.anchor);
  state.nonfiniteTotal = saved.nonfinite.total;
  state.nonfiniteInARow = saved.nonfinite.consecutive;
  if (retention !== undefined) {
    if (saved.craft === undefined) {
      throw new TrainerError("ResumeMismatch", {
        file: dir,
        field: "craft",
        expected: "the CRaFT state of a CRaFT run",
        message: `${dir}: a baseline checkpoint cannot resume a CRaFT run (no CRaFT state)`,
      });
    }
    retention.source.restore(saved.loader.anchor);
    state.craftState = saved.craft.state;
    if (saved.craft.retentionGradient !== undefined && saved.craft.retentionLoss !== undefined) {
      state.cachedRetention = { loss: saved.craft.retentionLoss, grads: fromNamed(space, saved.craft.retentionGradient) };
    }
  }
  state.lastCheckpoint = dir;
}

/** Mean gradient and loss over `gradient_accumulation_steps` batches, averaged over ranks. */
async function accumulate<B, G>(loop: Loop<B, G>, source: BatchSource<B>, rng: Rng, loss: RetentionLossKind | undefined): Promise<Accumulated<G>> {
  const { space, options } = loop;
  const accumulation = loop.config.gradient_accumulation_steps;
  let sum: G | undefined;
  let lossSum = 0;
  for (let i = 0; i < accumulation; i++) {
    const batch = await source.next();
    const seed = rng.nextUint32();
    const result = await options.policy.computeGradients(batch, loss === undefined ? { seed } : { loss, seed });
    sum = sum === undefined ? result.grads : space.add(sum, result.grads);
    lossSum += result.loss;
  }
  let grads = accumulation > 1 ? space.scale(sum!, 1 / accumulation) : sum!;
  let meanLoss = lossSum / accumulation;
  if (options.reduceGradients !== undefined) {
    // The loss rides along as the last element, so every rank also sees the global mean loss (λ update).
    const flat = space.toFlat(grads);
    const buffer = new Float32Array(flat.length + 1);
    buffer.set(flat);
    buffer[flat.length] = meanLoss;
    const reduced = await options.reduceGradients(buffer);
    grads = space.fromFlat(reduced.subarray(0, flat.length), grads);
    meanLoss = reduced[flat.length];
  }
  return { loss: meanLoss, grads };
}

/**
 * One optimisation step: task (and retention) gradients, CRaFT's combination, clip, AdamW. A
 * non-finite loss or gradient skips the update; returns the step's record, undefined when skipped.
 */
async function updatePolicy<B, G>(loop: Loop<B, G>, state: LoopState<G>, lr: number): Promise<StepRecord | undefined> {
  const { retention, space, craft, config } = loop;
  const task = await accumulate(loop, loop.options.taskSource, state.taskRng, undefined);
  let retentionNow: Accumulated<G> | undefined;
  if (retention !== undefined && (state.cachedRetention === undefined || isRetentionStep(retention.config, state.step))) {
    retentionNow = await accumulate(loop, retention.source, state.anchorRng, retention.config.retention_loss);
  }
  const retentionUsed = retentionNow ?? state.cachedRetention;

  // Norms come from one pass: craft-core's Gram matrix in CRaFT, a dot product in the baseline.
  // A NaN/Inf anywhere in a gradient makes its norm non-finite, which is the check.
  const lossesFinite = Number.isFinite(task.loss) && (retentionUsed === undefined || Number.isFinite(retentionUsed.loss));
  let grad: G = task.grads;
  let gradNorm = NaN;
  let taskGradNorm = NaN;
  let nextCraftState: CraftState | undefined;
  let craftMetrics: CraftMetrics | undefined;
  if (!lossesFinite) {
    // craft-core rejects a non-finite retention loss; the step is skipped below.
  } else if (craft !== undefined && state.craftState !== undefined && retentionUsed !== undefined) {
    const out = craft(state.craftState, { gTask: task.grads, gRetain: retentionUsed.grads, retentionLoss: retentionUsed.loss, step: state.step });
    grad = out.grad;
    nextCraftState = out.state;
    craftMetrics = out.metrics;
    gradNorm = out.metrics.gradNorm;
    taskGradNorm = out.metrics.taskNorm;
  } else {
    gradNorm = Math.sqrt(space.dot(grad, grad));
    taskGradNorm = gradNorm;
  }
  const finite =
    lossesFinite &&
    Number.isFinite(taskGradNorm) &&
    Number.isFinite(gradNorm) &&
    (craftMetrics === undefined || (Number.isFinite(retentionUsed!.loss) && Number.isFinite(craftMetrics.retainNorm)));
  if (!finite) {
    skipNonfiniteStep(loop, state, `task loss ${task.loss}` + (retentionNow === undefined ? "" : `, retention loss ${retentionNow.loss}`));
    return undefined;
  }

  const clipped = clipByGlobalNorm(space, grad, config.grad_clip_norm, gradNorm);
  const namedGrad = toNamed(space, clipped.grad);
  const policy = loop.options.policy;
  adamwStep(config.optimizer, state.optimizer, state.params, namedGrad, lr, policy.noWeightDecay?.bind(policy));
  const updated: NamedArrays = {};
  for (const name of Object.keys(namedGrad)) updated[name] = state.params[name];
  policy.setParameters(updated);
  if (retentionNow !== undefined) state.cachedRetention = retentionNow;
  if (nextCraftState !== undefined) state.craftState = nextCraftState;
  state.nonfiniteInARow = 0;
  return {
    loss: craftMetrics === undefined ? task.loss : task.loss + craftMetrics.lambda * retentionUsed!.loss,
    taskLoss: task.loss,
    gradNorm,
    taskGradNorm,
    craft:
      craftMetrics === undefined
        ? undefined
        : {
            retentionLoss: retentionUsed!.loss,
            lambda: craftMetrics.lambda,
            epsilon: craftMetrics.epsilon,
            violation: craftMetrics.violation,
            taskGradNormAfter: craftMetrics.taskNormAfter,
            retainGradNorm: craftMetrics.retainNorm,
            cosine: craftMetrics.cosine,
            conflict: craftMetrics.conflict,
          },
  };
}

/** Counts a skipped step; too many in a row stop the run, naming the checkpoint to go back to. */
function skipNonfiniteStep<B, G>(loop: Loop<B, G>, state: LoopState<G>, what: string): void {
  const config = loop.config;
  state.nonfiniteTotal += 1;
  state.nonfiniteInARow += 1;
  loop.progress?.message(
    `step ${state.step + 1}: non-finite loss or gradient (${what}); step skipped, no update ` +
      `(${state.nonfiniteInARow} in a row, ${state.nonfiniteTotal} in total)`,
  );
  if (state.nonfiniteInARow >= config.max_consecutive_nonfinite) {
    throw new Error(
      `training stopped at step ${state.step + 1}: ${state.nonfiniteInARow} consecutive steps had a non-finite loss or gradient ` +
        `(max_consecutive_nonfinite=${config.max_consecutive_nonfinite}). Lower optimizer.lr, check the data for NaN/Inf, ` +
        `or resume from ${state.lastCheckpoint ?? "an earlier checkpoint"}.`,
    );
  }
}

/** Every `log_freq` steps and at the end: the window's means to the display, metrics.jsonl and wandb. */
async function logStep<B, G>(loop: Loop<B, G>, state: LoopState<G>, lr: number): Promise<void> {
  const { config, step } = { config: loop.config, step: state.step };
  if (step % config.log_freq !== 0 && step !== config.steps) return;
  const metrics = loop.window.flush(step, lr, state.nonfiniteTotal);
  if (loop.main) {
    loop.progress?.update(metrics);
    await loop.metricsFile?.append(metrics);
    loop.wandb?.log(metrics);
  }
  loop.options.onMetrics?.(metrics);
}

/** Every `save_freq` steps and at the end, the main process writes a checkpoint. */
async function checkpointStep<B, G>(loop: Loop<B, G>, state: LoopState<G>): Promise<void> {
  const { config, options, retention, space } = loop;
  const step = state.step;
  if (step % config.save_freq !== 0 && step !== config.steps) return;
  if (!loop.main) return;
  state.lastCheckpoint = await writeCheckpoint({
    outputDir: config.output_dir,
    step,
    io: options.tensorIO,
    saveModel: (dir) => options.policy.save(dir),
    optimizerConfig: config.optimizer,
    lr: loop.learningRate(Math.max(0, step - 1)),
    state: {
      step,
      optimizer: state.optimizer,
      loader: { task: options.taskSource.position(), anchor: retention?.source.position() },
      craft:
        state.craftState === undefined
          ? undefined
          : {
              state: state.craftState,
              retentionGradient: state.cachedRetention === undefined ? undefined : toNamed(space, state.cachedRetention.grads),
              retentionLoss: state.cachedRetention?.loss,
            },
      rng: { task: state.taskRng.state(), anchor: state.anchorRng.state() },
      nonfinite: { total: state.nonfiniteTotal, consecutive: state.nonfiniteInARow },
    },
  });
  await injectFault("after-save", step);
}

/** The caller's per-step hook (periodic evaluation); what it returns is logged on the main process. */
async function stepEndHook<B, G>(loop: Loop<B, G>, state: LoopState<G>): Promise<void> {
  const hook = loop.options.onStepEnd;
  if (hook === undefined) return;
  const values = await hook(state.step);
  if (values === undefined || Object.keys(values).length === 0 || !loop.main) return;
  loop.progress?.message(`step ${state.step}/${loop.config.steps}  ${Object.entries(values).map(([k, v]) => `${k} ${Number(v.toPrecision(4))}`).join("  ")}`);
  await loop.metricsFile?.append({ step: state.step, ...values });
  loop.wandb?.logNamed(state.step, values);
}

/** Closes the progress line and the wandb run, also when a step failed. */
async function finishTraining<B, G>(loop: Loop<B, G>): Promise<void> {
  loop.progress?.end();
  await loop.wandb?.close();
}
