import { describe, expect, it } from "vitest";
import { evaluatePolicy, train, trainCraft, type TrainMetrics } from "../src/index.js";
import { lastCheckpointDir, readTrainingState } from "../src/checkpoint.js";
import { ANCHOR_W, TASK_W, binaryTensorIO, makeLinearPolicy, makeRegressionSource } from "./fixtures/linear.mjs";
import { collector, config, sink, tmpDir } from "./helpers.js";

const DIM = 6;
const taskSource = (batchSize = 8, poison: number[] = []) =>
  makeRegressionSource({ dim: DIM, batchSize, seed: 11, wTrue: TASK_W(DIM), bTrue: 0.5, poison });
const anchorSource = (poison: number[] = []) =>
  makeRegressionSource({ dim: DIM, batchSize: 8, seed: 23, wTrue: ANCHOR_W(DIM), bTrue: -0.2, poison });

const runBaseline = async (overrides: Record<string, unknown> = {}, options: { batchSize?: number; dropout?: number } = {}) => {
  const policy = makeLinearPolicy({ dim: DIM, dropout: options.dropout });
  const { metrics, onMetrics } = collector();
  const result = await train({
    config: config({ output_dir: tmpDir(), ...overrides }),
    policy,
    taskSource: taskSource(options.batchSize ?? 8),
    tensorIO: binaryTensorIO,
    onMetrics,
    progressStream: sink(),
  });
  return { policy, metrics, result };
};

const runCraft = async (craft: Record<string, unknown>, overrides: Record<string, unknown> = {}, dropout = 0) => {
  const policy = makeLinearPolicy({ dim: DIM, dropout });
  const { metrics, onMetrics } = collector();
  const result = await trainCraft({
    config: config({ output_dir: tmpDir(), craft: { enable: true, ...craft }, ...overrides }),
    policy,
    taskSource: taskSource(),
    anchorSource: anchorSource(),
    tensorIO: binaryTensorIO,
    onMetrics,
    progressStream: sink(),
  });
  return { policy, metrics, result };
};

const losses = (metrics: TrainMetrics[]) => metrics.map((m) => m.task_loss);

