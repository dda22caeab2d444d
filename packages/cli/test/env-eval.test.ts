import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { makeEnv, makeSyntheticDataset, openDataset, probeVideo, syntheticEpisodes, type Batch } from "@craft/datasets";
import type { Pi0FastPolicy } from "@craft/policy-pi0fast";
import { checkPolicyMatchesEnv, evaluateInEnv, recordPolicyDataset, wilsonInterval, type ClosedLoopPolicy, type EvalInfo } from "../src/rollout.js";
import { craft, MICRO_POLICY, sevenDimRobotDataset, tempDir } from "./helpers.js";

/**
 * A policy that sees what pi0-FAST sees (camera image, state, instruction) and acts by hand: it
 * finds the named target's colour in the image and glides there. It proves the loop delivers the
 * observations, the instruction and the queued actions the way a learned policy needs them.
 */
const lookAndReach = (nActionSteps: number, follow?: "red" | "blue"): ClosedLoopPolicy => ({
  nActionSteps,
  async chunk(batch: Batch) {
    const img = batch.features["observation.images.front"]!;
    const [B, H, W] = img.shape as number[];
    const state = batch.features["observation.state"]!.data as Float32Array;
    const actions = new Float32Array(B * nActionSteps * 6);
    for (let b = 0; b < B; b++) {
      const colour = follow ?? (batch.task[b]!.includes("blue") ? "blue" : "red");
      let sx = 0;
      let sy = 0;
      let n = 0;
      for (let y = 0; y < H!; y++) {
        for (let x = 0; x < W!; x++) {
          const p = ((b * H! + y) * W! + x) * 3;
          const [r, g, bl] = [img.data[p]!, img.data[p + 1]!, img.data[p + 2]!];
          const hit = colour === "red" ? r > 200 && g < 60 : bl > 180 && r < 60;
          if (hit) (sx += x), (sy += y), (n += 1);
        }
      }
      let [ex, ey, ez] = [state[b * 6]!, state[b * 6 + 1]!, state[b * 6 + 2]!];
      const [tx, ty] = n > 0 ? [((sx / n) / (W! - 1)) * 2 - 1, ((sy / n) / (H! - 1)) * 2 - 1] : [ex, ey];
      for (let t = 0; t < nActionSteps; t++) {
        ex += 0.3 * (tx - ex);
        ey += 0.3 * (ty - ey);
        ez += 0.3 * (0.2 - ez);
        actions.set([ex, ey, ez, 1, 0, Math.hypot(ex, ey)], (b * nActionSteps + t) * 6);
      }
    }
    return { actions, invalid: new Array(B).fill(false) };
  },
});

const rollout = (policy: ClosedLoopPolicy, envType: string, envTask: string | null, nEpisodes = 6) =>
  evaluateInEnv(policy, { envType, envTask, nEpisodes, batchSize: 4, seed: 50, maxEpisodesRendered: 0, videosDir: null, imageSize: 32 });

