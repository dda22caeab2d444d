import { spawn } from "node:child_process";
import { existsSync, promises as fs, readFileSync, readdirSync, readlinkSync } from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { METRIC_KEYS, train, trainCraft, type TrainMetrics } from "../src/index.js";
import { lastCheckpointDir, readTrainingState } from "../src/checkpoint.js";
import { ANCHOR_W, TASK_W, binaryTensorIO, makeLinearPolicy, makeRegressionSource } from "./fixtures/linear.mjs";
import { collector, config, sink, tmpDir } from "./helpers.js";

const DIM = 6;
const taskSource = () => makeRegressionSource({ dim: DIM, batchSize: 8, seed: 11, wTrue: TASK_W(DIM), bTrue: 0.5 });
const anchorSource = () => makeRegressionSource({ dim: DIM, batchSize: 8, seed: 23, wTrue: ANCHOR_W(DIM), bTrue: -0.2 });
const craftRun = (outputDir: string, overrides: Record<string, unknown> = {}) =>
  config({
    output_dir: outputDir,
    steps: 12,
    save_freq: 5,
    grad_clip_norm: 1,
    craft: { enable: true, retention_freq: 3, lambda_lr: 0.2, lambda_ema: 0.3 },
    ...overrides,
  });

const readMetrics = (dir: string): TrainMetrics[] =>
  readFileSync(path.join(dir, "metrics.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as TrainMetrics);

describe("checkpoints", () => {
  it("follow DESIGN §5's layout, every save_freq steps and at the end, with `last` on the newest", async () => {
    const dir = tmpDir();
    await trainCraft({
      config: craftRun(dir),
      policy: makeLinearPolicy({ dim: DIM }),
      taskSource: taskSource(),
      anchorSource: anchorSource(),
      tensorIO: binaryTensorIO,
      progressStream: sink(),
    });
    const checkpoints = path.join(dir, "checkpoints");
    expect(readdirSync(checkpoints).sort()).toEqual(["000005", "000010", "000012", "last"]);
    expect(readlinkSync(path.join(checkpoints, "last"))).toBe("000012");
    const step = path.join(checkpoints, "000010");
    expect(readdirSync(path.join(step, "pretrained_model")).sort()).toEqual(["config.json", "model.safetensors"]);
    expect(readdirSync(path.join(step, "training_state")).sort()).toEqual([
      "optimizer_param_groups.json",
      "optimizer_state.safetensors",
      "retention_gradient.safetensors",
      "trainer_state.json",
      "training_step.json",
    ]);
    const state = await readTrainingState(step, binaryTensorIO);
    expect(state.step).toBe(10);
    expect(state.optimizer.step).toBe(10);
    expect(Object.keys(state.optimizer.m).sort()).toEqual(["b", "w"]);
    expect(state.loader.task).toEqual({ index: 10 });
    expect(state.loader.anchor).toEqual({ index: 4 }); // steps 0, 3, 6, 9
    expect(state.craft!.state.lambda.lambda).toBeGreaterThanOrEqual(0);
    expect(state.craft!.retentionGradient!.w).toHaveLength(DIM);
    expect(typeof state.craft!.retentionLoss).toBe("number");
    expect(JSON.parse(readFileSync(path.join(step, "training_state", "training_step.json"), "utf8"))).toEqual({ step: 10 });
  });

  it("are atomic: a failure while saving leaves no final directory and `last` on the previous checkpoint", async () => {
    const dir = tmpDir();
    await expect(
      trainCraft({
        config: craftRun(dir),
        policy: makeLinearPolicy({ dim: DIM, failSaveAt: 2 }),
        taskSource: taskSource(),
        anchorSource: anchorSource(),
        tensorIO: binaryTensorIO,
        progressStream: sink(),
      }),
    ).rejects.toThrow(/disk full/);
    const checkpoints = path.join(dir, "checkpoints");
    expect(existsSync(path.join(checkpoints, "000010"))).toBe(false);
    expect(readlinkSync(path.join(checkpoints, "last"))).toBe("000005");
    // The failed save removed its partial directory itself.
    expect(readdirSync(checkpoints).some((e) => e.startsWith(".tmp-"))).toBe(false);
    const result = await trainCraft({
      config: craftRun(dir, { resume: true }),
      policy: makeLinearPolicy({ dim: DIM }),
      taskSource: taskSource(),
      anchorSource: anchorSource(),
      tensorIO: binaryTensorIO,
      progressStream: sink(),
    });
    expect(result.step).toBe(12);
    expect(readdirSync(checkpoints).sort()).toEqual(["000005", "000010", "000012", "last"]);
  });

  it("resume continues exactly: crash after a checkpoint, resume, same weights and losses as one run", async () => {
    const reference = tmpDir();
    const { metrics: refMetrics, onMetrics } = collector();
    const full = await trainCraft({
      config: craftRun(reference),
      policy: makeLinearPolicy({ dim: DIM, dropout: 0.25 }),
      taskSource: taskSource(),
      anchorSource: anchorSource(),
      tensorIO: binaryTensorIO,
      onMetrics,
      progressStream: sink(),
    });

    const dir = tmpDir();
    const crashing = makeLinearPolicy({ dim: DIM, dropout: 0.25 });
    const compute = crashing.computeGradients.bind(crashing);
    let calls = 0;
    crashing.computeGradients = async (batch, options) => {
      if (++calls === 10) throw new Error("crash (simulated)"); // inside step 8, after the step-5 checkpoint
      return compute(batch, options);
    };
    await expect(
      trainCraft({
        config: craftRun(dir),
        policy: crashing,
        taskSource: taskSource(),
        anchorSource: anchorSource(),
        tensorIO: binaryTensorIO,
        progressStream: sink(),
      }),
    ).rejects.toThrow(/crash/);
    expect(readMetrics(dir).length).toBeGreaterThan(5);

    const resumedPolicy = makeLinearPolicy({ dim: DIM, dropout: 0.25, initSeed: 99 });
    const resumed = await trainCraft({
      config: craftRun(dir, { resume: true }),
      policy: resumedPolicy,
      taskSource: taskSource(),
      anchorSource: anchorSource(),
      tensorIO: binaryTensorIO,
      progressStream: sink(),
    });
    expect(resumed.parameters).toEqual(full.parameters);
    expect(resumed.craftState).toEqual(full.craftState);
    // metrics.jsonl reads as one run: lines past the checkpoint from the crashed run were dropped.
    const lines = readMetrics(dir);
    expect(lines.map((m) => m.step)).toEqual(refMetrics.map((m) => m.step));
    expect(lines.map((m) => m.loss)).toEqual(refMetrics.map((m) => m.loss));
  });

  it("refuse to resume without a checkpoint, to resume CRaFT from a baseline one, and to overwrite a run", async () => {
    const empty = tmpDir();
    const args = { policy: makeLinearPolicy({ dim: DIM }), taskSource: taskSource(), tensorIO: binaryTensorIO, progressStream: sink() };
    await expect(train({ ...args, config: config({ output_dir: empty, resume: true }) })).rejects.toThrow(
      /resume=true but .*checkpoints\/last does not exist/,
    );
    const baseline = tmpDir();
    await train({ ...args, config: config({ output_dir: baseline, steps: 2 }) });
    await expect(train({ ...args, config: config({ output_dir: baseline, steps: 2 }) })).rejects.toThrow(/already holds checkpoints: pass resume=true/);
    await expect(
      trainCraft({ ...args, anchorSource: anchorSource(), config: config({ output_dir: baseline, steps: 4, resume: true }) }),
    ).rejects.toThrow(/a baseline checkpoint cannot resume a CRaFT run/);
  });
});

describe("metrics.jsonl", () => {
  it("holds one line per log with every documented key", async () => {
    const dir = tmpDir();
    await trainCraft({
      config: craftRun(dir, { log_freq: 4 }),
      policy: makeLinearPolicy({ dim: DIM }),
      taskSource: taskSource(),
      anchorSource: anchorSource(),
      tensorIO: binaryTensorIO,
      progressStream: sink(),
    });
    const lines = readMetrics(dir);
    expect(lines.map((m) => m.step)).toEqual([4, 8, 12]);
    for (const line of lines) {
      expect(Object.keys(line).sort()).toEqual([...METRIC_KEYS].sort());
      for (const key of METRIC_KEYS) expect(typeof line[key]).toBe("number");
      expect(line.samples_per_s).toBeGreaterThan(0);
    }
  });

  it("goes to a single redrawn line on a TTY and to plain lines otherwise, on the main process only", async () => {
    const tty = sink(true);
    await train({ config: config({ output_dir: tmpDir(), steps: 3 }), policy: makeLinearPolicy({ dim: DIM }), taskSource: taskSource(), tensorIO: binaryTensorIO, progressStream: tty });
    expect(tty.text().split("\r\x1b[2K").length).toBe(4);
    expect(tty.text().trimEnd().split("\n")).toHaveLength(1);
    const plain = sink(false);
    await train({ config: config({ output_dir: tmpDir(), steps: 3 }), policy: makeLinearPolicy({ dim: DIM }), taskSource: taskSource(), tensorIO: binaryTensorIO, progressStream: plain });
    expect(plain.text().trimEnd().split("\n").map((l) => l.split("  ")[0])).toEqual(["step 1/3", "step 2/3", "step 3/3"]);
    const worker = sink(false);
    const dir = tmpDir();
    const { metrics, onMetrics } = collector();
    await train({ config: config({ output_dir: dir, steps: 3 }), policy: makeLinearPolicy({ dim: DIM }), taskSource: taskSource(), tensorIO: binaryTensorIO, progressStream: worker, isMainProcess: false, onMetrics });
    expect(worker.text()).toBe("");
    expect(metrics).toHaveLength(3);
    expect(existsSync(path.join(dir, "metrics.jsonl"))).toBe(false);
    expect(existsSync(path.join(dir, "checkpoints"))).toBe(false);
  });
});

const CHILD = fileURLToPath(new URL("./fixtures/child-run.mjs", import.meta.url));

interface ChildOutcome {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly lines: string[];
}

/** Runs the child; `killWhen` sees each stdout line and returns a delay (ms) after which to SIGKILL it, or undefined. */
const runChild = (args: object, killWhen?: (line: string) => number | undefined): Promise<ChildOutcome> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, JSON.stringify(args)], { stdio: ["ignore", "pipe", "pipe"] });
    const lines: string[] = [];
    let stderr = "";
    let buffer = "";
    let scheduled = false;
    child.stderr.on("data", (d) => (stderr += String(d)));
    child.stdout.on("data", (d) => {
      buffer += String(d);
      const parts = buffer.split("\n");
      buffer = parts.pop()!;
      for (const line of parts) {
        lines.push(line);
        const delay = scheduled ? undefined : killWhen?.(line);
        if (delay !== undefined) {
          scheduled = true;
          setTimeout(() => child.kill("SIGKILL"), delay);
        }
      }
    });
    child.on("error", reject);
    child.on("close", (code, signal) => {
      if (code !== 0 && signal === null) reject(new Error(`child failed (${code}):\n${stderr}`));
      else resolve({ code, signal, lines });
    });
  });

