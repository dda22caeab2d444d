import * as E from "fp-ts/lib/Either.js";
import * as t from "io-ts";
import { describe, expect, it } from "vitest";
import {
  CraftConfigCodec,
  craftConfigDocs,
  decodeCraftConfig,
  defaultCraftConfig,
  formatCraftConfigErrors,
  makeCraftConfig,
} from "../src/index.js";

const errorsOf = (input: unknown): string[] => {
  const result = decodeCraftConfig(input);
  if (E.isRight(result)) throw new Error(`expected errors, decoded ${JSON.stringify(result.right)}`);
  return result.left;
};

describe("decodeCraftConfig", () => {
  it("fills every default of DESIGN.md §2 from an empty object", () => {
    expect(decodeCraftConfig({})).toEqual(E.right(defaultCraftConfig));
    expect(defaultCraftConfig).toMatchObject({
      enable: false,
      initial_lambda: 1.0,
      lambda_lr: 0.01,
      lambda_max: 100,
      lambda_update: "dual_ascent",
      lambda_ema: 0,
      epsilon_schedule: "linear",
      epsilon_start: 1.0,
      epsilon_end: 0.1,
      epsilon_decay_steps: null,
      epsilon_warmup_steps: 0,
      surgery: "project_task",
      merge: "sum",
      retention_freq: 1,
      anchor_dataset_path: null,
      anchor_batch_size: null,
      retention_loss: "replay",
    });
  });

  it("keeps given values and defaults the rest", () => {
    const result = decodeCraftConfig({ enable: true, surgery: "pcgrad", epsilon_decay_steps: 500, anchor_dataset_path: "./data/anchor" });
    expect(result).toEqual(
      E.right({ ...defaultCraftConfig, enable: true, surgery: "pcgrad", epsilon_decay_steps: 500, anchor_dataset_path: "./data/anchor" }),
    );
  });

  it("names the field and shows the value of an ill-typed field", () => {
    expect(errorsOf({ epsilon_end: "x" })).toEqual(['craft.epsilon_end: expected number, got "x"']);
    expect(errorsOf({ enable: "yes" })).toEqual(['craft.enable: expected boolean, got "yes"']);
    expect(errorsOf({ surgery: "project" })).toEqual([
      'craft.surgery: expected "none" | "project_task" | "pcgrad", got "project"',
    ]);
    expect(errorsOf({ anchor_batch_size: "8" })).toEqual(['craft.anchor_batch_size: expected number | null, got "8"']);
    expect(errorsOf({ anchor_dataset_path: 3 })).toEqual(["craft.anchor_dataset_path: expected string | null, got 3"]);
  });

  it("rejects unknown fields, suggesting the closest known one", () => {
    expect(errorsOf({ epsilon_ned: 0.2 })).toEqual(["craft.epsilon_ned: unknown field (did you mean craft.epsilon_end?)"]);
    const [far] = errorsOf({ zzzzzzzzzzzzzzzz: 1 });
    expect(far).toMatch(/^craft\.zzzzzzzzzzzzzzzz: unknown field \(known fields: enable, initial_lambda, /);
  });

  it.each([
    [{ lambda_ema: 1 }, "craft.lambda_ema: expected number in [0, 1), got 1"],
    [{ lambda_ema: -0.1 }, "craft.lambda_ema: expected number in [0, 1), got -0.1"],
    [{ lambda_max: 0 }, "craft.lambda_max: expected number > 0, got 0"],
    [{ lambda_lr: -1 }, "craft.lambda_lr: expected number ≥ 0, got -1"],
    [{ retention_freq: 0 }, "craft.retention_freq: expected integer ≥ 1, got 0"],
    [{ retention_freq: 1.5 }, "craft.retention_freq: expected integer ≥ 1, got 1.5"],
    [{ epsilon_warmup_steps: -2 }, "craft.epsilon_warmup_steps: expected integer ≥ 0, got -2"],
    [{ epsilon_decay_steps: 2.5 }, "craft.epsilon_decay_steps: expected integer ≥ 0, got 2.5"],
    [{ anchor_batch_size: 0 }, "craft.anchor_batch_size: expected integer ≥ 1, got 0"],
    [{ anchor_dataset_path: "" }, 'craft.anchor_dataset_path: expected non-empty path or null, got ""'],
    [{ epsilon_start: Number.NaN }, "craft.epsilon_start: expected finite number, got NaN"],
    [{ pid_kd: Number.POSITIVE_INFINITY }, "craft.pid_kd: expected finite number, got Infinity"],
    [{ initial_lambda: 200 }, "craft.initial_lambda: expected number in [0, lambda_max=100], got 200"],
  ])("rejects out-of-range %j", (input, message) => {
    expect(errorsOf(input)).toEqual([message]);
  });

  it("the exponential schedule needs positive endpoints", () => {
    expect(errorsOf({ epsilon_schedule: "exponential", epsilon_end: 0 })).toEqual([
      'craft.epsilon_end: expected number > 0 for epsilon_schedule "exponential", got 0',
    ]);
    expect(E.isRight(decodeCraftConfig({ epsilon_schedule: "linear", epsilon_end: 0 }))).toBe(true);
  });

  it("reports every problem at once", () => {
    expect(errorsOf({ epsilon_end: "x", merge: "avg", bogus: true })).toHaveLength(3);
  });

  it("rejects what is not an object", () => {
    expect(errorsOf("pcgrad")).toEqual(['craft: expected object, got "pcgrad"']);
    expect(errorsOf(null)).toEqual(["craft: expected object, got null"]);
    expect(errorsOf([1])).toEqual(["craft: expected object, got [1]"]);
  });

  it("uses the given path prefix", () => {
    expect(decodeCraftConfig({ merge: 1 }, "train.craft")).toEqual(
      E.left(['train.craft.merge: expected "sum" | "normalized", got 1']),
    );
  });
});

describe("CraftConfigCodec", () => {
  it("decodes with defaults and round-trips through encode and JSON", () => {
    const decoded = CraftConfigCodec.decode({ enable: true });
    expect(E.isRight(decoded)).toBe(true);
    if (E.isRight(decoded)) {
      const again = CraftConfigCodec.decode(JSON.parse(JSON.stringify(CraftConfigCodec.encode(decoded.right))));
      expect(again).toEqual(decoded);
      expect(CraftConfigCodec.is(decoded.right)).toBe(true);
    }
    expect(CraftConfigCodec.is({ enable: true })).toBe(false);
  });

  it("nested in a larger codec, its messages name the path from the root", () => {
    const TrainConfig = t.type({ steps: t.number, craft: CraftConfigCodec });
    const result = TrainConfig.decode({ steps: 10, craft: { epsilon_end: "x" } });
    expect(E.isLeft(result)).toBe(true);
    if (E.isLeft(result)) expect(result.left.map((e) => e.message)).toEqual(['craft.epsilon_end: expected number, got "x"']);
  });
});

describe("formatCraftConfigErrors and makeCraftConfig", () => {
  it("formats one readable block naming the source", () => {
    expect(formatCraftConfigErrors(["craft.a: x", "craft.b: y"], "config.json")).toBe(
      "invalid CRaFT config in config.json:\n  - craft.a: x\n  - craft.b: y",
    );
  });

  it("makeCraftConfig throws the formatted errors", () => {
    expect(() => makeCraftConfig({ lambda_ema: 2 })).toThrow(/invalid CRaFT config:\n {2}- craft\.lambda_ema/);
  });
});

describe("craftConfigDocs", () => {
  it("documents every field once, in the order of the config, with a default that passes its own checks", () => {
    expect(craftConfigDocs.map((d) => d.name)).toEqual(Object.keys(defaultCraftConfig));
    for (const d of craftConfigDocs) expect(d.doc.length).toBeGreaterThan(10);
    const fromDocs = Object.fromEntries(craftConfigDocs.map((d) => [d.name, d.default]));
    expect(decodeCraftConfig(fromDocs)).toEqual(E.right(defaultCraftConfig));
    expect(craftConfigDocs.find((d) => d.name === "epsilon_decay_steps")).toMatchObject({ type: "number | null", default: null });
  });
});