describe("closed-loop rollouts (policy-agnostic loop)", () => {
  it("a policy that looks for the instructed colour succeeds; the same policy ignoring the instruction reaches the other target", async () => {
    const good = await rollout(lookAndReach(5), "two_target", "blue");
    expect(good.aggregated.outcomes.success).toBe(6);
    expect(good.env.task).toBe("reach the blue target");
    // lerobot-eval's timing, measured by the loop itself: every caller's eval_info.json carries it.
    expect(good.aggregated.eval_s).toBeGreaterThan(0);
    expect(good.aggregated.eval_ep_s).toBeCloseTo(good.aggregated.eval_s! / 6, 12);
    const forgetful = await rollout(lookAndReach(5, "red"), "two_target", "blue");
    expect(forgetful.aggregated.outcomes.other_target).toBe(6);
    expect(forgetful.aggregated.success_rate).toBe(0);
    expect(forgetful.per_episode.map((e) => e.seed)).toEqual([50, 51, 52, 53, 54, 55]);
  });

  it("executes n_action_steps actions per inference", async () => {
    const one = await rollout(lookAndReach(1), "reach", null, 2);
    const five = await rollout(lookAndReach(5), "reach", null, 2);
    const steps = (i: EvalInfo) => i.per_episode.reduce((m, e) => Math.max(m, e.length), 0);
    expect(one.aggregated.inferences).toBe(steps(one));
    expect(five.aggregated.inferences).toBe(Math.ceil(steps(five) / 5));
  });

  it("a NaN action ends only its own episode, as a failure with the reason; malformed decodes are counted", async () => {
    let calls = 0;
    const still: ClosedLoopPolicy = {
      nActionSteps: 4,
      async chunk(batch) {
        calls += 1;
        const state = batch.features["observation.state"]!.data as Float32Array;
        const actions = new Float32Array(batch.size * 4 * 6);
        for (let b = 0; b < batch.size; b++) for (let t = 0; t < 4; t++) actions.set(state.subarray(b * 6, b * 6 + 6), (b * 4 + t) * 6);
        // the first inference's second sample goes NaN in its third action's wrist; sample 0 always decodes malformed
        if (calls === 1) actions[(1 * 4 + 2) * 6 + 4] = NaN;
        return { actions, invalid: Array.from({ length: batch.size }, (_, b) => b === 0) };
      },
    };
    const info = await rollout(still, "push", null, 4);
    expect(info.per_episode.map((e) => e.outcome)).toEqual(["invalid_decode", "nan", "timeout", "timeout"]);
    expect(info.per_episode[1]!.reason).toBe("step 2: action[4] (wrist) is NaN");
    expect(info.per_episode[1]!.length).toBe(2);
    expect(info.per_episode[0]!.invalid_decodes).toBe(20); // 80 steps, 4 per inference, every one malformed
    expect(info.per_episode[2]!.length).toBe(80);
    expect(info.aggregated.invalid_decodes).toBe(20);
  });

  it("a policy whose cameras or features the environment lacks is refused, naming the feature", () => {
    const env = makeEnv({ type: "push", imageSize: 8 });
    const policy = (imageKeys: string[], stateDim: number, actionDim: number) =>
      ({ config: { image_keys: imageKeys }, stats: { "observation.state": {}, action: {} }, processor: { stateDim, actionDim } }) as unknown as Pi0FastPolicy;
    expect(() => checkPolicyMatchesEnv(policy(["observation.images.front"], 6, 6), env, "ckpt")).not.toThrow();
    expect(() => checkPolicyMatchesEnv(policy(["observation.images.wrist"], 6, 6), env, "ckpt")).toThrow(
      'policy.path: ckpt: camera "observation.images.wrist": the environment "push" renders only "observation.images.front"',
    );
    expect(() => checkPolicyMatchesEnv(policy(["observation.images.front"], 6, 14), env, "ckpt")).toThrow(
      'policy.path: ckpt: feature "action": 14 dims, the environment "push" takes 6',
    );
  });

  it("writes an animated GIF rollout where ffmpeg is not used: one frame per step plus the first observation", async () => {
    const videosDir = join(tempDir("gif"), "videos");
    const info = await evaluateInEnv(lookAndReach(5), { envType: "reach", envTask: null, nEpisodes: 1, batchSize: 1, seed: 3, maxEpisodesRendered: 1, videosDir, videoFormat: "gif", imageSize: 32 });
    expect(info.video_paths).toEqual([join(videosDir, "eval_episode_0.gif")]);
    // ffprobe as the independent reader
    const probe = spawnSync("ffprobe", ["-v", "error", "-count_frames", "-show_entries", "stream=codec_name,width,height,nb_read_frames", "-of", "json", info.video_paths[0]!], { encoding: "utf8" });
    const stream = (JSON.parse(probe.stdout) as { streams: { codec_name: string; width: number; height: number; nb_read_frames: string }[] }).streams[0]!;
    expect([stream.codec_name, stream.width, stream.height]).toEqual(["gif", 32, 32]);
    expect(Number(stream.nb_read_frames)).toBe(info.per_episode[0]!.length + 1);
  });

  it("records a policy's episodes as a dataset: instructions take turns, each frame the observation and the action executed from it", async () => {
    const out = join(tempDir("record-policy"), "rollouts");
    const progress: string[] = [];
    const results = await recordPolicyDataset(lookAndReach(3), out, {
      task: "reach_red_yellow",
      episodes: 3,
      seed: 50,
      imageSize: 32,
      batchSize: 2,
      onProgress: (done, total, ok) => progress.push(`${done}/${total} ${ok}`),
    });
    // one progress count over both instructions: red's two episodes, then yellow's one
    expect(progress).toEqual(["2/3 2", "3/3 2"]);
    // red plays scenes 50 and 51, yellow scene 52; the dataset alternates red, yellow, red
    expect(results.map((r) => r.seed)).toEqual([50, 52, 51]);
    // the policy follows red whatever it is told: red succeeds, yellow ends at the other target
    expect(results.map((r) => r.outcome)).toEqual(["success", "other_target", "success"]);
    const ds = await openDataset(out);
    try {
      expect(ds.episodes.map((e) => e.tasks)).toEqual([["reach the red target"], ["reach the yellow target"], ["reach the red target"]]);
      expect(ds.episodes.map((e) => e.length)).toEqual(results.map((r) => r.length));
      // an independent replay: the recorded actions, stepped in a fresh scene of the same seed, give back the recorded observations
      for (const [e, episode] of ds.episodes.entries()) {
        const env = makeEnv({ type: "two_target", task: e === 1 ? "yellow" : "red", imageSize: 32 });
        let observation = env.reset(results[e]!.seed);
        const frames = await ds.getFrames(Array.from({ length: episode.length }, (_, t) => episode.from + t));
        for (let t = 0; t < episode.length; t++) {
          expect(Array.from(frames.features["observation.state"]!.data.subarray(t * 6, (t + 1) * 6))).toEqual(Array.from(observation["observation.state"]));
          expect(frames.features["observation.images.front"]!.data.subarray(t * 32 * 32 * 3, (t + 1) * 32 * 32 * 3)).toEqual(observation["observation.images.front"]);
          const step = env.step(frames.features.action!.data.subarray(t * 6, (t + 1) * 6) as Float32Array);
          observation = step.observation;
          if (t === episode.length - 1) expect(step.terminated || step.truncated).toBe(true);
        }
      }
    } finally {
      await ds.close();
    }
    // nothing is rolled out over an existing dataset
    await expect(recordPolicyDataset(lookAndReach(3), out, { task: "reach_red", episodes: 1, seed: 0, imageSize: 32, batchSize: 1 })).rejects.toThrow(/field "root": expected an empty or absent directory/);
  });

  it("Wilson interval: hand-worked values", () => {
    const z2 = 1.959963984540054 ** 2;
    expect(wilsonInterval(0, 3)[0]).toBe(0);
    expect(wilsonInterval(0, 3)[1]).toBeCloseTo(z2 / (3 + z2), 12);
    expect(wilsonInterval(3, 3)[0]).toBeCloseTo(3 / (3 + z2), 12);
    // 8 of 10 (Wilson 1927; also statsmodels proportion_confint(8, 10, method="wilson"))
    const [lo, hi] = wilsonInterval(8, 10);
    expect(lo).toBeCloseTo(0.4901624, 6);
    expect(hi).toBeCloseTo(0.9433178, 6);
  });
});