describe("train (baseline)", () => {
  it("decreases the loss of a linear regression", async () => {
    const { metrics } = await runBaseline({ steps: 60 });
    expect(metrics).toHaveLength(60);
    const first = metrics[0].loss!;
    const last = metrics[metrics.length - 1].loss!;
    expect(last).toBeLessThan(first * 0.1);
    expect(metrics.every((m) => m.retention_loss === null && m.lambda === null)).toBe(true);
  });

  it("is deterministic: the same seed gives the same losses, another seed other ones", async () => {
    const a = await runBaseline({ steps: 15 }, { dropout: 0.3 });
    const b = await runBaseline({ steps: 15 }, { dropout: 0.3 });
    const c = await runBaseline({ steps: 15, seed: 4 }, { dropout: 0.3 });
    expect(losses(a.metrics)).toEqual(losses(b.metrics));
    expect(a.result.parameters).toEqual(b.result.parameters);
    expect(losses(c.metrics)).not.toEqual(losses(a.metrics));
  });

  it("accumulating 2 micro-batches of 4 equals one batch of 8 (mean loss)", async () => {
    const whole = await runBaseline({ steps: 10, grad_clip_norm: 1 }, { batchSize: 8 });
    const split = await runBaseline({ steps: 10, grad_clip_norm: 1, gradient_accumulation_steps: 2, batch_size: 4 }, { batchSize: 4 });
    for (const name of ["w", "b"]) {
      const x = whole.result.parameters[name];
      const y = split.result.parameters[name];
      for (let i = 0; i < x.length; i++) expect(Math.abs(x[i] - y[i])).toBeLessThan(1e-6);
    }
    whole.metrics.forEach((m, i) => expect(split.metrics[i].task_loss!).toBeCloseTo(m.task_loss!, 6));
    expect(whole.result.parameters.w).not.toEqual(makeLinearPolicy({ dim: DIM }).getParameters().w);
  });

  it("clips the global gradient norm before AdamW (first moment = (1−β1)·clipped gradient)", async () => {
    const firstMomentNorm = async (clip: number) => {
      const dir = tmpDir();
      const { metrics } = await runBaseline({ steps: 1, grad_clip_norm: clip, output_dir: dir });
      const state = await readTrainingState((await lastCheckpointDir(dir))!, binaryTensorIO);
      const m = state.optimizer.m;
      const norm = Math.sqrt([...m.w, ...m.b].reduce((s, x) => s + x * x, 0)) / (1 - 0.9);
      return { norm, gradNorm: metrics[0].grad_norm! };
    };
    const clipped = await firstMomentNorm(0.5);
    const free = await firstMomentNorm(0);
    expect(clipped.gradNorm).toBeGreaterThan(0.5);
    expect(clipped.gradNorm).toBe(free.gradNorm); // reported before clipping
    expect(clipped.norm).toBeCloseTo(0.5, 5);
    expect(free.norm).toBeCloseTo(free.gradNorm, 5);
  });

  it("never updates a parameter the policy returns no gradient for", async () => {
    const { result } = await runBaseline({ steps: 5 });
    expect(Array.from(result.parameters.frozen)).toEqual([1, 2, 3]);
  });

  it("reports learning rates from the injected schedule, per 0-based step", async () => {
    const policy = makeLinearPolicy({ dim: DIM });
    const { metrics, onMetrics } = collector();
    await train({
      config: config({ output_dir: tmpDir(), steps: 4 }),
      policy,
      taskSource: taskSource(),
      tensorIO: binaryTensorIO,
      learningRate: (step) => 0.01 * (step + 1),
      onMetrics,
      progressStream: sink(),
    });
    expect(metrics.map((m) => m.lr)).toEqual([0.01, 0.02, 0.03, 0.04]);
  });
});

