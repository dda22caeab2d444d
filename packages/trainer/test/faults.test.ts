import { existsSync, promises as fs, readFileSync, readdirSync, readlinkSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { readLastCheckpointSummary, train, type TrainMetrics } from "../src/index.js";
import { TASK_W, binaryTensorIO, makeLinearPolicy, makeRegressionSource } from "./fixtures/linear.mjs";
import { config, sink, tmpDir } from "./helpers.js";

const DIM = 4;
const taskSource = () => makeRegressionSource({ dim: DIM, batchSize: 4, seed: 5, wTrue: TASK_W(DIM), bTrue: 0.1 });
const run = (outputDir: string, overrides: Record<string, unknown> = {}) =>
  train({
    config: config({ output_dir: outputDir, steps: 4, save_freq: 2, log_freq: 1, ...overrides }),
    policy: makeLinearPolicy({ dim: DIM }),
    taskSource: taskSource(),
    tensorIO: binaryTensorIO,
    progressStream: sink(),
  });
const steps = (file: string): number[] =>
  readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => (JSON.parse(l) as TrainMetrics).step);

afterEach(() => {
  delete process.env.CRAFT_FAULT;
  delete process.env.CRAFT_FAULT_FREE_BYTES;
});

describe("storage faults while saving", () => {
  it("ENOSPC at a save names the path, removes the partial checkpoint and leaves `last` on the previous one", async () => {
    const dir = tmpDir();
    process.env.CRAFT_FAULT = "enospc@write-state:4";
    const error = await run(dir).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(error?.message).toMatch(/step-4 checkpoint: no space left on the device \(ENOSPC\) writing .*checkpoints\/\.tmp-000004-\d+\/training_state/);
    expect(error?.message).toContain(dir);
    const checkpoints = path.join(dir, "checkpoints");
    expect(readdirSync(checkpoints).sort()).toEqual(["000002", "last"]);
    expect(readlinkSync(path.join(checkpoints, "last"))).toBe("000002");
    expect((await readLastCheckpointSummary(dir))?.step).toBe(2);
  });

  it("EIO is named the same way", async () => {
    const dir = tmpDir();
    process.env.CRAFT_FAULT = "eio@write-state:2";
    await expect(run(dir)).rejects.toThrow(/step-2 checkpoint: input\/output error \(EIO\) writing /);
    expect(existsSync(path.join(dir, "checkpoints", "last"))).toBe(false);
  });

  it("too little free space stops the run before its first step, naming the path and both sizes", async () => {
    const dir = tmpDir();
    // Weights + AdamW's two moments, float32: 3 × 4 bytes per parameter.
    const count = Object.values(makeLinearPolicy({ dim: DIM }).getParameters()).reduce((n, p) => n + p.length, 0);
    const needed = count * 12;
    process.env.CRAFT_FAULT_FREE_BYTES = String(needed);
    await expect(run(dir, { steps: 1 })).resolves.toBeDefined();
    const small = tmpDir();
    process.env.CRAFT_FAULT_FREE_BYTES = String(needed - 1);
    await expect(run(small)).rejects.toThrow(`output_dir ${small}: ${needed - 1} B (${needed - 1} bytes) free, a checkpoint needs ${needed} B (${needed} bytes)`);
    // Refused before anything was written.
    expect(readdirSync(small)).toEqual([]);
  });
});

describe("metrics.jsonl is never truncated", () => {
  it("a new run refuses a directory whose metrics.jsonl has lines, and leaves them", async () => {
    const dir = tmpDir();
    process.env.CRAFT_FAULT = "enospc@write-state:2"; // dies before its first checkpoint, after logging steps 1 and 2
    await expect(run(dir)).rejects.toThrow(/ENOSPC/);
    delete process.env.CRAFT_FAULT;
    const before = readFileSync(path.join(dir, "metrics.jsonl"), "utf8");
    expect(steps(path.join(dir, "metrics.jsonl"))).toEqual([1, 2]);
    await expect(run(dir)).rejects.toThrow(`${path.join(dir, "metrics.jsonl")} holds the metrics of an earlier run: pass resume=true`);
    expect(readFileSync(path.join(dir, "metrics.jsonl"), "utf8")).toBe(before);
  });

  it("resume=true on a run with metrics and no checkpoint starts at step 0 and keeps the old lines", async () => {
    const dir = tmpDir();
    process.env.CRAFT_FAULT = "enospc@write-state:2";
    await expect(run(dir)).rejects.toThrow(/ENOSPC/);
    delete process.env.CRAFT_FAULT;
    const result = await run(dir, { resume: true });
    expect(result.step).toBe(4);
    expect(steps(path.join(dir, "metrics.jsonl"))).toEqual([1, 2, 3, 4]);
    expect(steps(path.join(dir, "metrics.superseded.jsonl"))).toEqual([1, 2]);
  });

  it("a resume moves the lines logged after its checkpoint (and a torn line) aside instead of deleting them", async () => {
    const dir = tmpDir();
    process.env.CRAFT_FAULT = "enospc@write-state:4";
    await expect(run(dir)).rejects.toThrow(/ENOSPC/);
    delete process.env.CRAFT_FAULT;
    await fs.appendFile(path.join(dir, "metrics.jsonl"), '{"step": 5, "lo');
    const result = await run(dir, { resume: true });
    expect(result.step).toBe(4);
    expect(steps(path.join(dir, "metrics.jsonl"))).toEqual([1, 2, 3, 4]);
    const superseded = readFileSync(path.join(dir, "metrics.superseded.jsonl"), "utf8").trim().split("\n");
    expect(superseded).toHaveLength(3);
    expect(superseded.slice(0, 2).map((l) => (JSON.parse(l) as TrainMetrics).step)).toEqual([3, 4]);
    expect(superseded[2]).toBe('{"step": 5, "lo');
  });

  it("resume=true with neither a checkpoint nor metrics is refused", async () => {
    const dir = tmpDir();
    writeFileSync(path.join(dir, "notes.txt"), "x");
    await expect(run(dir, { resume: true })).rejects.toThrow(/no checkpoint to resume from/);
  });
});
