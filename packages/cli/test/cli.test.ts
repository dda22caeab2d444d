import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { METRIC_KEYS } from "@craft/trainer";
import { craft, maxWeightDifference, MICRO_POLICY, syntheticPair, tempDir } from "./helpers.js";

let data: { reach: string; push: string };

beforeAll(async () => {
  data = await syntheticPair();
}, 120_000);

const readMetrics = (dir: string) =>
  readFileSync(join(dir, "metrics.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Record<string, number | null>);

describe("craft train / train-craft end to end", () => {
  it("the dry run exits 0 and writes a checkpoint", async () => {
    const out = join(tempDir("dry"), "craft_dryrun");
    const r = await craft(["train-craft", ...MICRO_POLICY, `--dataset.root=${data.push}`, "--batch_size=8", "--steps=1", `--output_dir=${out}`]);
    expect(r.code, r.stderr).toBe(0);
    const ckpt = join(out, "checkpoints", "000001");
    expect(existsSync(join(ckpt, "pretrained_model", "model.safetensors"))).toBe(true);
    expect(existsSync(join(ckpt, "pretrained_model", "config.json"))).toBe(true);
    expect(existsSync(join(ckpt, "training_state"))).toBe(true);
    expect(existsSync(join(out, "checkpoints", "last", "pretrained_model", "model.safetensors"))).toBe(true);
    const cfg = JSON.parse(readFileSync(join(out, "train_config.json"), "utf8"));
    expect(cfg.craft.enable).toBe(true);
    expect(cfg.backend.name).toBe("wasm");
  });

  it("baseline and CRaFT runs write checkpoints and metrics with the expected keys", async () => {
    const base = join(tempDir("base"), "run");
    const r1 = await craft(["train", ...MICRO_POLICY, `--dataset.root=${data.reach}`, "--batch_size=4", "--steps=4", "--log_freq=2", "--save_freq=2", `--output_dir=${base}`]);
    expect(r1.code, r1.stderr).toBe(0);
    expect(readdirSync(join(base, "checkpoints")).sort()).toEqual(["000002", "000004", "last"]);
    const m1 = readMetrics(base);
    expect(m1.map((m) => m.step)).toEqual([2, 4]);
    for (const key of ["step", "loss", "task_loss", "grad_norm", "lr", "step_time_s", "samples_per_s"]) expect(m1[0]).toHaveProperty(key);

    const craftDir = join(tempDir("craft"), "run");
    const r2 = await craft([
      "train-craft",
      `--policy.path=${base}`,
      "--policy.device=wasm",
      `--dataset.root=${data.push}`,
      `--craft.anchor_dataset_path=${data.reach}`,
      "--craft.initial_lambda=1.0",
      "--craft.epsilon_start=1.0",
      "--craft.epsilon_end=0.1",
      "--batch_size=4",
      "--steps=3",
      "--log_freq=1",
      `--output_dir=${craftDir}`,
    ]);
    expect(r2.code, r2.stderr).toBe(0);
    const m2 = readMetrics(craftDir);
    expect(m2).toHaveLength(3);
    for (const key of METRIC_KEYS) expect(m2[2]).toHaveProperty(key);
    expect(typeof m2[0].retention_loss).toBe("number");
    expect(m2[0].lambda).toBe(1);
    expect(m2[2].epsilon).toBeLessThan(m2[0].epsilon as number);
  });

  it("CRaFT with surgery=none, λ=0 and λ_lr=0 reproduces the baseline's losses exactly", async () => {
    const common = [...MICRO_POLICY, `--dataset.root=${data.push}`, "--batch_size=4", "--steps=3", "--log_freq=1", "--seed=7"];
    const a = join(tempDir("eqa"), "run");
    const b = join(tempDir("eqb"), "run");
    expect((await craft(["train", ...common, `--output_dir=${a}`])).code).toBe(0);
    const r = await craft([
      "train-craft",
      ...common,
      `--output_dir=${b}`,
      `--craft.anchor_dataset_path=${data.reach}`,
      "--craft.surgery=none",
      "--craft.initial_lambda=0",
      "--craft.lambda_lr=0",
    ]);
    expect(r.code, r.stderr).toBe(0);
    const baseline = readMetrics(a).map((m) => m.task_loss);
    const crafted = readMetrics(b).map((m) => m.task_loss);
    expect(crafted).toEqual(baseline);
    // and the constraint machinery really ran: retention losses were measured
    expect(readMetrics(b).every((m) => typeof m.retention_loss === "number")).toBe(true);
  });
});

describe("flags", () => {
  it("an unknown flag is an error naming it and the accepted ones", async () => {
    const r = await craft(["train", "--dataset.root=x", "--craft.initial_lamda=2"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown flag --craft\.initial_lamda/);
    expect(r.stderr).toMatch(/--craft\.initial_lambda/);
  });

  it("a bad value names the field, what was expected and what was given", async () => {
    const r = await craft(["train-craft", `--dataset.root=${data.push}`, "--craft.epsilon_end=x", "--output_dir=/tmp/never"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/craft\.epsilon_end/);
    expect(r.stderr).toMatch(/"x"/);
    const r2 = await craft(["train", `--dataset.root=${data.push}`, "--policy.type=act"]);
    expect(r2.stderr).toMatch(/policy\.type: expected "pi0_fast"/);
    const r3 = await craft(["train", `--dataset.root=${data.push}`, "--policy.preset=huge"]);
    expect(r3.stderr).toMatch(/policy\.preset: expected one of tiny, small, paligemma_3b/);
  });

  it("a missing dataset names the directory that was expected", async () => {
    // Offline, so the test never depends on reaching the Hub (the download path has its own test).
    const offline = process.env.HF_HUB_OFFLINE;
    process.env.HF_HUB_OFFLINE = "1";
    try {
      const r = await craft(["train", "--dataset.repo_id=lerobot/nope", "--steps=1", `--output_dir=${tempDir("missing")}/o`]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/lerobot\/nope/);
    } finally {
      if (offline === undefined) delete process.env.HF_HUB_OFFLINE;
      else process.env.HF_HUB_OFFLINE = offline;
    }
  });

  it("--help works on every command", async () => {
    for (const cmd of ["train", "train-craft", "eval", "dataset", "tokenizer", "report", "quickstart"]) {
      const r = await craft([cmd, "--help"]);
      expect(r.code, cmd).toBe(0);
      expect(r.stdout).toMatch(/--/);
    }
    const r = await craft(["train-craft", "--help"]);
    expect(r.stdout).toMatch(/--craft\.epsilon_end/);
  });
});

describe("kill and resume", () => {
  it("a run killed with SIGKILL and resumed ends with the same weights as an uninterrupted run", async () => {
    const { spawn } = await import("node:child_process");
    const bin = join(__dirname, "..", "bin", "craft.js");
    const args = (out: string) => ["train", ...MICRO_POLICY, `--dataset.root=${data.reach}`, "--batch_size=4", "--steps=8", "--save_freq=2", "--log_freq=1", "--seed=3", `--output_dir=${out}`];
    const runToEnd = (argv: string[]) =>
      new Promise<number>((resolve) => spawn(process.execPath, [bin, ...argv], { stdio: "ignore" }).on("exit", (code) => resolve(code ?? -1)));
    const whole = join(tempDir("whole"), "run");
    expect(await runToEnd(args(whole))).toBe(0);

    const killed = join(tempDir("killed"), "run");
    const child = spawn(process.execPath, [bin, ...args(killed)], { stdio: "ignore" });
    // Kill it mid-run: once the step-4 checkpoint exists (step 5 or 6 is then under way). No
    // deadline: however slow the machine, only a run that ends before that checkpoint fails this.
    await new Promise<void>((resolve, reject) => {
      const ended = () => {
        clearInterval(poll);
        reject(new Error("the run ended before its step-4 checkpoint"));
      };
      child.once("exit", ended);
      const poll = setInterval(() => {
        if (existsSync(join(killed, "checkpoints", "000004"))) {
          clearInterval(poll);
          child.off("exit", ended);
          child.kill("SIGKILL");
          resolve();
        }
      }, 20);
    });
    await new Promise((r) => child.on("exit", r));
    expect(existsSync(join(killed, "checkpoints", "000008"))).toBe(false);
    expect(await runToEnd([...args(killed), "--resume=true"])).toBe(0);

    expect(await maxWeightDifference(whole, killed)).toBeLessThanOrEqual(1e-6);
  });
});

describe("--config_path", () => {
  it("re-runs a saved train_config.json, with flags beside it winning", async () => {
    const first = join(tempDir("cfg1"), "run");
    const r1 = await craft(["train", ...MICRO_POLICY, `--dataset.root=${data.reach}`, "--batch_size=4", "--steps=2", "--log_freq=1", "--seed=5", `--output_dir=${first}`]);
    expect(r1.code, r1.stderr).toBe(0);
    const second = join(tempDir("cfg2"), "run");
    const r2 = await craft(["train", `--config_path=${join(first, "train_config.json")}`, `--output_dir=${second}`]);
    expect(r2.code, r2.stderr).toBe(0);
    expect(readMetrics(second).map((m) => m.loss)).toEqual(readMetrics(first).map((m) => m.loss));
    const saved = JSON.parse(readFileSync(join(second, "train_config.json"), "utf8"));
    expect(saved.output_dir).toBe(second);
    expect(saved.seed).toBe(5);
  });
});

describe("craft quickstart (the README's main job)", () => {
  it("runs end to end: base on red and yellow, anchor cache, CRaFT on blue, closed-loop success before and after", async () => {
    const out = join(tempDir("quickstart"), "qs");
    // CRAFT_SMOKE=1: the quickstart's own smallest sizes (2 + 2 steps, 2 episodes, 16 anchors, 8 eval frames, 2 closed-loop episodes).
    process.env.CRAFT_SMOKE = "1";
    const r = await craft(["quickstart", `--output_dir=${out}`, "--batch_size=4", "--policy.device=wasm"]).finally(() => delete process.env.CRAFT_SMOKE);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/anchor token loss: base \d+\.\d+ → after CRaFT \d+\.\d+; KL\(base ‖ CRaFT\) on the anchors \d+\.\d+ \(ε_end 0\.01\)/);
    expect(r.stdout).toMatch(/A "reach the red target" +\(kept\): base \d+% → after CRaFT \d+%/);
    expect(r.stdout).toMatch(/B "reach the blue target" +\(new\): +base \d+% → after CRaFT \d+%/);
    expect(r.stdout).toMatch(/"reach the yellow target" +\(kept\): base \d+% → after CRaFT \d+%/);
    const pretrain = await craft(["dataset", "info", `--dataset.root=${join(out, "data", "reach_red_yellow")}`]);
    expect(pretrain.stdout).toMatch(/tasks \(2\):\n +0: reach the red target\n +1: reach the yellow target\n/);
    expect(existsSync(join(out, "base", "checkpoints", "last", "pretrained_model", "model.safetensors"))).toBe(true);
    // every episode's first frame is an anchor (4 episodes: 2 red, 2 yellow)
    const anchors = JSON.parse(readFileSync(join(out, "data", "reach_red_yellow-anchors", "anchor_manifest.json"), "utf8"));
    expect(anchors.selection.startFrames).toBe(1);
    expect(anchors.selection.frameIndices.filter((f: number) => f === 0).length).toBeGreaterThanOrEqual(4);
    // the printed rates are the eval_info.json files' (2 episodes each, instructions as the datasets')
    for (const [who, env, task] of [["base", "A", "reach the red target"], ["craft", "B", "reach the blue target"], ["craft", "C", "reach the yellow target"]] as const) {
      const info = JSON.parse(readFileSync(join(out, "eval", who, env, "eval_info.json"), "utf8"));
      expect(info.env).toEqual({ type: "two_target", task });
      expect(info.per_episode).toHaveLength(2);
      const rate = info.per_episode.filter((e: { success: boolean }) => e.success).length / 2;
      expect(info.aggregated.success_rate).toBe(rate);
    }
    const m = readMetrics(join(out, "craft"));
    expect(m[m.length - 1].step).toBe(2);
    expect(typeof m[m.length - 1].lambda).toBe("number");
    // a re-run in the same output_dir finds the trainings done and prints the same lines
    process.env.CRAFT_SMOKE = "1";
    const again = await craft(["quickstart", `--output_dir=${out}`, "--batch_size=4", "--policy.device=wasm"]).finally(() => delete process.env.CRAFT_SMOKE);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toBe(r.stdout);
  });
});
