import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { train } from "../src/index.js";
import { TASK_W, binaryTensorIO, makeLinearPolicy, makeRegressionSource } from "./fixtures/linear.mjs";
import { config, sink, tmpDir } from "./helpers.js";

const hasPython = spawnSync("python3", ["-c", "pass"]).status === 0;
const realWandb = hasPython && spawnSync("python3", ["-c", "import wandb"]).status === 0;
const DIM = 4;

const FAKE_WANDB = `
import json, os
_out = open(os.environ["FAKE_WANDB_LOG"], "a")
def _write(**record):
    _out.write(json.dumps(record) + "\\n")
    _out.flush()
def init(project=None, mode=None, config=None, dir=None):
    _write(call="init", project=project, mode=mode, env_mode=os.environ.get("WANDB_MODE"), steps=config["steps"])
def log(metrics, step=None):
    _write(call="log", step=step, metrics=metrics)
def finish():
    _write(call="finish")
`;

const run = (wandb: Record<string, unknown>, env: NodeJS.ProcessEnv, python?: string) =>
  train({
    config: config({ output_dir: tmpDir(), steps: 4, log_freq: 2, wandb }),
    policy: makeLinearPolicy({ dim: DIM }),
    taskSource: makeRegressionSource({ dim: DIM, batchSize: 8, seed: 1, wTrue: TASK_W(DIM) }),
    tensorIO: binaryTensorIO,
    progressStream: sink(),
    wandb: { env, python },
  });

describe("wandb", () => {
  it.skipIf(!hasPython || realWandb)("fails at start with a clear message when the wandb package is missing", async () => {
    await expect(run({ enable: true, mode: "offline" }, { PYTHONPATH: tmpDir() })).rejects.toThrow(
      /wandb.enable=true but the Python package `wandb` is not importable by `python3` \(ModuleNotFoundError: No module named 'wandb'\)\. Install it with `pip install wandb`/,
    );
  });

  it("fails at start with a clear message when python is missing", async () => {
    await expect(run({ enable: true }, {}, "/nonexistent/python3")).rejects.toThrow(
      /wandb.enable=true needs Python: cannot run `\/nonexistent\/python3`.*pip install wandb/,
    );
  });

  it.skipIf(!hasPython)("streams the logged metrics to the sidecar, which calls wandb.init/log/finish", async () => {
    const modules = tmpDir();
    writeFileSync(path.join(modules, "wandb.py"), FAKE_WANDB);
    const log = path.join(tmpDir(), "calls.jsonl");
    await run({ enable: true, project: "demo", mode: "offline" }, { PYTHONPATH: modules, FAKE_WANDB_LOG: log });
    const calls = readFileSync(log, "utf8").trim().split("\n").map((l) => JSON.parse(l));
    expect(calls.map((c) => c.call)).toEqual(["init", "log", "log", "finish"]);
    expect(calls[0]).toEqual({ call: "init", project: "demo", mode: "offline", env_mode: "offline", steps: 4 });
    expect(calls[1].step).toBe(2);
    expect(calls[2].step).toBe(4);
    expect(typeof calls[1].metrics["train/loss"]).toBe("number");
    expect(calls[1].metrics["train/lambda"]).toBeUndefined(); // null in a baseline run: not sent
  });

  it.skipIf(!hasPython)("logs what onStepEnd returns at its step under its own names (eval/pc_success, not train/…)", async () => {
    const modules = tmpDir();
    writeFileSync(path.join(modules, "wandb.py"), FAKE_WANDB);
    const log = path.join(tmpDir(), "calls.jsonl");
    await train({
      config: config({ output_dir: tmpDir(), steps: 4, log_freq: 2, wandb: { enable: true, mode: "offline" } }),
      policy: makeLinearPolicy({ dim: DIM }),
      taskSource: makeRegressionSource({ dim: DIM, batchSize: 8, seed: 1, wTrue: TASK_W(DIM) }),
      tensorIO: binaryTensorIO,
      progressStream: sink(),
      wandb: { env: { PYTHONPATH: modules, FAKE_WANDB_LOG: log } },
      onStepEnd: async (step) => (step === 3 ? { "eval/pc_success": 40 } : undefined),
    });
    const calls = readFileSync(log, "utf8").trim().split("\n").map((l) => JSON.parse(l));
    expect(calls.filter((c) => c.call === "log").map((c) => c.step)).toEqual([2, 3, 4]);
    expect(calls.find((c) => c.step === 3).metrics).toEqual({ "eval/pc_success": 40 });
  });
});
