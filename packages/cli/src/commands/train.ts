import { mkdir, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { schedulerFor, type BackendInfo, type ModelInputs, type Pi0FastPolicy } from "@craft/policy-pi0fast";
import {
  checkFreeSpace,
  checkpointBytes,
  initDistributed,
  runDistributed,
  train,
  trainCraft,
  type Communicator,
  type StepEndHook,
  type ComputeGradientsOptions,
  type TrainablePolicy,
  type TrainMetrics,
  type TrainResult,
} from "@craft/trainer";
import type { ParsedArgs } from "../flags.js";
import { checkRunDirectory, clearEarlierRun, lockOutputDir } from "../outputDir.js";
import { resolveRunConfig, type RunConfig } from "../runConfig.js";
import { checkTeacherSignature } from "@craft/datasets";
import { startBackend } from "../backendSetup.js";
import { batchesOf, datasetRoot, openAnchors, openTaskDataset } from "../datasetSetup.js";
import { buildPolicy, pretrainedChunkSize, safetensorsIO } from "../policySetup.js";
import { SMOKE_EVAL_EPISODES, SMOKE_STEPS, smokeCap } from "../smoke.js";
import { makeEnv } from "@craft/datasets";
import { checkPolicyMatchesEnv, evaluateDuringTraining, pi0FastClosedLoop, TRAINING_EVAL_EPISODES_RENDERED } from "../rollout.js";

export interface TrainRunSummary {
  readonly result: TrainResult;
  readonly config: RunConfig;
  readonly outputDir: string;
}

async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, `${JSON.stringify(value, null, 2)}\n`);
  await rename(tmp, path);
}

/** The resolved configuration of a run, as `--config_path` reads it back (plus what people want to know). */
function trainConfigRecord(run: RunConfig, policyConfig: unknown, backend: BackendInfo, world: number): Record<string, unknown> {
  const { craft, ...trainer } = run.train;
  return {
    command: run.command,
    ...trainer,
    craft,
    policy: run.policyPath !== null ? { path: run.policyPath, ...run.policyOverrides } : policyConfig,
    resolved_policy: policyConfig,
    dataset: run.dataset,
    tokenizer: run.tokenizer,
    distributed: run.distributed,
    // LeRobot's env/eval sections and eval_freq, read back by --config_path.
    ...(run.env !== null && { env: { type: run.env.type, task: run.env.task }, eval: { n_episodes: run.env.n_episodes, batch_size: run.env.batch_size } }),
    ...(run.lerobot.eval_freq !== null && { eval_freq: run.lerobot.eval_freq }),
    world_size: world,
    backend,
  };
}

/** `craft train` and `craft train-craft`: the CLI's wiring of datasets, policy and trainer. */
export async function runTrain(args: ParsedArgs, command: string, craft: boolean): Promise<TrainRunSummary> {
  const run = resolveRunConfig(args, command, { craft });
  // The user's --steps only: the quickstart and the experiment pick their own smoke sizes.
  const steps = smokeCap("--steps", run.train.steps, SMOKE_STEPS);
  const env = run.env === null ? null : { ...run.env, n_episodes: smokeCap("--eval.n_episodes", run.env.n_episodes, SMOKE_EVAL_EPISODES) };
  return trainWithConfig(steps === run.train.steps && env === run.env ? run : { ...run, env, train: { ...run.train, steps } });
}

export async function trainWithConfig(run: RunConfig, options: { quiet?: boolean } = {}): Promise<TrainRunSummary> {
  const comm = await initDistributed({ mode: run.distributed });
  // Across ranks a failure must abort the whole job (no peer left hanging in a collective);
  // alone, it propagates as a normal error.
  const guard = <T>(body: () => Promise<T>): Promise<T> => (comm.size > 1 ? runDistributed(comm, body) : body());
  return guard(async () => {
    // Only rank 0 writes, so rank 0 holds the output directory; the others stop with it if it is refused.
    const notice = (line: string) => console.error(line);
    const lock = comm.isMainProcess ? lockOutputDir(run.train.output_dir, command(run), notice) : undefined;
    try {
      return await trainLocked(run, comm, options);
    } finally {
      lock?.release();
    }
  });
}

/**
 * Checks first, then writes: an existing output directory changes only once the directory, the
 * resume, the dataset, the policy, the anchor set and the free space have all been accepted.
 */
