import { promises as fs } from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { TrainerError, isTrainerError, train, trainCraft } from "../src/index.js";
import { binaryTensorIO, makeLinearPolicy, makeRegressionSource, ANCHOR_W, TASK_W } from "./fixtures/linear.mjs";
import { config, sink, tmpDir } from "./helpers.js";

const DIM = 4;
const args = () => ({
  policy: makeLinearPolicy({ dim: DIM }),
  taskSource: makeRegressionSource({ dim: DIM, batchSize: 4, seed: 3, wTrue: TASK_W(DIM), bTrue: 0.5 }),
  tensorIO: binaryTensorIO,
  progressStream: sink(),
});

const rejection = async (run: () => Promise<unknown>): Promise<TrainerError> => {
  const error = await run().then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!isTrainerError(error)) throw new Error(`expected a TrainerError, got ${String(error)}`);
  return error;
};

describe("TrainerError at the trainer's run-directory and resume boundary", () => {
  it("a run directory that already holds checkpoints is OutputDirInUse, naming output_dir and the resume flag", async () => {
    const dir = tmpDir();
    await train({ ...args(), config: config({ output_dir: dir, steps: 1 }) });
    const e = await rejection(() => train({ ...args(), config: config({ output_dir: dir, steps: 1 }) }));
    expect(e).toBeInstanceOf(TrainerError);
    expect(e._tag).toBe("OutputDirInUse");
    expect(e.file).toBe(dir);
    expect(e.field).toBe("resume");
    expect(e.actual).toBe("false");
    expect(e.message).toBe(`output_dir ${dir} already holds checkpoints: pass resume=true to continue that run, or choose a new output_dir`);
  });

  it("resuming with no checkpoint is ResumeMismatch naming checkpoints/last", async () => {
    const dir = tmpDir();
    const e = await rejection(() => train({ ...args(), config: config({ output_dir: dir, resume: true }) }));
    expect(e._tag).toBe("ResumeMismatch");
    expect(e.file).toBe(path.join(dir, "checkpoints", "last"));
    expect(e.expected).toBe("a checkpoint to resume from");
  });

  it("a CRaFT run resumed from a baseline checkpoint is ResumeMismatch on the craft state", async () => {
    const dir = tmpDir();
    await train({ ...args(), config: config({ output_dir: dir, steps: 1 }) });
    const anchorSource = makeRegressionSource({ dim: DIM, batchSize: 4, seed: 5, wTrue: ANCHOR_W(DIM), bTrue: -0.2 });
    const e = await rejection(() => trainCraft({ ...args(), anchorSource, config: config({ output_dir: dir, steps: 2, resume: true }) }));
    expect(e._tag).toBe("ResumeMismatch");
    expect(e.field).toBe("craft");
    expect(e.file).toBe(path.join(dir, "checkpoints", "000001"));
  });

  it("a trainer state with a bad field is InvalidCheckpoint naming the file, the field, the expected and the found value", async () => {
    const dir = tmpDir();
    await train({ ...args(), config: config({ output_dir: dir, steps: 1 }) });
    const stateFile = path.join(dir, "checkpoints", "000001", "training_state", "trainer_state.json");
    const state = JSON.parse(await fs.readFile(stateFile, "utf8"));
    await fs.writeFile(stateFile, JSON.stringify({ ...state, step: -3 }));
    const e = await rejection(() => train({ ...args(), config: config({ output_dir: dir, steps: 2, resume: true }) }));
    expect(e._tag).toBe("InvalidCheckpoint");
    expect(e.file).toBe(stateFile);
    expect(e.field).toBe("step");
    expect(e.expected).toBe("an integer ≥ 0");
    expect(e.actual).toBe("-3");
  });
});
