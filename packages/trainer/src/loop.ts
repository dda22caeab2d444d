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
import { createRng, streamSeed, type Rng } from "./rng.js";
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
}

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

/**
 * The one training loop. `retention` undefined is the baseline: task gradient → clip → AdamW.
 * With `retention`, the task and retention gradients go through craft-core's `craftStep`
 * (surgery, merge with λ, ε schedule, λ update) before the same clip and AdamW.
 */
export const runTraining = async <B, G>(options: TrainOptions<B, G>, retention: Retention<B> | undefined): Promise<TrainResult> => {
  const { config, policy, taskSource, tensorIO } = options;
  const main = options.isMainProcess ?? true;
  const space = gradientSpaceOf(policy);
  const learningRate = options.learningRate ?? (() => config.optimizer.lr);
  const accumulation = config.gradient_accumulation_steps;
  const samplesPerStep = config.batch_size * accumulation;
  const noWeightDecay = policy.noWeightDecay?.bind(policy);

  if (!config.resume && main && (await exists(path.join(config.output_dir, CHECKPOINTS_DIR, LAST_LINK)))) {
    throw new Error(
      `output_dir ${config.output_dir} already holds checkpoints: pass resume=true to continue that run, or choose a new output_dir`,
    );
  }

  const params: NamedArrays = policy.getParameters();
  let optimizer: AdamWState = createAdamWState();
  let step = 0;
  let taskRng: Rng = createRng(streamSeed(config.seed, 0));
  let anchorRng: Rng = createRng(streamSeed(config.seed, 1));
  let craftState: CraftState | undefined = retention === undefined ? undefined : initialCraftState(retention.config);
  let cachedRetention: Accumulated<G> | undefined;
  let nonfiniteTotal = 0;
  let nonfiniteInARow = 0;
  let lastCheckpoint: string | undefined;

  const resumeDir = config.resume ? await lastCheckpointDir(config.output_dir) : undefined;
  if (config.resume && resumeDir === undefined) {
    // A run that died before its first checkpoint: nothing to restore, but its log is continued (from step 0).
    if (!(await exists(path.join(config.output_dir, METRICS_FILE)))) {
      throw new Error(
        `resume=true but ${path.join(config.output_dir, CHECKPOINTS_DIR, LAST_LINK)} does not exist: no checkpoint to resume from`,
      );
    }
    if (main) progressNotice(options, `[craft] ${config.output_dir} holds metrics but no checkpoint: starting at step 0, continuing its ${METRICS_FILE}`);
  }
  if (resumeDir !== undefined) {
    const dir = resumeDir;
    const state = await readTrainingState(dir, tensorIO);
    const modelDir = path.join(dir, PRETRAINED_MODEL_DIR);
    const loaded = await (options.loadParameters ?? ((d: string) => readModelParameters(d, tensorIO)))(modelDir);
    for (const name of Object.keys(params)) {
      const value = loaded[name];
      if (value === undefined) throw new Error(`${modelDir}: parameter "${name}" is missing from the checkpoint`);
      if (value.length !== params[name].length) {
        throw new Error(`${modelDir}: parameter "${name}" has ${value.length} values, the policy expects ${params[name].length}`);
      }
      params[name] = Float32Array.from(value);
    }
    policy.setParameters(params);
    optimizer = state.optimizer;
    step = state.step;
    taskSource.restore(state.loader.task);
    taskRng = createRng(state.rng.task);
    anchorRng = createRng(state.rng.anchor);
    nonfiniteTotal = state.nonfinite.total;
    nonfiniteInARow = state.nonfinite.consecutive;
    if (retention !== undefined) {
      if (state.craft === undefined) throw new Error(`${dir}: a baseline checkpoint cannot resume a CRaFT run (no CRaFT state)`);
      retention.source.restore(state.loader.anchor);
      craftState = state.craft.state;
      if (state.craft.retentionGradient !== undefined && state.craft.retentionLoss !== undefined) {
        cachedRetention = { loss: state.craft.retentionLoss, grads: fromNamed(space, state.craft.retentionGradient) };
      }
    }
    lastCheckpoint = dir;
  }

  // Fails at once, before any step, when wandb is asked for and python3 or its wandb package is missing.
  if (main) {
    const count = Object.values(params).reduce((n, p) => n + p.length, 0);
    await checkFreeSpace(config.output_dir, checkpointBytes(count, retention !== undefined));
  }
  const metricsFile = main ? await MetricsFile.open(config.output_dir, config.resume ? step : undefined) : undefined;
  if (main) await removeStaleTemporaries(config.output_dir);
  const wandb: WandbSink | undefined =
    main && config.wandb.enable ? startWandb(config.wandb, { dir: config.output_dir, runConfig: config, ...options.wandb }) : undefined;
  const progress = main ? new ProgressDisplay(options.progressStream ?? process.stderr, config.steps) : undefined;
  const window = new MetricsWindow();
  const craft = retention === undefined ? undefined : craftStep(retention.config, space, config.steps);

  const accumulate = async (source: BatchSource<B>, rng: Rng, loss: RetentionLossKind | undefined): Promise<Accumulated<G>> => {
    let sum: G | undefined;
    let lossSum = 0;
    for (let i = 0; i < accumulation; i++) {
      const batch = await source.next();
      const seed = rng.nextUint32();
      const result = await policy.computeGradients(batch, loss === undefined ? { seed } : { loss, seed });
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
  };

  const save = async (): Promise<void> => {
    if (!main) return;
    lastCheckpoint = await writeCheckpoint({
      outputDir: config.output_dir,
      step,
      io: tensorIO,
      saveModel: (dir) => policy.save(dir),
      optimizerConfig: config.optimizer,
      lr: learningRate(Math.max(0, step - 1)),
      state: {
        step,
        optimizer,
        loader: { task: taskSource.position(), anchor: retention?.source.position() },
        craft:
          craftState === undefined
            ? undefined
            : {
                state: craftState,
                retentionGradient: cachedRetention === undefined ? undefined : toNamed(space, cachedRetention.grads),
                retentionLoss: cachedRetention?.loss,
              },
        rng: { task: taskRng.state(), anchor: anchorRng.state() },
        nonfinite: { total: nonfiniteTotal, consecutive: nonfiniteInARow },
      },
    });
  };

  const squaredNorm = (g: G): number => space.dot(g, g);

  try {
    while (step < config.steps) {
      const started = performance.now();
      const lr = learningRate(step);
      const task = await accumulate(taskSource, taskRng, undefined);
      let retentionNow: Accumulated<G> | undefined;
      if (retention !== undefined && (cachedRetention === undefined || isRetentionStep(retention.config, step))) {
        retentionNow = await accumulate(retention.source, anchorRng, retention.config.retention_loss);
      }
      const retentionUsed = retentionNow ?? cachedRetention;

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
      } else if (craft !== undefined && craftState !== undefined && retentionUsed !== undefined) {
        const out = craft(craftState, { gTask: task.grads, gRetain: retentionUsed.grads, retentionLoss: retentionUsed.loss, step });
        grad = out.grad;
        nextCraftState = out.state;
        craftMetrics = out.metrics;
        gradNorm = out.metrics.gradNorm;
        taskGradNorm = out.metrics.taskNorm;
      } else {
        grad = task.grads;
        gradNorm = Math.sqrt(squaredNorm(grad));
        taskGradNorm = gradNorm;
      }
      const finite =
        lossesFinite &&
        Number.isFinite(taskGradNorm) &&
        Number.isFinite(gradNorm) &&
        (craftMetrics === undefined || (Number.isFinite(retentionUsed!.loss) && Number.isFinite(craftMetrics.retainNorm)));

      let record: StepRecord | undefined;
      if (finite) {
        const clipped = clipByGlobalNorm(space, grad, config.grad_clip_norm, gradNorm);
        const namedGrad = toNamed(space, clipped.grad);
        adamwStep(config.optimizer, optimizer, params, namedGrad, lr, noWeightDecay);
        const updated: NamedArrays = {};
        for (const name of Object.keys(namedGrad)) updated[name] = params[name];
        policy.setParameters(updated);
        if (retentionNow !== undefined) cachedRetention = retentionNow;
        if (nextCraftState !== undefined) craftState = nextCraftState;
        nonfiniteInARow = 0;
        record = {
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
      if (!finite) {
        nonfiniteTotal += 1;
        nonfiniteInARow += 1;
        const what = `task loss ${task.loss}` + (retentionNow === undefined ? "" : `, retention loss ${retentionNow.loss}`);
        progress?.message(
          `step ${step + 1}: non-finite loss or gradient (${what}); step skipped, no update ` +
            `(${nonfiniteInARow} in a row, ${nonfiniteTotal} in total)`,
        );
        if (nonfiniteInARow >= config.max_consecutive_nonfinite) {
          throw new Error(
            `training stopped at step ${step + 1}: ${nonfiniteInARow} consecutive steps had a non-finite loss or gradient ` +
              `(max_consecutive_nonfinite=${config.max_consecutive_nonfinite}). Lower optimizer.lr, check the data for NaN/Inf, ` +
              `or resume from ${lastCheckpoint ?? "an earlier checkpoint"}.`,
          );
        }
      }
      step += 1;
      window.addStep((performance.now() - started) / 1000, samplesPerStep, record);

      if (step % config.log_freq === 0 || step === config.steps) {
        const metrics = window.flush(step, lr, nonfiniteTotal);
        if (main) {
          progress?.update(metrics);
          await metricsFile?.append(metrics);
          wandb?.log(metrics);
        }
        options.onMetrics?.(metrics);
      }
      if (step % config.save_freq === 0 || step === config.steps) {
        await save();
        if (main) await injectFault("after-save", step);
      }
    }
  } finally {
    progress?.end();
    await wandb?.close();
  }
  return { step, parameters: params, lastCheckpoint, nonfiniteSkipped: nonfiniteTotal, craftState };
};