async function trainLocked(run: RunConfig, comm: Communicator, options: { quiet?: boolean }): Promise<TrainRunSummary> {
  const main = comm.isMainProcess;
  const outputDir = run.train.output_dir;
  if (main) await checkRunDirectory(run, (line) => void (options.quiet === true || console.error(line)));
  const device = (run.policyOverrides.device ?? run.policy?.device ?? "auto") as "auto" | "gpu" | "webgpu" | "wasm" | "cpu";
  const backend = await startBackend(device, options.quiet === true || !main);
  const craftEnabled = run.train.craft.enable;
  // Action chunks are gathered at the policy's chunk size: from the flags, or the checkpoint's config.json.
  const chunk = run.policy?.chunk_size ?? pretrainedChunkSize(run.policyPath!);
  const dataset = await openTaskDataset(run.dataset, chunk);
  const policy = await buildPolicy({
    policyPath: run.policyPath,
    config: run.policy,
    overrides: run.policyOverrides,
    dataset,
    tokenizer: run.tokenizer,
    seed: run.train.seed,
    statsRoots: run.dataset.stats_roots,
    renameMap: run.dataset.rename_map,
  });
  const anchorPath = run.train.craft.anchor_dataset_path;
  // A dry run (one step) without an anchor set uses the task data as the anchor.
  const anchors = craftEnabled ? (anchorPath !== null ? await openAnchors(anchorPath, chunk, run.dataset.exclude) : dataset) : undefined;
  // distill reads the cache's teacher outputs by token id: refused unless they were made with this policy's tokens.
  if (anchors !== undefined && run.train.craft.retention_loss === "distill") checkTeacherSignature(anchors, { ...policy.teacherSignature() });
  const evaluation = periodicEvaluation(run, policy, main);
  const hyper = { ...policy.config, ...pickHyper(run.policyOverrides) };
  const schedule = schedulerFor(hyper, run.train.steps);
  if (main) {
    await checkFreeSpace(outputDir, checkpointBytes(policy.numParameters, craftEnabled));
    if (run.overwrite) clearEarlierRun(outputDir);
    // LeRobot keeps train_config.json in every pretrained_model/ too; policy.save copies it there.
    policy.trainConfig = trainConfigRecord(run, policy.config, backend, comm.size);
    await writeJsonAtomic(join(outputDir, "train_config.json"), policy.trainConfig);
    if (!options.quiet) {
      console.error(
        `[craft] ${command(run)}: ${dataset.numFrames} frames from ${datasetRoot(run.dataset)}, ${policy.numParameters.toLocaleString()} parameters (${policy.config.preset}), ${run.train.steps} steps of batch ${run.train.batch_size}${comm.size > 1 ? ` × ${comm.size} ranks` : ""} → ${outputDir}`,
      );
    }
    if (craftEnabled && anchorPath === null) console.error("[craft] no craft.anchor_dataset_path: dry run, the task data stands in as the anchor set");
  }
  const taskSource = batchesOf(dataset, { batchSize: run.train.batch_size, seed: run.train.seed, rank: comm.rank, worldSize: comm.size });
  let lastMetrics: TrainMetrics | undefined;
  const common = {
    config: run.train,
    policy: comm.size > 1 ? globalTokenMean(policy, comm) : policy,
    taskSource,
    tensorIO: safetensorsIO,
    learningRate: schedule.lrAt,
    reduceGradients: comm.size > 1 ? (flat: Float32Array) => comm.allreduceMean(flat) : undefined,
    isMainProcess: main,
    progressStream: options.quiet ? undefined : process.stderr,
    onMetrics: (m: TrainMetrics) => void (lastMetrics = m),
    onStepEnd: evaluation,
  };
  let result: TrainResult;
  try {
    if (anchors !== undefined) {
      const anchorSource = batchesOf(anchors, {
        batchSize: run.train.craft.anchor_batch_size ?? run.train.batch_size,
        seed: run.train.seed + 1,
        rank: comm.rank,
        worldSize: comm.size,
      });
      result = await trainCraft({ ...common, anchorSource });
      await anchorSource.close();
    } else {
      result = await train(common);
    }
  } finally {
    await taskSource.close();
  }
  const dump = process.env.CRAFT_DEBUG_DUMP_WEIGHTS;
  if (dump !== undefined && dump !== "") await dumpFinalState(dump, comm, result, lastMetrics);
  policy.dispose();
  return { result, config: run, outputDir };
}

/** Loss positions the policy averages over (targets 1 … La − 1 where the loss mask is set), as its loss does. */
function lossTokens(inputs: ModelInputs): number {
  const La = inputs.actionLength;
  let count = 0;
  for (let b = 0; b < inputs.batchSize; b++) for (let j = 1; j < La; j++) if (inputs.lossMask[b * La + j]) count++;
  return count;
}