describe("trainCraft", () => {
  it("calls craft-core: surgery=none, λ=0 and λ_lr=0 reproduce the baseline's losses and weights exactly", async () => {
    const baseline = await runBaseline({ steps: 25, grad_clip_norm: 1 }, { dropout: 0.2 });
    const craft = await runCraft({ surgery: "none", initial_lambda: 0, lambda_lr: 0 }, { steps: 25, grad_clip_norm: 1 }, 0.2);
    expect(losses(craft.metrics)).toEqual(losses(baseline.metrics));
    expect(craft.result.parameters).toEqual(baseline.result.parameters);
    // …and it did compute retention gradients and CRaFT metrics on the way.
    expect(craft.policy.calls.filter((c) => c.loss === "replay")).toHaveLength(25);
    expect(craft.metrics.every((m) => m.lambda === 0 && m.retention_loss !== null && m.cosine !== null)).toBe(true);
  });

  it("raises λ while the retention loss exceeds ε, and the retention loss stays lower than without CRaFT", async () => {
    const eps = { epsilon_schedule: "constant", epsilon_start: 0.05, epsilon_end: 0.05 };
    const { metrics, result } = await runCraft({ ...eps, initial_lambda: 0.1, lambda_lr: 0.5 }, { steps: 40 });
    expect(metrics[0].violation!).toBeGreaterThan(0);
    expect(result.craftState!.lambda.lambda).toBeGreaterThan(0.1);
    const lambdas = metrics.map((m) => m.lambda!);
    expect(lambdas[lambdas.length - 1]).toBeGreaterThan(lambdas[0]);
    expect(metrics.every((m) => m.epsilon === 0.05)).toBe(true);
    // Without CRaFT the policy forgets the anchor task further.
    const baseline = await runBaseline({ steps: 40 });
    const anchorLoss = async (parameters: Record<string, Float32Array>) => {
      const p = makeLinearPolicy({ dim: DIM });
      p.setParameters(parameters);
      return (await evaluatePolicy(p, anchorSource(), 4)).loss;
    };
    expect(await anchorLoss(result.parameters)).toBeLessThan(await anchorLoss(baseline.result.parameters));
  });

  it("lowers λ towards 0 when the retention loss is well within ε", async () => {
    const { result } = await runCraft(
      { epsilon_schedule: "constant", epsilon_start: 100, epsilon_end: 100, initial_lambda: 1, lambda_lr: 0.01 },
      { steps: 5 },
    );
    expect(result.craftState!.lambda.lambda).toBe(0);
  });

  it("retention_freq=4 computes the anchor gradient at 1 step in 4 and reuses it in between", async () => {
    const { policy, metrics } = await runCraft({ retention_freq: 4 }, { steps: 12 });
    const anchorCalls = policy.calls.filter((c) => c.loss === "replay");
    const taskCalls = policy.calls.filter((c) => c.loss === undefined);
    expect(taskCalls).toHaveLength(12);
    expect(anchorCalls).toHaveLength(3);
    // Reused steps see the same retention loss as the step that computed it.
    expect(metrics[1].retention_loss).toBe(metrics[0].retention_loss);
    expect(metrics[3].retention_loss).toBe(metrics[0].retention_loss);
    expect(metrics[4].retention_loss).not.toBe(metrics[0].retention_loss);
  });

  it("passes retention_loss=distill to the policy for anchor batches", async () => {
    const { policy } = await runCraft({ retention_loss: "distill" }, { steps: 2 });
    expect(policy.calls.filter((c) => c.loss === "distill")).toHaveLength(2);
  });

  it("reports conflict_rate and cosine over the log window", async () => {
    const { metrics } = await runCraft({}, { steps: 8, log_freq: 4 });
    expect(metrics.map((m) => m.step)).toEqual([4, 8]);
    for (const m of metrics) {
      expect(m.conflict_rate! * 4).toBe(Math.round(m.conflict_rate! * 4));
      expect(Math.abs(m.cosine!)).toBeLessThanOrEqual(1);
      expect(m.task_grad_norm_after!).toBeLessThanOrEqual(m.task_grad_norm! + 1e-9);
    }
  });
});

