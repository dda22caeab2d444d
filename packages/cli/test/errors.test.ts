/** formatError renders the tagged error of every package boundary as one line, from its fields, without a stack. */
import { CraftError } from "@craft/craft-core";
import { DatasetError } from "@craft/datasets";
import { PolicyError } from "@craft/policy-pi0fast";
import { TrainerError } from "@craft/trainer";
import { describe, expect, it } from "vitest";
import { ConfigError, formatError } from "../src/errors.js";
import { UsageError } from "../src/flags.js";
import { ReportError } from "../src/report/errors.js";

const oneLine = (text: string): string => {
  expect(text.split("\n")).toHaveLength(1);
  expect(text).not.toMatch(/\n\s+at /);
  return text;
};

describe("formatError", () => {
  it("a DatasetError's exclude hint names the --dataset.exclude flag, built from the error's keys", () => {
    const err = new DatasetError("MissingFile", {
      file: "/data/so101/videos/observation.images.front/chunk-000/file-000.mp4",
      field: "observation.images.front",
      expected: "the MP4 of video feature observation.images.front for episode 0 (from info.json video_path)",
      exclude: ["observation.images.front", "observation.images.top"],
    });
    expect(err.message).toContain('pass exclude: ["observation.images.front", "observation.images.top"]');
    expect(oneLine(formatError(err))).toBe(
      'error: MissingFile: /data/so101/videos/observation.images.front/chunk-000/file-000.mp4: field "observation.images.front": ' +
        "expected the MP4 of video feature observation.images.front for episode 0 (from info.json video_path) " +
        `(pass --dataset.exclude='["observation.images.front","observation.images.top"]' to leave video features out)`,
    );
  });

  it("a DatasetError with a plain hint keeps it", () => {
    const err = new DatasetError("MissingFile", { file: "/d/meta/info.json", field: "info.json", expected: "a LeRobot dataset root", hint: "the directory does not exist" });
    expect(oneLine(formatError(err))).toBe('error: MissingFile: /d/meta/info.json: field "info.json": expected a LeRobot dataset root (the directory does not exist)');
  });

  it("craft-core's, the trainer's and the policy's tagged errors print their one line", () => {
    const craft = new CraftError("InvalidState", { field: "craft_state.lambda", expected: "object", actual: "3" });
    expect(oneLine(formatError(craft))).toBe('error: InvalidState: field "craft_state.lambda": expected object, found 3');
    const trainer = new TrainerError("InvalidCheckpoint", {
      file: "/run/checkpoints/000002/training_state/trainer_state.json",
      field: "step",
      expected: "an integer ≥ 0",
      actual: "-3",
    });
    expect(oneLine(formatError(trainer))).toBe(
      'error: InvalidCheckpoint: /run/checkpoints/000002/training_state/trainer_state.json: field "step": expected an integer ≥ 0, found -3',
    );
    const policy = new PolicyError("InvalidSafetensors", {
      file: "/m/model.safetensors",
      field: "w.data_offsets",
      expected: "a span of 12 bytes",
      message: '/m/model.safetensors: tensor "w": F32 [3] needs 12 bytes, data_offsets span 8',
    });
    expect(oneLine(formatError(policy))).toBe('error: /m/model.safetensors: tensor "w": F32 [3] needs 12 bytes, data_offsets span 8');
  });

  it("tagged errors never print a stack, even with CRAFT_DEBUG=1; untagged ones do", () => {
    const before = process.env.CRAFT_DEBUG;
    process.env.CRAFT_DEBUG = "1";
    try {
      expect(oneLine(formatError(new PolicyError("InvalidConfig", { file: "/m/config.json", field: "type", expected: '"pi0_fast"', actual: '"act"' })))).toBe(
        'error: InvalidConfig: /m/config.json: field "type": expected "pi0_fast", found "act"',
      );
      expect(oneLine(formatError(new ReportError({ _tag: "NotADirectory", path: "/x" })))).toBe(
        "error: craft report: /x is not a directory (expected a run or experiment output directory)",
      );
      expect(formatError(new Error("boom"))).toMatch(/^error: Error: boom\n\s+at /);
    } finally {
      if (before === undefined) delete process.env.CRAFT_DEBUG;
      else process.env.CRAFT_DEBUG = before;
    }
  });

  it("usage and configuration errors keep their own forms", () => {
    expect(formatError(new UsageError("unknown flag --x"))).toBe("error: unknown flag --x\nRun with --help for the accepted flags.");
    expect(formatError(new ConfigError(["policy.chunk_size: expected positive integer, got 0"]))).toBe("error: policy.chunk_size: expected positive integer, got 0");
  });
});
