import { mkdir, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { schedulerFor, type BackendInfo } from "@craft/policy-pi0fast";
import { initDistributed, runDistributed, train, trainCraft, type TrainResult } from "@craft/trainer";
import type { ParsedArgs } from "../flags.js";
import { resolveRunConfig, type RunConfig } from "../runConfig.js";
import { batchesOf, buildPolicy, datasetRoot, openAnchors, openTaskDataset, safetensorsIO, startBackend } from "../setup.js";

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
    world_size: world,
    backend,
  };
}

/** `craft train` and `craft train-craft`: the CLI's wiring of datasets, policy and trainer. */
export async function runTrain(args: ParsedArgs, command: string, craft: boolean): Promise<TrainRunSummary> {
  const run = resolveRunConfig(args, command, { craft });
  return trainWithConfig(run);
}

export async function trainWithConfig(run: RunConfig, options: { quiet?: boolean } = {}): Promise<TrainRunSummary> {
  const comm = await initDistributed({ mode: run.distributed });
  // Across ranks a failure must abort the whole job (no peer left hanging in a collective);
  // alone, it propagates as a normal error.
  const guard = <T>(body: () => Promise<T>): Promise<T> => (comm.size > 1 ? runDistributed(comm, body) : body());
  return guard(async () => {
    const main = comm.isMainProcess;
    const device = (run.policyOverrides.device ?? run.policy?.device ?? "auto") as "auto" | "gpu" | "webgpu" | "wasm" | "cpu";
    const backend = await startBackend(device, options.quiet === true || !main);
    const craftEnabled = run.train.craft.enable;
    // The chunk size comes from the policy; a checkpoint's config is read once the policy is built.
    const probeChunk = run.policy?.chunk_size;
    let dataset = probeChunk !== undefined ? await openTaskDataset(run.dataset, probeChunk) : null;
    const policy = await buildPolicy({
      policyPath: run.policyPath,
      config: run.policy,
      overrides: run.policyOverrides,
      dataset: dataset ?? (await openTaskDataset(run.dataset, 1)),
      tokenizer: run.tokenizer,
      seed: run.train.seed,
      statsRoots: run.dataset.stats_roots,
    });
    const chunk = policy.config.chunk_size;
    if (dataset === null) dataset = await openTaskDataset(run.dataset, chunk);
    const hyper = { ...policy.config, ...pickHyper(run.policyOverrides) };
    const schedule = schedulerFor(hyper, run.train.steps);
    const outputDir = run.train.output_dir;
    if (main) {
      await mkdir(outputDir, { recursive: true });
      await writeJsonAtomic(join(outputDir, "train_config.json"), trainConfigRecord(run, policy.config, backend, comm.size));
      if (!options.quiet) {
        console.error(
          `[craft] ${command(run)}: ${dataset.numFrames} frames from ${datasetRoot(run.dataset)}, ${policy.numParameters.toLocaleString()} parameters (${policy.config.preset}), ${run.train.steps} steps of batch ${run.train.batch_size}${comm.size > 1 ? ` × ${comm.size} ranks` : ""} → ${outputDir}`,
        );
      }
    }
    const taskSource = batchesOf(dataset, { batchSize: run.train.batch_size, seed: run.train.seed, rank: comm.rank, worldSize: comm.size });
    const common = {
      config: run.train,
      policy,
      taskSource,
      tensorIO: safetensorsIO,
      learningRate: schedule.lrAt,
      reduceGradients: comm.size > 1 ? (flat: Float32Array) => comm.allreduceMean(flat) : undefined,
      isMainProcess: main,
      progressStream: options.quiet ? undefined : process.stderr,
    };
    let result: TrainResult;
    try {
      if (craftEnabled) {
        const anchorPath = run.train.craft.anchor_dataset_path;
        const anchors =
          anchorPath !== null
            ? await openAnchors(anchorPath, chunk, run.dataset.exclude)
            : // A dry run (one step) without an anchor set uses the task data as the anchor.
              dataset;
        if (anchorPath === null && main) console.error("[craft] no craft.anchor_dataset_path: dry run, the task data stands in as the anchor set");
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
    policy.dispose();
    return { result, config: run, outputDir };
  });
}

function command(run: RunConfig): string {
  return run.train.craft.enable ? "train-craft" : "train";
}

function pickHyper(overrides: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(overrides).filter(([k]) => k.startsWith("optimizer_") || k.startsWith("scheduler_")));
}