describe("craft dataset make-synthetic: the two-target scene's instructions", () => {
  it("records reach_blue episodes carrying the blue instruction; an unknown task names the choices", async () => {
    const out = join(tempDir("two-target"), "blue");
    const r = await craft(["dataset", "make-synthetic", "--task=reach_blue", "--episodes=1", "--image_size=16", `--output=${out}`]);
    expect(r.code, r.stderr).toBe(0);
    const ds = await openDataset(out);
    expect(ds.tasks).toEqual(["reach the blue target"]);
    await ds.close();
    const bad = await craft(["dataset", "make-synthetic", "--task=reach_green", `--output=${out}-x`]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--task: expected one of reach, push, reach_red, reach_blue");
  });

  it("--perturbation detours that share of the expert's episodes: the same scenes and instructions, other start states", async () => {
    const dir = tempDir("perturbation");
    const read = async (root: string) => {
      const ds = await openDataset(root);
      const frames = await ds.getFrames(Array.from({ length: ds.numFrames }, (_, i) => i));
      await ds.close();
      return frames;
    };
    const made = await Promise.all(
      ["0", "1"].map(async (share) => {
        const out = join(dir, `share-${share}`);
        const r = await craft(["dataset", "make-synthetic", "--task=reach_red_yellow", "--episodes=4", "--image_size=16", "--seed=3", `--perturbation=${share}`, `--output=${out}`]);
        expect(r.code, r.stderr).toBe(0);
        return read(out);
      }),
    );
    const plain = syntheticEpisodes({ task: "reach_red_yellow", episodes: 4, seed: 3, imageSize: 16 });
    const detoured = syntheticEpisodes({ task: "reach_red_yellow", episodes: 4, seed: 3, imageSize: 16, perturbation: 1 });
    const starts = (frames: Awaited<ReturnType<typeof read>>) => {
      const first = Array.from(frames.features.frame_index!.data, Number).flatMap((f, i) => (f === 0 ? [i] : []));
      return first.map((i) => Array.from(frames.features["observation.state"]!.data.subarray(i * 6, i * 6 + 6), (v) => Number(v.toFixed(5))));
    };
    const rounded = (eps: typeof plain) => eps.map((ep) => Array.from(ep.frames[0]!["observation.state"] as Float32Array, (v) => Number(v.toFixed(5))));
    expect(starts(made[0]!)).toEqual(rounded(plain));
    expect(starts(made[1]!)).toEqual(rounded(detoured));
    expect(starts(made[1]!)).not.toEqual(starts(made[0]!));
    const bad = await craft(["dataset", "make-synthetic", "--task=reach_red", "--perturbation=2", `--output=${join(dir, "bad")}`]);
    expect(bad.code).toBe(2);
    expect(bad.stderr.split("\n")[0]).toBe("error: --perturbation: expected a share of episodes in [0, 1], got 2");
    expect(existsSync(join(dir, "bad"))).toBe(false);
  });
});

describe("craft eval --env.type (end to end with a trained pi0-FAST)", () => {
  let policyDir = "";
  let otherPolicyDir = "";
  let data = "";
  beforeAll(async () => {
    const dir = tempDir("env-eval");
    data = join(dir, "reach_red");
    await makeSyntheticDataset(data, { task: "reach_red", episodes: 2, seed: 0, imageSize: 32 });
    const r = await craft(["train", ...MICRO_POLICY, `--dataset.root=${data}`, "--steps=2", "--batch_size=4", `--output_dir=${join(dir, "run")}`]);
    expect(r.code, r.stderr).toBe(0);
    policyDir = join(dir, "run");
    const other = await sevenDimRobotDataset(join(dir, "other"));
    const o = await craft(["train", ...MICRO_POLICY, `--dataset.root=${other}`, "--steps=1", "--batch_size=4", `--output_dir=${join(dir, "other-run")}`]);
    expect(o.code, o.stderr).toBe(0);
    otherPolicyDir = join(dir, "other-run");
  });

  it("writes eval_info.json (per-episode outcome, reward, length; success rate with its Wilson interval) and MP4 rollouts", async () => {
    const out = join(tempDir("env-eval-out"), "eval");
    const r = await craft([
      "eval",
      `--policy.path=${policyDir}`,
      "--env.type=two_target",
      "--env.task=red",
      "--eval.n_episodes=3",
      "--eval.batch_size=2",
      "--eval.max_episodes_rendered=2",
      "--seed=7",
      `--output_dir=${out}`,
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/episodes 3\/3, success \d\/3/);
    expect(r.stdout).toMatch(/two_target "reach the red target": success \d+\.\d% \(95% CI \d+\.\d–\d+\.\d%\) over 3 episodes/);
    const info = JSON.parse(readFileSync(join(out, "eval_info.json"), "utf8")) as EvalInfo;
    expect(info.per_episode.map((e) => e.seed)).toEqual([7, 8, 9]);
    const k = info.per_episode.filter((e) => e.success).length;
    expect(info.aggregated.success_rate).toBe(k / 3);
    expect(info.aggregated.success_rate_ci95).toEqual(wilsonInterval(k, 3));
    for (const e of info.per_episode) {
      expect(["success", "other_target", "timeout", "invalid_decode", "nan"]).toContain(e.outcome);
      expect(e.success).toBe(e.outcome === "success");
      expect(e.length).toBeGreaterThan(0);
      expect(e.length).toBeLessThanOrEqual(60);
      expect(e.sum_reward).toBe(e.success ? 1 : 0);
    }
    expect(Object.values(info.aggregated.outcomes).reduce((a, b) => a + b, 0)).toBe(3);
    expect(info.video_paths).toEqual([join(out, "videos", "eval_episode_0.mp4"), join(out, "videos", "eval_episode_1.mp4")]);
    for (const [i, file] of info.video_paths.entries()) {
      const probe = probeVideo(file, "rollout");
      expect([probe.width, probe.height]).toEqual([64, 64]);
      // the first observation plus one frame per step, at the scene's 10 fps
      expect(probe.duration).toBeCloseTo((info.per_episode[i]!.length + 1) / 10, 1);
    }
  });

  it("craft dataset make-synthetic --policy.path records the policy's own episodes; a policy the scene cannot feed is refused before any rollout", async () => {
    const dir = tempDir("make-synthetic-policy");
    const out = join(dir, "acted");
    const r = await craft(["dataset", "make-synthetic", "--task=reach_red", "--episodes=2", "--image_size=32", "--seed=9", `--policy.path=${policyDir}`, `--output=${out}`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/episodes 2\/2, success \d\/2/);
    const k = Number(/2 episodes, (\d) successful/.exec(r.stdout)?.[1]);
    const ds = await openDataset(out);
    expect(ds.numEpisodes).toBe(2);
    expect(ds.tasks).toEqual(["reach the red target"]);
    await ds.close();
    // the same scenes through craft eval: the same successes
    const evalOut = join(dir, "eval");
    const e = await craft(["eval", `--policy.path=${policyDir}`, "--env.type=two_target", "--env.task=red", "--eval.n_episodes=2", "--eval.max_episodes_rendered=0", "--seed=9", `--output_dir=${evalOut}`]);
    expect(e.code, e.stderr).toBe(0);
    const info = JSON.parse(readFileSync(join(evalOut, "eval_info.json"), "utf8")) as EvalInfo;
    expect(info.per_episode.filter((x) => x.success).length).toBe(k);
    const bad = await craft(["dataset", "make-synthetic", "--task=reach", "--episodes=1", `--policy.path=${otherPolicyDir}`, `--output=${join(dir, "bad")}`]);
    expect(bad.code).toBe(1);
    expect(bad.stderr.trim()).toBe(`error: policy.path: ${otherPolicyDir}: feature "observation.state": 7 dims, the environment "reach" provides 6`);
    expect(existsSync(join(dir, "bad"))).toBe(false);
    const fps = await craft(["dataset", "make-synthetic", "--task=reach_red", "--fps=5", `--policy.path=${policyDir}`, `--output=${join(dir, "fps")}`]);
    expect(fps.code).toBe(2);
    expect(fps.stderr.split("\n")[0]).toBe("error: --fps: not with --policy.path (the environment's fps and embedded images are recorded)");
    const detours = await craft(["dataset", "make-synthetic", "--task=reach_red", "--perturbation=0.5", `--policy.path=${policyDir}`, `--output=${join(dir, "detours")}`]);
    expect(detours.code).toBe(2);
    expect(detours.stderr.split("\n")[0]).toBe("error: --perturbation: not with --policy.path (it detours the scripted expert's episodes; the policy starts where the scene puts the arm)");
  }, 120_000);

  it("CRAFT_SMOKE=1 cuts the episodes to two and says so", async () => {
    const out = join(tempDir("env-eval-smoke"), "eval");
    process.env.CRAFT_SMOKE = "1";
    try {
      const r = await craft(["eval", `--policy.path=${policyDir}`, "--env.type=reach", "--eval.n_episodes=9", "--eval.max_episodes_rendered=0", `--output_dir=${out}`]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toContain("[craft] CRAFT_SMOKE=1: --eval.n_episodes 9 cut to 2");
    } finally {
      delete process.env.CRAFT_SMOKE;
    }
    const info = JSON.parse(readFileSync(join(out, "eval_info.json"), "utf8")) as EvalInfo;
    expect(info.per_episode.length).toBe(2);
    expect(info.video_paths).toEqual([]);
  }, 120_000);

  it("without --env.type, craft eval stays the dataset evaluation", async () => {
    const file = join(tempDir("env-eval-ds"), "eval.json");
    const r = await craft(["eval", `--policy.path=${policyDir}`, `--dataset.root=${data}`, "--max_frames=4", "--batch_size=2", `--output=${file}`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^task +\S+: loss \d+\.\d{4}, action MSE/);
    const report = JSON.parse(readFileSync(file, "utf8")) as { task: { frames: number; invalid_decodes: number } };
    expect(report.task.frames).toBe(4);
    expect(report.task.invalid_decodes).toBeLessThanOrEqual(4);
  }, 120_000);

  it("bad input is one clear line and writes nothing", async () => {
    const out = join(tempDir("env-eval-bad"), "eval");
    const cases: [string[], RegExp][] = [
      [["--env.type=pusht"], /^error: env\.type: expected reach \| push \| two_target, got "pusht"$/],
      [["--env.type=two_target"], /^error: env\.task: expected the instruction of the two-target scene: red \| blue \| yellow, got null$/],
      [["--env.type=reach", "--eval.n_episodes=0"], /^error: eval\.n_episodes: expected a positive integer, got 0$/],
      [["--env.type=reach", "--dataset.root=x"], /^error: unknown flag --dataset\.root for "craft eval --env\.type"/],
    ];
    for (const [flags, message] of cases) {
      const r = await craft(["eval", `--policy.path=${policyDir}`, `--output_dir=${out}`, ...flags]);
      expect(r.code).not.toBe(0);
      expect(r.stderr.split("\n")[0]).toMatch(message);
    }
    const mismatch = await craft(["eval", `--policy.path=${otherPolicyDir}`, "--env.type=reach", `--output_dir=${out}`, "--policy.device=wasm"]);
    expect(mismatch.code).toBe(1);
    expect(mismatch.stderr).toContain(
      `error: policy.path: ${otherPolicyDir}: feature "observation.state": 7 dims, the environment "reach" provides 6`,
    );
    expect(existsSync(out)).toBe(false);
  }, 120_000);
});
