import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../src/backend/index";
import { inspectPretrained, readPretrained, tokenizersToResolve } from "../src/checkpoint";
import { fitFastTokenizer } from "../src/fast/tokenizer";
import { loadHfTokenizer } from "../src/text/hf-tokenizer";
import { createPi0FastPolicy, loadPi0FastPolicy } from "../src/policy";
import { readSafetensors } from "../src/weights/safetensors";
import type { Batch } from "../src/processor";
import { gemmaLikeJson } from "./gemma-like-tokenizer";
import { MICRO_POLICY as MICRO } from "./model-helpers";

/**
 * What craft's pretrained_model/ carries beyond LeRobot's files: the FAST tokenizer as a
 * UniversalActionProcessor folder, the text tokenizer's tokenizer.json, every robot's statistics;
 * and that craft's older single-file layout still loads.
 */

// Dyadic statistics: exact in float32, so a saved-and-loaded robot normalises bit for bit alike.
const robot = (dim: number, offset: number) => ({
  mean: Array.from({ length: dim }, (_, d) => offset + (d % 4) - 1.5),
  std: Array.from({ length: dim }, (_, d) => 0.5 + 0.25 * (d % 3)),
});
const statsOf = (r: ReturnType<typeof robot>) => ({ "observation.state": r, action: r });
const arm = statsOf(robot(6, 0));
const gripper = statsOf(robot(3, 5));

function promptOf(dim: number, mean: number[], std: number[]): Batch {
  const value = (k: number) => mean[k % dim] + std[k % dim] * 0.7 * Math.sin(k + 1);
  return { size: 2, task: ["hello world", "hello"], features: { "observation.state": { data: Float32Array.from({ length: 2 * dim }, (_, k) => value(k)), shape: [2, dim] } } };
}

const fast = fitFastTokenizer(
  Array.from({ length: 30 }, (_, b) => Float32Array.from({ length: 5 * 6 }, (_, k) => 0.8 * Math.sin(0.5 * Math.floor(k / 6) + (k % 6) + b * 0.3))),
  { chunkSize: 5, actionDim: 6, vocabSize: 300 },
);

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), "craft-ckpt-layout-"));
  dirs.push(d);
  return d;
};
let textFile: string;
beforeAll(async () => {
  await initBackend("cpu");
  textFile = join(tmp(), "tokenizer.json");
  writeFileSync(textFile, JSON.stringify(gemmaLikeJson()));
});
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const readJson = (path: string) => JSON.parse(readFileSync(path, "utf8"));