/**
 * The policy as a rank of a data-parallel job sees it. pi0-FAST's loss is a mean over the loss
 * tokens of a batch, and FAST encodes different chunks into different numbers of tokens, so the
 * plain average of the ranks' means is not the mean over the global batch (the ranks' slices hold
 * different token counts). Each rank's loss and gradients are scaled by
 * `local tokens × world size / global tokens` (one scalar all-reduce per micro-batch), so that
 * the trainer's all-reduce mean is exactly the token mean of the concatenated batch — what one
 * process training on the global batch computes.
 */
function globalTokenMean(policy: Pi0FastPolicy, comm: Communicator): TrainablePolicy<Parameters<Pi0FastPolicy["computeGradients"]>[0]> {
  return {
    evaluate: (batch) => policy.evaluate(batch),
    async computeGradients(batch, options: ComputeGradientsOptions = {}) {
      const inputs = policy.modelInputs(batch);
      const local = lossTokens(inputs);
      const [total] = await comm.allreduceScalars([local], "sum");
      const out = options.loss === "distill" ? await policy.computeGradients(batch, { loss: "distill" }) : policy.gradientsOf(inputs);
      const factor = total > 0 ? (local * comm.size) / total : 1;
      if (factor !== 1) for (const g of Object.values(out.grads)) for (let i = 0; i < g.length; i++) g[i] *= factor;
      return { loss: out.loss * factor, grads: out.grads, metrics: out.metrics };
    },
    getParameters: () => policy.getParameters(),
    setParameters: (params) => policy.setParameters(params),
    noWeightDecay: (name) => policy.noWeightDecay(name),
    save: (dir) => policy.save(dir),
  };
}

/**
 * Test hook (`CRAFT_DEBUG_DUMP_WEIGHTS=<dir>`): every rank writes its final parameters to
 * `<dir>/rank-<r>.safetensors`, with the CRaFT state and the last logged λ and ε in the metadata,
 * so that tests can compare ranks (only rank 0 writes checkpoints).
 */
async function dumpFinalState(dir: string, comm: Communicator, result: TrainResult, metrics: TrainMetrics | undefined): Promise<void> {
  await mkdir(dir, { recursive: true });
  const craft = metrics === undefined ? {} : { lambda: metrics.lambda, epsilon: metrics.epsilon, loss: metrics.loss };
  await safetensorsIO.write(join(dir, `rank-${comm.rank}.safetensors`), result.parameters, {
    rank: String(comm.rank),
    world_size: String(comm.size),
    step: String(result.step),
    craft_state: JSON.stringify(result.craftState ?? null),
    metrics: JSON.stringify(craft),
  });
}

/**
 * `--eval_freq=N --env.type=…`: the policy's features are checked against the environment now,
 * before anything is written, and on the main process only (as LeRobot's is_main_process) the
 * policy is evaluated closed loop every N steps. The other ranks skip it and wait for rank 0 in
 * the next step's all-reduce, so an evaluation must finish within CRAFT_COLLECTIVE_TIMEOUT_S.
 */
function periodicEvaluation(run: RunConfig, policy: Pi0FastPolicy, main: boolean): StepEndHook | undefined {
  if (run.env === null) return undefined;
  const origin = `env.type=${run.env.type}: the policy of this run (${run.policyPath !== null ? `policy.path ${run.policyPath}` : `built for ${datasetRoot(run.dataset)}`})`;
  checkPolicyMatchesEnv(policy, makeEnv({ type: run.env.type, task: run.env.task }), run.policyPath ?? "", origin, run.dataset.rename_map);
  // LeRobot's TrainPipelineConfig default: with an environment and no --eval_freq, every 20 000 steps; 0 turns it off.
  const evalFreq = run.lerobot.eval_freq ?? 20_000;
  if (!main || evalFreq === 0) return undefined;
  return evaluateDuringTraining(pi0FastClosedLoop(policy), {
    env: run.env,
    evalFreq,
    outputDir: run.train.output_dir,
    totalSteps: run.train.steps,
    seed: run.train.seed,
    maxEpisodesRendered: Math.min(TRAINING_EVAL_EPISODES_RENDERED, run.env.n_episodes),
  });
}

function command(run: RunConfig): string {
  return run.train.craft.enable ? "train-craft" : "train";
}

function pickHyper(overrides: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(overrides).filter(([k]) => k.startsWith("optimizer_") || k.startsWith("scheduler_")));
}