describe("kill -9 and resume", () => {
  it("a run SIGKILLed at several points (mid-step and mid-checkpoint) and resumed ends with the uninterrupted run's weights", async () => {
    const timing = { delayMs: 8, saveDelayMs: 40 };
    const reference = tmpDir();
    const done = await runChild({ outputDir: reference, resume: false, ...timing });
    expect(done.lines.at(-1)).toBe("done");

    const dir = tmpDir();
    // Kill points: mid-step after step 6, inside the 3rd checkpoint write, mid-step after step 17 (+ a few ms), inside the 6th write.
    const killPlans: ((line: string) => number | undefined)[] = [
      (l) => (l === "step 6" ? 5 : undefined),
      (l) => (l === "save 2" ? 15 : undefined), // 2nd save of this process: the step-12 checkpoint
      (l) => (l === "step 17" ? 13 : undefined),
      (l) => (l === "save 2" ? 1 : undefined),
    ];
    let resume = false;
    let kills = 0;
    let sawTornCheckpoint = false;
    for (let attempt = 0; attempt < 10; attempt++) {
      const outcome = await runChild({ outputDir: dir, resume, ...timing }, killPlans[attempt]);
      if (outcome.signal === "SIGKILL") {
        kills += 1;
        const entries = readdirSync(path.join(dir, "checkpoints"));
        if (entries.some((e) => e.startsWith(".tmp-"))) sawTornCheckpoint = true;
        // `last` always names a complete checkpoint.
        const last = (await lastCheckpointDir(dir))!;
        expect(existsSync(path.join(last, "pretrained_model", "model.safetensors"))).toBe(true);
        expect(existsSync(path.join(last, "training_state", "trainer_state.json"))).toBe(true);
        resume = true;
        continue;
      }
      expect(outcome.code).toBe(0);
      break;
    }
    expect(kills).toBe(4);
    expect(sawTornCheckpoint).toBe(true);

    const finalWeights = async (outputDir: string) =>
      (await binaryTensorIO.read(path.join((await lastCheckpointDir(outputDir))!, "pretrained_model", "model.safetensors"))).tensors;
    const expected = await finalWeights(reference);
    const actual = await finalWeights(dir);
    expect(readlinkSync(path.join(dir, "checkpoints", "last"))).toBe("000030");
    for (const name of Object.keys(expected)) {
      for (let i = 0; i < expected[name].length; i++) expect(Math.abs(actual[name][i] - expected[name][i])).toBeLessThanOrEqual(1e-6);
    }
    const refState = await readTrainingState((await lastCheckpointDir(reference))!, binaryTensorIO);
    const state = await readTrainingState((await lastCheckpointDir(dir))!, binaryTensorIO);
    expect(state.craft!.state).toEqual(refState.craft!.state);
    expect(state.rng).toEqual(refState.rng);
    expect(readMetrics(dir).map((m) => [m.step, m.loss])).toEqual(readMetrics(reference).map((m) => [m.step, m.loss]));
    await fs.rm(dir, { recursive: true, force: true });
  });
});