describe("craft's pretrained_model/: tokenizers in Hugging Face's layouts", () => {
  it("writes the FAST tokenizer as action_tokenizer/ and the text tokenizer's tokenizer.json; config.json keeps LeRobot's names", async () => {
    const policy = createPi0FastPolicy({ config: MICRO, stats: arm, fastTokenizer: fast, textTokenizer: loadHfTokenizer(textFile), textTokenizerSource: { type: "hf", path: textFile }, seed: 1 });
    const out = tmp();
    await policy.save(out);
    const dir = join(out, "pretrained_model");
    const files = readdirSync(dir);
    expect(files).toContain("action_tokenizer");
    expect(files).toContain("tokenizer.json");
    expect(files).not.toContain("fast_tokenizer.json");
    expect(files).not.toContain("text_tokenizer.json");
    expect(readdirSync(join(dir, "action_tokenizer")).sort()).toEqual(["processor_config.json", "tokenizer.json"]);
    const processor = readJson(join(dir, "action_tokenizer", "processor_config.json"));
    expect(processor).toEqual({ processor_class: "UniversalActionProcessor", scale: 10, vocab_size: 300, min_token: fast.minToken, action_dim: 6, time_horizon: 5 });
    expect(readJson(join(dir, "action_tokenizer", "tokenizer.json"))).toEqual(fast.toJSON().tokenizer);
    expect(readFileSync(join(dir, "tokenizer.json"))).toEqual(readFileSync(textFile));
    // LeRobot resolves these names from its working directory, never from the checkpoint: they stay as they were
    const config = readJson(join(dir, "config.json"));
    expect(config.action_tokenizer_name).toBe("lerobot/fast-action-tokenizer");
    expect(config.text_tokenizer_name).toBe("google/paligemma-3b-pt-224");
    expect(readJson(join(dir, "craft_config.json")).files).toEqual({ action_tokenizer: "action_tokenizer", text_tokenizer: "tokenizer.json" });
    expect(await tokenizersToResolve(dir)).toEqual({ dir });
    expect((await inspectPretrained(dir)).action_tokenizer).toBe("FAST (action_tokenizer in the folder)");

    const loaded = await loadPi0FastPolicy(out);
    expect(loaded.fastTokenizer.toJSON()).toEqual(fast.toJSON());
    expect(loaded.textTokenizerSource).toEqual({ type: "hf", path: join(dir, "tokenizer.json") });
    expect(loaded.textTokenizer.encode("hello world")).toEqual(policy.textTokenizer.encode("hello world"));
    const batch = promptOf(6, arm.action.mean, arm.action.std);
    expect(loaded.processor.toPromptInputs(batch).promptTokens).toEqual(policy.processor.toPromptInputs(batch).promptTokens);
    policy.dispose();
    loaded.dispose();
  });

  it("a LeRobot folder (no tokenizers of its own) names what to resolve: config.json's action_tokenizer_name and text_tokenizer_name", async () => {
    const policy = createPi0FastPolicy({ config: MICRO, stats: arm, fastTokenizer: fast, seed: 1 });
    const out = tmp();
    await policy.save(out);
    policy.dispose();
    const dir = join(out, "pretrained_model");
    rmSync(join(dir, "action_tokenizer"), { recursive: true });
    const sidecar = readJson(join(dir, "craft_config.json"));
    delete sidecar.files;
    writeFileSync(join(dir, "craft_config.json"), JSON.stringify(sidecar));
    expect(await tokenizersToResolve(dir)).toEqual({ dir, action: "lerobot/fast-action-tokenizer", text: "google/paligemma-3b-pt-224" });
    await expect(loadPi0FastPolicy(dir)).rejects.toThrow(`${join(dir, "action_tokenizer")}: missing (the FAST action tokenizer; config.json names "lerobot/fast-action-tokenizer"`);
  });

  it("still loads craft's older single-file layout (fast_tokenizer.json, text_tokenizer.json); saving again writes the new one", async () => {
    const policy = createPi0FastPolicy({ config: MICRO, stats: arm, fastTokenizer: fast, seed: 2 });
    const out = tmp();
    await policy.save(out);
    const dir = join(out, "pretrained_model");
    // the layout craft wrote before: whole tokenizer as one JSON, text tokenizer as a type marker, no files section
    rmSync(join(dir, "action_tokenizer"), { recursive: true });
    writeFileSync(join(dir, "fast_tokenizer.json"), JSON.stringify(fast.toJSON()));
    writeFileSync(join(dir, "text_tokenizer.json"), JSON.stringify({ type: "byte_level" }));
    const sidecar = readJson(join(dir, "craft_config.json"));
    delete sidecar.files;
    writeFileSync(join(dir, "craft_config.json"), JSON.stringify(sidecar));

    const old = await loadPi0FastPolicy(out);
    expect(old.fastTokenizer.toJSON()).toEqual(fast.toJSON());
    expect(old.textTokenizerSource).toEqual({ type: "byte_level" });
    const batch = promptOf(6, arm.action.mean, arm.action.std);
    expect(await old.selectAction(batch)).toEqual(await policy.selectAction(batch));
    await old.save(out);
    expect(existsSync(join(dir, "fast_tokenizer.json")) || existsSync(join(dir, "text_tokenizer.json"))).toBe(false);
    expect(readJson(join(dir, "craft_config.json")).files).toEqual({ action_tokenizer: "action_tokenizer", text_tokenizer: "byte_level" });
    const again = await loadPi0FastPolicy(out);
    expect(again.fastTokenizer.toJSON()).toEqual(fast.toJSON());
    policy.dispose();
    old.dispose();
    again.dispose();
  });

  it("a files entry leaving the folder or naming nothing is one line naming craft_config.json and the field", async () => {
    const policy = createPi0FastPolicy({ config: MICRO, stats: arm, fastTokenizer: fast, seed: 1 });
    const out = tmp();
    await policy.save(out);
    policy.dispose();
    const dir = join(out, "pretrained_model");
    const file = join(dir, "craft_config.json");
    const sidecar = readJson(file);
    writeFileSync(file, JSON.stringify({ ...sidecar, files: { ...sidecar.files, action_tokenizer: "../elsewhere" } }));
    await expect(readPretrained(dir)).rejects.toThrow(`${file}: files.action_tokenizer: expected PathInsideFolder, got "../elsewhere"`);
    writeFileSync(file, JSON.stringify({ ...sidecar, files: { ...sidecar.files, embodiment_stats: ["robot_1.safetensors"] } }));
    await expect(readPretrained(dir)).rejects.toThrow(`${file}: files.embodiment_stats[0]: ${join(dir, "robot_1.safetensors")} does not exist`);
  });
});

