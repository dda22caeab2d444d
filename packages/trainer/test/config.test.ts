import * as E from "fp-ts/lib/Either.js";
import { describe, expect, it } from "vitest";
import { decodeTrainConfig, defaultTrainConfig } from "../src/index.js";

const errorsOf = (input: unknown): string[] => {
  const r = decodeTrainConfig(input);
  if (E.isRight(r)) throw new Error("expected errors");
  return r.left;
};

describe("decodeTrainConfig", () => {
  it("fills LeRobot's defaults, nested groups included", () => {
    const r = decodeTrainConfig({ output_dir: "out", optimizer: { lr: 1e-4 }, craft: { initial_lambda: 2 } });
    expect(E.isRight(r)).toBe(true);
    if (E.isLeft(r)) return;
    expect(r.right.optimizer).toEqual({ ...defaultTrainConfig.optimizer, lr: 1e-4 });
    expect(r.right.steps).toBe(100_000);
    expect(r.right.gradient_accumulation_steps).toBe(1);
    expect(r.right.max_consecutive_nonfinite).toBe(5);
    expect(r.right.craft.initial_lambda).toBe(2);
    expect(r.right.craft.surgery).toBe("project_task");
    expect(r.right.wandb).toEqual({ enable: false, project: "craft-ts", mode: "online" });
  });

  it("names the field, the expected value and what was given", () => {
    const errors = errorsOf({ output_dir: "out", steps: 0, optimizer: { lr: -1, betas: [0.9, 1.5] }, wandb: { mode: "cloud" } });
    expect(errors).toContain("field `steps`: expected a positive integer, got 0");
    expect(errors).toContain("field `optimizer.lr`: expected a finite number > 0, got -1");
    expect(errors.some((e) => e.startsWith("field `optimizer.betas.1`: expected a number in [0, 1), got 1.5"))).toBe(true);
    expect(errors.some((e) => e.includes("`wandb.mode`") && e.includes('"cloud"'))).toBe(true);
  });

  it("rejects unknown fields and a missing output_dir", () => {
    const errors = errorsOf({ step: 10, optimizer: { learning_rate: 1 } });
    expect(errors.some((e) => e.startsWith("field `step`: unknown field"))).toBe(true);
    expect(errors.some((e) => e.startsWith("field `optimizer.learning_rate`: unknown field"))).toBe(true);
    expect(errors).toContain("field `output_dir`: expected a non-empty string, got nothing");
  });

  it("reports craft-core's errors for the craft group with their field path", () => {
    const errors = errorsOf({ output_dir: "out", craft: { surgery: "orthogonal", bogus: 1 } });
    expect(errors.some((e) => e.includes("craft.surgery"))).toBe(true);
    expect(errors.some((e) => e.includes("craft.bogus"))).toBe(true);
  });
});
