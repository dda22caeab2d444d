import * as E from "fp-ts/lib/Either.js";
import { describe, expect, it } from "vitest";
import { applyCraftOverrides, decodeCraftConfig, defaultCraftConfig, parseDottedOverrides, parseFlagValue } from "../src/index.js";

describe("parseDottedOverrides", () => {
  it("turns LeRobot-style flags into a plain object", () => {
    expect(parseDottedOverrides(["--craft.initial_lambda=2", "craft.surgery=pcgrad"])).toEqual(
      E.right({ initial_lambda: 2, surgery: "pcgrad" }),
    );
  });

  it("parses numbers, booleans and null as JSON, keeps other values as strings", () => {
    expect(
      parseDottedOverrides([
        "--craft.enable=true",
        "--craft.lambda_lr=1e-3",
        "--craft.epsilon_decay_steps=null",
        "--craft.anchor_dataset_path=./data/anchor=v2",
        '--craft.merge="normalized"',
        "--craft.retention_loss=",
      ]),
    ).toEqual(
      E.right({
        enable: true,
        lambda_lr: 0.001,
        epsilon_decay_steps: null,
        anchor_dataset_path: "./data/anchor=v2",
        merge: "normalized",
        retention_loss: "",
      }),
    );
    expect(parseFlagValue("[1,2]")).toEqual([1, 2]);
    expect(parseFlagValue('{"a": "b"}')).toEqual({ a: "b" });
    expect(parseFlagValue("[oops")).toBe("[oops");
    expect(parseFlagValue("+3")).toBe(3);
    expect(parseFlagValue("-0.5")).toBe(-0.5);
  });

  it("ignores flags outside the prefix, so a whole argv can be passed", () => {
    expect(
      parseDottedOverrides(["train", "--policy.type=pi0_fast", "--batch_size=8", "--craft.enable=true", "--craftx=1"]),
    ).toEqual(E.right({ enable: true }));
  });

  it("a flag given twice is an error, as on the cli", () => {
    expect(parseDottedOverrides(["--craft.lambda_max=5", "--craft.lambda_max=7"])).toEqual(E.left(["--craft.lambda_max given twice"]));
  });

  it("rejects a flag without a value and nested keys", () => {
    expect(parseDottedOverrides(["--craft.enable", "--craft.a.b=1", "--craft.=3"])).toEqual(
      E.left([
        "--craft.enable: expected craft.<field>=<value>",
        'craft.a.b: expected one field name after "craft." (the craft config is flat)',
        'craft.: expected one field name after "craft." (the craft config is flat)',
      ]),
    );
  });

  it("supports another prefix", () => {
    expect(parseDottedOverrides(["--train.craft.merge=sum"], "train.craft")).toEqual(E.right({ merge: "sum" }));
  });

  it("feeds decodeCraftConfig, which names bad fields", () => {
    const overrides = parseDottedOverrides(["--craft.epsilon_end=x", "--craft.__proto__=1"]);
    expect(E.isRight(overrides)).toBe(true);
    if (E.isRight(overrides)) {
      expect(decodeCraftConfig(overrides.right)).toEqual(
        E.left(["craft.__proto__: unknown field (known fields: " + Object.keys(defaultCraftConfig).join(", ") + ")", 'craft.epsilon_end: expected number, got "x"']),
      );
    }
  });
});

describe("applyCraftOverrides", () => {
  it("applies flags on top of a base config and validates the result", () => {
    expect(applyCraftOverrides(defaultCraftConfig, ["--craft.enable=true", "--craft.epsilon_end=0.05"])).toEqual(
      E.right({ ...defaultCraftConfig, enable: true, epsilon_end: 0.05 }),
    );
    expect(applyCraftOverrides(defaultCraftConfig, ["--craft.lambda_max=0.5"])).toEqual(
      E.left(["craft.initial_lambda: expected number in [0, lambda_max=0.5], got 1"]),
    );
  });
});