describe("craft's pretrained_model/: every robot's statistics", () => {
  it("saves the second robot's statistics beside LeRobot's normaliser state, and it decodes the same after loading", async () => {
    const policy = createPi0FastPolicy({ config: MICRO, stats: arm, embodimentStats: [gripper], fastTokenizer: fast, seed: 4 });
    const onGripper = promptOf(3, gripper.action.mean, gripper.action.std);
    const before = await policy.selectAction(onGripper);
    expect(before.actions.length).toBe(2 * 5 * 3);
    const out = tmp();
    await policy.save(out);
    const dir = join(out, "pretrained_model");
    // LeRobot's normaliser state holds the first robot alone; the second is a file only craft opens
    const lerobotState = await readSafetensors(join(dir, "policy_preprocessor_step_3_normalizer_processor.safetensors"));
    expect(Array.from(lerobotState.tensors["action.mean"]!.data as Float32Array)).toEqual(arm.action.mean);
    expect(readJson(join(dir, "craft_config.json")).files.embodiment_stats).toEqual(["craft_embodiment_1_normalizer.safetensors"]);
    const second = await readSafetensors(join(dir, "craft_embodiment_1_normalizer.safetensors"));
    expect(Array.from(second.tensors["action.std"]!.data as Float32Array)).toEqual(gripper.action.std);

    const loaded = await loadPi0FastPolicy(out);
    expect(loaded.embodimentStats).toEqual([gripper]);
    const after = await loaded.selectAction(onGripper);
    expect(after.tokens).toEqual(before.tokens);
    expect(Array.from(after.actions)).toEqual(Array.from(before.actions));
    // and fixed FAST tokens for the gripper un-normalise with the gripper's statistics on both sides
    const chunk = Float32Array.from({ length: 5 * 3 }, (_, k) => 0.5 * Math.cos(k));
    const tokens = [fast.encode(chunk, 3).map((t) => MICRO.decoder.vocab_size - 1 - 128 - t)];
    const decodedBefore = policy.processor.decodeActions(tokens, 3);
    expect(Array.from(loaded.processor.decodeActions(tokens, 3).actions)).toEqual(Array.from(decodedBefore.actions));
    const normalised = fast.decode(fast.encode(chunk, 3), { chunkSize: 5, actionDim: 3 }).actions;
    Array.from(decodedBefore.actions).forEach((v, k) => expect(v).toBeCloseTo(normalised[k] * gripper.action.std[k % 3] + gripper.action.mean[k % 3], 5));
    // a robot of dims seen before is never chosen (the first fit wins), so it is not saved
    const twice = createPi0FastPolicy({ config: MICRO, stats: arm, embodimentStats: [gripper, statsOf(robot(6, 2)), statsOf(robot(3, 1))], fastTokenizer: fast, seed: 4 });
    const twiceOut = tmp();
    await twice.save(twiceOut);
    expect(readJson(join(twiceOut, "pretrained_model", "craft_config.json")).files.embodiment_stats).toEqual(["craft_embodiment_1_normalizer.safetensors"]);
    expect((await readPretrained(twiceOut)).embodimentStats).toEqual([gripper]);
    twice.dispose();
    // a policy saved with one robot fewer drops the stale file
    const single = await loadPi0FastPolicy(out, {});
    const narrowed = createPi0FastPolicy({ config: single.config, stats: arm, fastTokenizer: fast, parameters: single.getParameters({ includeFrozen: true }) });
    await narrowed.save(out);
    expect(existsSync(join(dir, "craft_embodiment_1_normalizer.safetensors"))).toBe(false);
    expect((await readPretrained(dir)).embodimentStats).toEqual([]);
    for (const p of [policy, loaded, single, narrowed]) p.dispose();
  });
});

it("copies of a saved folder load alike (no absolute paths inside)", async () => {
  const policy = createPi0FastPolicy({ config: MICRO, stats: arm, embodimentStats: [gripper], fastTokenizer: fast, textTokenizer: loadHfTokenizer(textFile), textTokenizerSource: { type: "hf", path: textFile }, seed: 5 });
  const out = tmp();
  await policy.save(out);
  const moved = tmp();
  cpSync(join(out, "pretrained_model"), join(moved, "pretrained_model"), { recursive: true });
  rmSync(out, { recursive: true });
  const loaded = await loadPi0FastPolicy(moved);
  expect(loaded.textTokenizerSource).toEqual({ type: "hf", path: join(moved, "pretrained_model", "tokenizer.json") });
  expect(loaded.embodimentStats).toEqual([gripper]);
  policy.dispose();
  loaded.dispose();
});
