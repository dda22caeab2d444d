import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { parseArgs } from "../src/flags.js";
import type { EvalInfo } from "../src/rollout.js";
import { resolveRunConfig } from "../src/runConfig.js";
import { craft, MICRO_POLICY, sevenDimRobotDataset, tempDir } from "./helpers.js";

/** `craft train --eval_freq=N --env.type=…`: LeRobot's periodic closed-loop evaluation during training. */

type MetricsLine = Record<string, number | null>;
const metricsOf = (run: string): MetricsLine[] =>
  readFileSync(join(run, "metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as MetricsLine);
const evalInfoOf = (run: string, id: string): EvalInfo & { step: number } =>
  JSON.parse(readFileSync(join(run, "eval", `eval_step_${id}`, "eval_info.json"), "utf8")) as EvalInfo & { step: number };

describe("craft train with --env.type and --eval_freq", () => {
  let data = "";
  let sevenDims = "";
  beforeAll(async () => {
    const dir = tempDir("train-env-eval");
    data = join(dir, "reach_red");
    const made = await craft(["dataset", "make-synthetic", "--task=reach_red", "--episodes=2", "--image_size=32", `--output=${data}`]);
    expect(made.code, made.stderr).toBe(0);
    sevenDims = await sevenDimRobotDataset(join(dir, "seven"));
  });

  it("evaluates every step closed loop: eval/* lines in metrics.jsonl, eval_info.json and videos per evaluation, the same episodes craft eval gives for the checkpoint", async () => {
    const run = join(tempDir("train-env-eval-run"), "run");
    const r = await craft([
      "train",
      ...MICRO_POLICY,
      `--dataset.root=${data}`,
      "--steps=2",
      "--batch_size=4",
      "--log_freq=1",
      "--seed=9",
      "--env.type=two_target",
      "--env.task=red",
      "--eval_freq=1",
      "--eval.n_episodes=2",
      "--eval.batch_size=2",
      `--output_dir=${run}`,
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toContain("notice: --eval_freq");
    const lines = metricsOf(run);
    const evals = lines.filter((l) => "eval/success" in l);
    expect(evals.map((l) => l.step)).toEqual([1, 2]);
    // Each evaluation line follows the training line of its step.
    expect(lines.map((l) => ("eval/success" in l ? `e${l.step}` : `t${l.step}`))).toEqual(["t1", "e1", "t2", "e2"]);
    for (const line of evals) {
      const success = line["eval/success"]!;
      expect(success).toBeGreaterThanOrEqual(0);
      expect(success).toBeLessThanOrEqual(1);
      expect(line["eval/pc_success"]).toBeCloseTo(100 * success, 10);
      expect(line["eval/n_episodes"]).toBe(2);
      expect(line["eval/invalid_decodes"]).toBeGreaterThanOrEqual(0);
      const info = evalInfoOf(run, `00000${line.step}`);
      expect(info.step).toBe(line.step);
      expect(info.env).toEqual({ type: "two_target", task: "reach the red target" });
      // LeRobot's start_seed=cfg.seed: every evaluation replays the same scenes.
      expect(info.per_episode.map((e) => e.seed)).toEqual([9, 10]);
      expect(info.aggregated.success_rate).toBe(success);
      expect(info.aggregated.avg_sum_reward).toBe(line["eval/avg_sum_reward"]);
      expect(info.aggregated.invalid_decodes).toBe(line["eval/invalid_decodes"]);
      // Two episodes filmed, in LeRobot's eval/videos_step_{id}/ (MP4 with ffmpeg, else GIF).
      const videos = readdirSync(join(run, "eval", `videos_step_00000${line.step}`)).sort();
      expect(videos.map((v) => v.replace(/\.(mp4|gif)$/, ""))).toEqual(["eval_episode_0", "eval_episode_1"]);
      expect(info.video_paths).toHaveLength(2);
    }
    // The run records its env/eval sections, so --config_path reproduces it.
    const saved = JSON.parse(readFileSync(join(run, "train_config.json"), "utf8")) as Record<string, unknown>;
    expect(saved.env).toEqual({ type: "two_target", task: "red" });
    expect(saved.eval).toEqual({ n_episodes: 2, batch_size: 2 });
    expect(saved.eval_freq).toBe(1);
    const rerun = resolveRunConfig(parseArgs([`--config_path=${join(run, "train_config.json")}`]), "train", { craft: false });
    expect(rerun.env).toEqual({ type: "two_target", task: "red", n_episodes: 2, batch_size: 2 });
    expect(rerun.lerobot.eval_freq).toBe(1);

    // Independent of the training process: the final checkpoint, evaluated by craft eval on the same seeds, gives the same episodes.
    const out = join(tempDir("train-env-eval-check"), "eval");
    const check = await craft([
      "eval",
      `--policy.path=${join(run, "checkpoints", "000002")}`,
      "--env.type=two_target",
      "--env.task=red",
      "--eval.n_episodes=2",
      "--eval.max_episodes_rendered=0",
      "--seed=9",
      `--output_dir=${out}`,
    ]);
    expect(check.code, check.stderr).toBe(0);
    const independent = JSON.parse(readFileSync(join(out, "eval_info.json"), "utf8")) as EvalInfo;
    expect(evalInfoOf(run, "000002").per_episode).toEqual(independent.per_episode);

    // craft report draws eval/success over the steps.
    const report = await craft(["report", `--output_dir=${run}`]);
    expect(report.code, report.stderr).toBe(0);
    const manifest = JSON.parse(readFileSync(join(run, "report", "report.json"), "utf8")) as { figures: { file: string }[] };
    expect(manifest.figures.map((f) => f.file)).toContain("eval_success.png");
    expect(readFileSync(join(run, "report", "eval_success.png")).subarray(1, 4).toString("ascii")).toBe("PNG");
  });

  it("train-craft evaluates only at multiples of eval_freq (LeRobot: step % eval_freq == 0)", async () => {
    const run = join(tempDir("train-env-eval-craft"), "run");
    const r = await craft([
      "train-craft",
      ...MICRO_POLICY,
      `--dataset.root=${data}`,
      `--craft.anchor_dataset_path=${data}`,
      "--steps=3",
      "--batch_size=4",
      "--log_freq=1",
      "--env.type=two_target",
      "--env.task=red",
      "--eval_freq=2",
      "--eval.n_episodes=1",
      `--output_dir=${run}`,
    ]);
    expect(r.code, r.stderr).toBe(0);
    const evals = metricsOf(run).filter((l) => "eval/success" in l);
    expect(evals.map((l) => l.step)).toEqual([2]);
    expect([0, 1]).toContain(evals[0]!["eval/success"]);
    expect(readdirSync(join(run, "eval")).sort()).toEqual(["eval_step_000002", "videos_step_000002"]);
  });

  it("bad input is one clear line, exit code ≠ 0, and nothing is written", async () => {
    const run = join(tempDir("train-env-eval-bad"), "run");
    const base = ["train", ...MICRO_POLICY, `--dataset.root=${data}`, "--steps=1", "--batch_size=4", "--eval_freq=1", `--output_dir=${run}`];
    const cases: [string[], RegExp][] = [
      [["--env.type=two_target", "--env.task=red", "--eval.n_episodes=0"], /^error: eval\.n_episodes: expected a positive integer, got 0$/],
      [["--env.type=pusht"], /^error: env\.type: expected reach \| push \| two_target, got "pusht"$/],
      [["--env.type=two_target", "--env.task=green"], /^error: env\.task: expected the instruction of the two-target scene: red \| blue \| yellow, got "green"$/],
      [["--eval.n_episodes=3"], /^error: env\.type: expected the environment to evaluate in \(reach \| push \| two_target\) with --env\.task\/--eval\.\*, got nothing$/],
    ];
    for (const [flags, message] of cases) {
      const r = await craft([...base, ...flags]);
      expect(r.code).not.toBe(0);
      expect(r.stderr.split("\n")[0]).toMatch(message);
    }
    expect(existsSync(run)).toBe(false);
    // A policy whose features the environment cannot serve stops before training, with one line.
    const mismatch = await craft(["train", ...MICRO_POLICY, `--dataset.root=${sevenDims}`, "--steps=1", "--batch_size=4", "--eval_freq=1", "--env.type=reach", `--output_dir=${run}`]);
    expect(mismatch.code).not.toBe(0);
    expect(mismatch.stderr).toContain(
      `error: env.type=reach: the policy of this run (built for ${sevenDims}): feature "observation.state": 7 dims, the environment "reach" provides 6`,
    );
    expect(existsSync(run)).toBe(false);

    // Nor does an earlier run in output_dir change when --overwrite=true would replace it.
    const earlier = await craft(["train", ...MICRO_POLICY, `--dataset.root=${data}`, "--steps=1", "--batch_size=4", `--output_dir=${run}`]);
    expect(earlier.code, earlier.stderr).toBe(0);
    const snapshot = () => [readdirSync(run).sort(), readFileSync(join(run, "metrics.jsonl"), "utf8"), readFileSync(join(run, "train_config.json"), "utf8")];
    const before = snapshot();
    const refused = await craft(["train", ...MICRO_POLICY, `--dataset.root=${sevenDims}`, "--steps=1", "--batch_size=4", "--eval_freq=1", "--env.type=reach", "--overwrite=true", `--output_dir=${run}`]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('feature "observation.state": 7 dims, the environment "reach" provides 6');
    expect(snapshot()).toEqual(before);
  });
});