describe("non-finite steps", () => {
  it("skip the update (weights, moments, λ), count it and log it", async () => {
    const policy = makeLinearPolicy({ dim: DIM });
    const seen: Float32Array[] = [];
    const setParameters = policy.setParameters.bind(policy);
    policy.setParameters = (p) => {
      seen.push(Float32Array.from(p.w));
      setParameters(p);
    };
    const { metrics, onMetrics } = collector();
    const progress = sink();
    const result = await trainCraft({
      config: config({
        output_dir: tmpDir(),
        steps: 6,
        craft: { lambda_lr: 1, epsilon_schedule: "constant", epsilon_start: 0.001, epsilon_end: 0.001 },
      }),
      policy,
      taskSource: taskSource(8, [2]),
      anchorSource: anchorSource(),
      tensorIO: binaryTensorIO,
      onMetrics,
      progressStream: progress,
    });
    expect(result.nonfiniteSkipped).toBe(1);
    expect(seen).toHaveLength(5);
    expect(metrics[2].loss).toBeNull();
    expect(metrics[2].nonfinite_skipped).toBe(1);
    expect(metrics[1].nonfinite_skipped).toBe(0);
    // λ after the skipped step is the λ before it: step 4 merges with the λ step 2 produced.
    expect(metrics[3].lambda!).toBeCloseTo(metrics[1].lambda! + (metrics[1].retention_loss! - 0.001) * 1, 12);
    expect(metrics[3].lambda!).toBeGreaterThan(metrics[1].lambda!);
    expect(progress.text()).toMatch(/step 3: non-finite loss or gradient \(task loss NaN, retention loss [0-9.]+\); step skipped, no update \(1 in a row, 1 in total\)/);
  });

  it("a non-finite retention gradient also skips the step", async () => {
    const policy = makeLinearPolicy({ dim: DIM });
    const result = await trainCraft({
      config: config({ output_dir: tmpDir(), steps: 4 }),
      policy,
      taskSource: taskSource(),
      anchorSource: anchorSource([1]),
      tensorIO: binaryTensorIO,
      progressStream: sink(),
    });
    expect(result.nonfiniteSkipped).toBe(1);
  });

  it("an infinite gradient with a finite loss also skips the step, in the baseline and in CRaFT", async () => {
    for (const craft of [false, true]) {
      const policy = makeLinearPolicy({ dim: DIM });
      const compute = policy.computeGradients.bind(policy);
      let calls = 0;
      policy.computeGradients = async (batch, options) => {
        const out = await compute(batch, options);
        calls += 1;
        if (options?.loss === undefined && calls === 3) out.grads.w[1] = Infinity;
        return out;
      };
      const args = { config: config({ output_dir: tmpDir(), steps: 4 }), policy, taskSource: taskSource(), tensorIO: binaryTensorIO, progressStream: sink() };
      const result = craft ? await trainCraft({ ...args, anchorSource: anchorSource() }) : await train(args);
      expect(result.nonfiniteSkipped).toBe(1);
      expect(Array.from(result.parameters.w).every(Number.isFinite)).toBe(true);
    }
  });

  it("stop training with a clear error after max_consecutive_nonfinite in a row", async () => {
    const policy = makeLinearPolicy({ dim: DIM });
    await expect(
      train({
        config: config({ output_dir: tmpDir(), steps: 20, max_consecutive_nonfinite: 3 }),
        policy,
        taskSource: taskSource(8, [4, 5, 6, 7]),
        tensorIO: binaryTensorIO,
        progressStream: sink(),
      }),
    ).rejects.toThrow(/training stopped at step 7: 3 consecutive steps had a non-finite loss or gradient \(max_consecutive_nonfinite=3\)/);
  });
});

describe("data-parallel hook", () => {
  it("sees the flat task and retention gradients (loss appended) before craft-core, and its result is used", async () => {
    const policy = makeLinearPolicy({ dim: DIM });
    const { metrics, onMetrics } = collector();
    await trainCraft({
      config: config({ output_dir: tmpDir(), steps: 2 }),
      policy,
      taskSource: taskSource(),
      anchorSource: anchorSource(),
      tensorIO: binaryTensorIO,
      onMetrics,
      progressStream: sink(),
      // Pretend a second rank had twice our gradient and loss: the average is 1.5×.
      reduceGradients: async (flat) => flat.map((x) => x * 1.5),
    });
    const plain = await runCraft({}, { steps: 2 });
    expect(metrics[0].task_loss!).toBeCloseTo(plain.metrics[0].task_loss! * 1.5, 5);
    expect(metrics[0].retention_loss!).toBeCloseTo(plain.metrics[0].retention_loss! * 1.5, 5);
    expect(metrics[0].task_grad_norm!).toBeCloseTo(plain.metrics[0].task_grad_norm! * 1.5, 4);
  });
});

describe("evaluatePolicy", () => {
  it("averages the loss and the policy's metrics over the batches", async () => {
    const policy = makeLinearPolicy({ dim: DIM });
    const source = taskSource();
    const expected: number[] = [];
    const copy = taskSource();
    for (let i = 0; i < 3; i++) expected.push((await policy.evaluate(await copy.next())).loss);
    const result = await evaluatePolicy(policy, source, 3);
    expect(result.loss).toBeCloseTo((expected[0] + expected[1] + expected[2]) / 3, 12);
    expect(result.metrics.mse).toBeCloseTo(result.loss, 12);
    await expect(evaluatePolicy(policy, source, 0)).rejects.toThrow(/numBatches/);
  });
});
