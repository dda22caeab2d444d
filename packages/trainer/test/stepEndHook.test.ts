import { readFileSync, existsSync } from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { trainCraft, type NamedArrays, type StepEndHook, type TrainResult } from "../src/index.js";
import { ANCHOR_W, TASK_W, binaryTensorIO, makeLinearPolicy, makeRegressionSource, type LinearPolicy } from "./fixtures/linear.mjs";
import { collector, config, sink, tmpDir } from "./helpers.js";

const DIM = 5;
const taskSource = () => makeRegressionSource({ dim: DIM, batchSize: 6, seed: 11, wTrue: TASK_W(DIM), bTrue: 0.5 });
const anchorSource = () => makeRegressionSource({ dim: DIM, batchSize: 6, seed: 23, wTrue: ANCHOR_W(DIM), bTrue: -0.2 });

/** A CRaFT run with dropout (the policy draws from the trainer's per-batch seeds), so any RNG drift shows. */
async function run(
  outputDir: string,
  overrides: Record<string, unknown>,
  hook?: (policy: LinearPolicy) => StepEndHook,
  isMainProcess = true,
): Promise<{ result: TrainResult; losses: (number | null)[]; policy: LinearPolicy }> {
  const policy = makeLinearPolicy({ dim: DIM, dropout: 0.3 });
  const { metrics, onMetrics } = collector();
  const result = await trainCraft({
    config: config({ output_dir: outputDir, steps: 6, craft: { enable: true, retention_freq: 2, epsilon_schedule: "constant" }, ...overrides }),
    policy,
    taskSource: taskSource(),
    anchorSource: anchorSource(),
    tensorIO: binaryTensorIO,
    onMetrics,
    progressStream: sink(),
    isMainProcess,
    onStepEnd: hook?.(policy),
  });
  return { result, losses: metrics.map((m) => m.loss), policy };
}

const readLines = (dir: string): Record<string, unknown>[] =>
  readFileSync(path.join(dir, "metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);

/** A stand-in evaluation: a number computed from the policy's current weights, every `every` steps. */
const weightSumEvaluation =
  (every: number, seen: { step: number; params: NamedArrays }[]): ((policy: LinearPolicy) => StepEndHook) =>
  (policy) =>
  async (step) => {
    const params = policy.getParameters();
    seen.push({ step, params });
    if (step % every !== 0) return undefined;
    const sum = Object.values(params).reduce((s, p) => s + p.reduce((a, b) => a + b, 0), 0);
    return { "eval/weight_sum": sum, "eval/n_episodes": 2 };
  };

describe("onStepEnd (periodic evaluation hook)", () => {
  it("is awaited after every step with the policy as updated by that step, and its values are logged at their step", async () => {
    const seen: { step: number; params: NamedArrays }[] = [];
    const dir = tmpDir();
    const withHook = await run(dir, {}, weightSumEvaluation(3, seen));
    expect(seen.map((s) => s.step)).toEqual([1, 2, 3, 4, 5, 6]);
    // The hook at step k sees exactly the weights a k-step run ends with.
    const threeSteps = await run(tmpDir(), { steps: 3 });
    expect(seen[2]!.params).toEqual(threeSteps.result.parameters);
    expect(seen[5]!.params).toEqual(withHook.result.parameters);

    const lines = readLines(dir);
    const evalLines = lines.filter((l) => "eval/weight_sum" in l);
    expect(evalLines.map((l) => l.step)).toEqual([3, 6]);
    const sumAt = (k: number) => Object.values(seen[k - 1]!.params).reduce((s, p) => s + p.reduce((a, b) => a + b, 0), 0);
    expect(evalLines.map((l) => l["eval/weight_sum"])).toEqual([sumAt(3), sumAt(6)]);
    expect(evalLines.every((l) => l["eval/n_episodes"] === 2 && !("loss" in l))).toBe(true);
    // Each evaluation line follows the training line of its step.
    const at3 = lines.findIndex((l) => l.step === 3 && "loss" in l);
    expect(lines[at3 + 1]).toBe(evalLines[0]);
  });

  it("leaves training untouched: with and without the hook, the same losses and parameters", async () => {
    const plain = await run(tmpDir(), {});
    const hooked = await run(tmpDir(), {}, weightSumEvaluation(1, []));
    expect(hooked.losses).toEqual(plain.losses);
    expect(hooked.result.parameters).toEqual(plain.result.parameters);
    expect(hooked.result.craftState).toEqual(plain.result.craftState);
    expect(hooked.policy.calls).toEqual(plain.policy.calls);
  });

  it("resumes exactly with the hook, and an evaluation logged before the checkpoint is kept once", async () => {
    const reference = await run(tmpDir(), { save_freq: 3 }, weightSumEvaluation(3, []));
    const dir = tmpDir();
    // The run dies in its evaluation after step 4, past the step-3 checkpoint and evaluation.
    const dying = (policy: LinearPolicy): StepEndHook => {
      const evaluate = weightSumEvaluation(3, [])(policy);
      return async (step) => {
        if (step === 4) throw new Error("evaluation crashed (simulated)");
        return evaluate(step);
      };
    };
    await expect(run(dir, { save_freq: 3 }, dying)).rejects.toThrow(/simulated/);
    const resumed = await run(dir, { save_freq: 3, resume: true }, weightSumEvaluation(3, []));
    expect(resumed.result.parameters).toEqual(reference.result.parameters);
    expect(readLines(dir).filter((l) => "eval/weight_sum" in l).map((l) => l.step)).toEqual([3, 6]);
  });

  it("on a rank other than the main one it still runs (and may skip), and nothing is logged", async () => {
    const seen: { step: number; params: NamedArrays }[] = [];
    const dir = tmpDir();
    await run(dir, { steps: 2 }, weightSumEvaluation(1, seen), false);
    expect(seen.map((s) => s.step)).toEqual([1, 2]);
    expect(existsSync(path.join(dir, "metrics.jsonl"))).toBe(false);
  });
});
