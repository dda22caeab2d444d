import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  checkWritableRoot,
  encodeVideo,
  hasFfmpeg,
  makeEnv,
  SYNTHETIC_ENVS,
  SYNTHETIC_ROBOT_TYPE,
  writeDataset,
  type Batch,
  type EnvObservation,
  type FrameValues,
  type SimEnv,
  type SyntheticTask,
  type WriteEpisode,
} from "@craft/datasets";
import * as gifenc from "gifenc";
import { renameKey, type Pi0FastPolicy } from "@craft/policy-pi0fast";
import type { EnvEvalSpec } from "./envFlags.js";
import { ConfigError } from "./errors.js";

/**
 * Closed-loop evaluation in a simulated environment, in the shape of LeRobot's `lerobot-eval`:
 * `batchSize` environments step in lock-step; whenever the action queue runs dry the policy is
 * asked for a chunk and its first `n_action_steps` actions are executed one per tick, as on a robot.
 */

/** What the loop needs of a policy: a chunk of actions per observation, and which decodes were malformed. */
export interface ClosedLoopPolicy {
  /** Actions executed per inference (pi0-FAST's `n_action_steps`). */
  readonly nActionSteps: number;
  /** [B, nActionSteps, actionDim] actions for a batch of observations; `invalid[b]`: sample b's tokens were not a valid FAST sequence. */
  chunk(batch: Batch): Promise<{ actions: Float32Array; invalid: boolean[] }>;
}

/** pi0-FAST as a closed-loop policy; per-sample validity comes from decoding each sample's tokens alone. */
export const pi0FastClosedLoop = (policy: Pi0FastPolicy): ClosedLoopPolicy => ({
  nActionSteps: policy.config.n_action_steps,
  async chunk(batch) {
    const selected = await policy.selectAction(batch);
    const invalid = selected.tokens.map((tokens) => selected.invalid > 0 && policy.processor.decodeActions([tokens]).invalid > 0);
    return { actions: selected.actions, invalid };
  },
});

/**
 * How an episode ended: `success`; `other_target` (reached the target the instruction did not
 * name); `timeout` (truncated at the step limit); `invalid_decode` (timed out after at least one
 * malformed FAST decode); `nan` (the policy produced a non-finite action; the episode stops there).
 */
export type RolloutOutcome = "success" | "other_target" | "timeout" | "invalid_decode" | "nan";
export const ROLLOUT_OUTCOMES: readonly RolloutOutcome[] = ["success", "other_target", "timeout", "invalid_decode", "nan"];

export interface EpisodeResult {
  readonly episode_ix: number;
  readonly seed: number;
  readonly success: boolean;
  readonly outcome: RolloutOutcome;
  readonly sum_reward: number;
  readonly max_reward: number;
  readonly length: number;
  readonly invalid_decodes: number;
  /** Why an episode failed other than by the environment (NaN action: which step and dimension). */
  readonly reason?: string;
}

export interface EvalInfo {
  readonly env: { readonly type: string; readonly task: string };
  readonly per_episode: EpisodeResult[];
  readonly aggregated: {
    readonly n_episodes: number;
    readonly pc_success: number;
    readonly success_rate: number;
    /** Wilson score interval at 95% (z = 1.96) for the success rate. */
    readonly success_rate_ci95: readonly [number, number];
    readonly avg_sum_reward: number;
    readonly avg_max_reward: number;
    readonly avg_length: number;
    readonly outcomes: Readonly<Record<RolloutOutcome, number>>;
    readonly invalid_decodes: number;
    readonly inferences: number;
    /** Wall-clock seconds of the whole evaluation and per episode (informational, as lerobot-eval's). */
    readonly eval_s?: number;
    readonly eval_ep_s?: number;
  };
  readonly video_paths: string[];
}

export interface RolloutOptions {
  readonly envType: string;
  readonly envTask: string | null;
  readonly nEpisodes: number;
  readonly batchSize: number;
  readonly seed: number;
  /** Episodes whose video is written to `videosDir` (the first ones), LeRobot's `max_episodes_rendered`. */
  readonly maxEpisodesRendered: number;
  readonly videosDir: string | null;
  /** MP4 through ffmpeg when it is installed, else an animated GIF (default `auto`). */
  readonly videoFormat?: "auto" | "mp4" | "gif";
  readonly imageSize?: number;
  /** Called after each finished batch of episodes (progress display). */
  readonly onProgress?: (done: number, total: number, successes: number) => void;
  /**
   * When set, every episode is recorded as dataset frames (each observation with the action executed
   * from it, LeRobot's `lerobot-record --policy.path` shape) and handed over when it ends.
   */
  readonly onRecorded?: (result: EpisodeResult, episode: WriteEpisode) => void;
}

/** One line on stderr per finished batch of episodes; a TTY gets one redrawn bar. */
export const episodeProgressLine = (done: number, total: number, successes: number) => {
  const filled = Math.round((done / total) * 20);
  const text = `[${"#".repeat(filled)}${".".repeat(20 - filled)}] episodes ${done}/${total}, success ${successes}/${done}`;
  if (process.stderr.isTTY) process.stderr.write(`\r\x1b[2K${text}${done === total ? "\n" : ""}`);
  else process.stderr.write(`${text}\n`);
};

/** Wilson score interval for k successes in n trials (Wilson 1927), at the normal quantile z. */
export function wilsonInterval(k: number, n: number, z = 1.959963984540054): [number, number] {
  if (n === 0) return [0, 1];
  const p = k / n;
  const z2 = z * z;
  const centre = (p + z2 / (2 * n)) / (1 + z2 / n);
  const half = (z / (1 + z2 / n)) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  return [Math.max(0, centre - half), Math.min(1, centre + half)];
}

/**
 * The features an environment provides must be the ones the policy was trained on: its cameras by
 * name, its state and action by name and dimension. One line, starting with `origin` (where the
 * policy came from; by default `policy.path: <dir>`), names the first mismatch.
 */
export function checkPolicyMatchesEnv(
  policy: Pi0FastPolicy,
  env: SimEnv,
  policyPath: string,
  origin = `policy.path: ${policyPath}`,
  renameMap: Readonly<Record<string, string>> = {},
): void {
  const features = env.spec.features;
  // the cameras as the policy's processor sees them, after --rename_map
  const cameras = Object.keys(features).filter((k) => features[k]!.dtype === "image").map((k) => renameKey(k, renameMap));
  const missing = policy.config.image_keys.find((k) => !cameras.includes(k));
  const problem =
    missing !== undefined
      ? `camera "${missing}": the environment "${env.spec.type}" renders only ${cameras.map((c) => `"${c}"`).join(", ")}`
      : policy.stats["observation.state"] === undefined || policy.stats.action === undefined
        ? `features: expected "observation.state" and "action" statistics, got ${Object.keys(policy.stats).map((k) => `"${k}"`).join(", ")}`
        : policy.processor.stateDim !== features["observation.state"]!.shape[0]
          ? `feature "observation.state": ${policy.processor.stateDim} dims, the environment "${env.spec.type}" provides ${features["observation.state"]!.shape[0]}`
          : policy.processor.actionDim !== features.action!.shape[0]
            ? `feature "action": ${policy.processor.actionDim} dims, the environment "${env.spec.type}" takes ${features.action!.shape[0]}`
            : null;
  if (problem !== null) throw new ConfigError([`${origin}: ${problem}`]);
}

const observationBatch = (observations: readonly EnvObservation[], size: number, instruction: string): Batch => {
  const B = observations.length;
  const state = new Float32Array(B * observations[0]!["observation.state"].length);
  const image = new Uint8Array(B * size * size * 3);
  observations.forEach((o, b) => {
    state.set(o["observation.state"], b * o["observation.state"].length);
    image.set(o["observation.images.front"], b * size * size * 3);
  });
  return {
    size: B,
    features: {
      "observation.state": { data: state, shape: [B, state.length / B] },
      "observation.images.front": { data: image, shape: [B, size, size, 3] },
    },
    task: observations.map(() => instruction),
  };
};

interface Slot {
  readonly env: SimEnv;
  readonly episode: number;
  readonly seed: number;
  observation: EnvObservation;
  queue: Float32Array[];
  frames: Uint8Array[] | null;
  recorded: FrameValues[] | null;
  sumReward: number;
  maxReward: number;
  length: number;
  invalid: number;
  result: EpisodeResult | null;
}

const finish = (slot: Slot, outcome: RolloutOutcome, reason?: string): EpisodeResult => ({
  episode_ix: slot.episode,
  seed: slot.seed,
  success: outcome === "success",
  outcome,
  sum_reward: slot.sumReward,
  max_reward: slot.maxReward,
  length: slot.length,
  invalid_decodes: slot.invalid,
  ...(reason !== undefined && { reason }),
});

/** Refill the empty queues of running slots with one inference over all of them. */
async function refill(policy: ClosedLoopPolicy, slots: Slot[], size: number, instruction: string): Promise<number> {
  const waiting = slots.filter((s) => s.result === null && s.queue.length === 0);
  if (waiting.length === 0) return 0;
  const { actions, invalid } = await policy.chunk(observationBatch(waiting.map((s) => s.observation), size, instruction));
  const dim = actions.length / (waiting.length * policy.nActionSteps);
  waiting.forEach((slot, b) => {
    if (invalid[b]) slot.invalid += 1;
    for (let t = 0; t < policy.nActionSteps; t++) slot.queue.push(actions.subarray((b * policy.nActionSteps + t) * dim, (b * policy.nActionSteps + t + 1) * dim));
  });
  return 1;
}

/** One tick of a running slot: a non-finite action ends the episode as `nan`, never the evaluation. */
function tick(slot: Slot, names: readonly string[]): void {
  const action = slot.queue.shift()!;
  const bad = action.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0) {
    slot.result = finish(slot, "nan", `step ${slot.length}: action[${bad}] (${names[bad] ?? bad}) is ${action[bad]}`);
    return;
  }
  slot.recorded?.push({ ...slot.observation, action: Float32Array.from(action) });
  const r = slot.env.step(action);
  slot.observation = r.observation;
  slot.length += 1;
  slot.sumReward += r.reward;
  slot.maxReward = Math.max(slot.maxReward, r.reward);
  slot.frames?.push(r.observation["observation.images.front"]);
  if (r.terminated || r.truncated) {
    const outcome: RolloutOutcome = r.info.outcome !== "running" ? r.info.outcome : slot.invalid > 0 ? "invalid_decode" : "timeout";
    slot.result = finish(slot, outcome);
  }
}

/** Run `nEpisodes` closed-loop episodes (seeds `seed`, `seed + 1`, …) and summarise them. */
export async function evaluateInEnv(policy: ClosedLoopPolicy, options: RolloutOptions): Promise<EvalInfo> {
  const started = performance.now();
  const size = options.imageSize ?? 64;
  const probe = makeEnv({ type: options.envType, task: options.envTask, imageSize: size });
  const names = probe.spec.features.action?.names ?? [];
  const results: EpisodeResult[] = [];
  const videoPaths: string[] = [];
  let inferences = 0;
  for (let start = 0; start < options.nEpisodes; start += options.batchSize) {
    const slots: Slot[] = [];
    for (let episode = start; episode < Math.min(options.nEpisodes, start + options.batchSize); episode++) {
      const env = makeEnv({ type: options.envType, task: options.envTask, imageSize: size });
      const seed = options.seed + episode;
      const observation = env.reset(seed);
      const frames = options.videosDir !== null && episode < options.maxEpisodesRendered ? [observation["observation.images.front"]] : null;
      slots.push({ env, episode, seed, observation, queue: [], frames, recorded: options.onRecorded ? [] : null, sumReward: 0, maxReward: 0, length: 0, invalid: 0, result: null });
    }
    while (slots.some((s) => s.result === null)) {
      inferences += await refill(policy, slots, size, probe.spec.instruction);
      for (const slot of slots) if (slot.result === null) tick(slot, names);
    }
    for (const slot of slots) {
      results.push(slot.result!);
      if (slot.recorded !== null && slot.recorded.length > 0) options.onRecorded?.(slot.result!, { task: probe.spec.instruction, frames: slot.recorded });
      if (slot.frames !== null && options.videosDir !== null) videoPaths.push(await writeRolloutVideo(options.videosDir, slot.episode, slot.frames, size, probe.spec.fps, options.videoFormat ?? "auto"));
    }
    options.onProgress?.(results.length, options.nEpisodes, results.filter((r) => r.success).length);
  }
  const info = summarise({ type: options.envType, task: probe.spec.instruction }, results, videoPaths, inferences);
  const seconds = (performance.now() - started) / 1000;
  return { ...info, aggregated: { ...info.aggregated, eval_s: seconds, eval_ep_s: seconds / Math.max(results.length, 1) } };
}

/** `videos/eval_episode_{i}.mp4` as lerobot-eval names them (`.gif` without ffmpeg). */
async function writeRolloutVideo(dir: string, episode: number, frames: Uint8Array[], size: number, fps: number, format: "auto" | "mp4" | "gif"): Promise<string> {
  await mkdir(dir, { recursive: true });
  const mp4 = format === "mp4" || (format === "auto" && hasFfmpeg());
  const file = join(dir, `eval_episode_${episode}.${mp4 ? "mp4" : "gif"}`);
  if (mp4) await encodeVideo(file, frames, { width: size, height: size, fps });
  else await writeFile(file, animatedGif(frames, size, fps));
  return file;
}

/** RGB frames as a looping GIF; one palette per frame (the scenes have a handful of flat colours). */
export function animatedGif(frames: readonly Uint8Array[], size: number, fps: number): Uint8Array {
  // bundlers read gifenc's ESM build (named exports); Node's ESM loader its CommonJS one (all on `default`)
  const { GIFEncoder, quantize, applyPalette } = typeof gifenc.GIFEncoder === "function" ? gifenc : (gifenc as unknown as { default: typeof gifenc }).default;
  const encoder = GIFEncoder();
  const rgba = new Uint8Array(size * size * 4);
  for (const frame of frames) {
    for (let i = 0; i < size * size; i++) rgba.set([frame[i * 3]!, frame[i * 3 + 1]!, frame[i * 3 + 2]!, 255], i * 4);
    const palette = quantize(rgba, 256);
    encoder.writeFrame(applyPalette(rgba, palette), size, size, { palette, delay: 1000 / fps });
  }
  encoder.finish();
  return encoder.bytes();
}

export function summarise(env: EvalInfo["env"], perEpisode: EpisodeResult[], videoPaths: string[], inferences: number): EvalInfo {
  const n = perEpisode.length;
  const successes = perEpisode.filter((e) => e.success).length;
  const mean = (f: (e: EpisodeResult) => number) => (n === 0 ? 0 : perEpisode.reduce((s, e) => s + f(e), 0) / n);
  const outcomes = Object.fromEntries(ROLLOUT_OUTCOMES.map((o) => [o, perEpisode.filter((e) => e.outcome === o).length])) as Record<RolloutOutcome, number>;
  return {
    env,
    per_episode: perEpisode,
    aggregated: {
      n_episodes: n,
      pc_success: (100 * successes) / Math.max(n, 1),
      success_rate: successes / Math.max(n, 1),
      success_rate_ci95: wilsonInterval(successes, n),
      avg_sum_reward: mean((e) => e.sum_reward),
      avg_max_reward: mean((e) => e.max_reward),
      avg_length: mean((e) => e.length),
      outcomes,
      invalid_decodes: perEpisode.reduce((s, e) => s + e.invalid_decodes, 0),
      inferences,
    },
    video_paths: videoPaths,
  };
}

/** LeRobot's step identifier (`get_step_identifier`): the step zero-padded to max(6, digits of the last step). */
export const stepIdentifier = (step: number, totalSteps: number): string => String(step).padStart(Math.max(6, String(totalSteps).length), "0");

export interface TrainingEvaluationOptions {
  readonly env: EnvEvalSpec;
  /** Evaluate after every `evalFreq`-th step (LeRobot: `step % eval_freq == 0`, no extra one at the end). */
  readonly evalFreq: number;
  readonly outputDir: string;
  readonly totalSteps: number;
  /** First episode seed, the same at every evaluation (LeRobot's `start_seed=cfg.seed`): steps are compared on the same scenes. */
  readonly seed: number;
  readonly maxEpisodesRendered: number;
}

/** Episodes filmed at each evaluation during training (LeRobot films 4; two keep the run light). */
export const TRAINING_EVAL_EPISODES_RENDERED = 2;

/**
 * lerobot-train's periodic evaluation as a per-step hook of the training loop: every `evalFreq`
 * steps the current policy runs closed loop; `eval/eval_step_{id}/eval_info.json` and
 * `eval/videos_step_{id}/eval_episode_{i}.mp4` are written, and the aggregate returned under
 * `eval/*` names for the run's metrics log. Environments draw from their own seeds only.
 */
export function evaluateDuringTraining(policy: ClosedLoopPolicy, options: TrainingEvaluationOptions): (step: number) => Promise<Record<string, number> | undefined> {
  return async (step) => {
    if (step % options.evalFreq !== 0) return undefined;
    const id = stepIdentifier(step, options.totalSteps);
    const evalDir = join(options.outputDir, "eval");
    const info = await evaluateInEnv(policy, {
      envType: options.env.type,
      envTask: options.env.task,
      nEpisodes: options.env.n_episodes,
      batchSize: options.env.batch_size,
      seed: options.seed,
      maxEpisodesRendered: options.maxEpisodesRendered,
      videosDir: options.maxEpisodesRendered > 0 ? join(evalDir, `videos_step_${id}`) : null,
    });
    const a = info.aggregated;
    await writeEvalInfo(join(evalDir, `eval_step_${id}`), { step, ...info });
    return {
      "eval/success": a.success_rate,
      "eval/pc_success": a.pc_success,
      "eval/avg_sum_reward": a.avg_sum_reward,
      "eval/n_episodes": a.n_episodes,
      "eval/invalid_decodes": a.invalid_decodes,
      "eval/eval_s": a.eval_s!,
    };
  };
}

/** `output_dir/eval_info.json`, as lerobot-eval writes it (plus outcomes and the interval). */
export async function writeEvalInfo(outputDir: string, info: EvalInfo & Record<string, unknown>): Promise<string> {
  await mkdir(outputDir, { recursive: true });
  const file = join(outputDir, "eval_info.json");
  await writeFile(file, `${JSON.stringify(info, null, 2)}\n`);
  return file;
}

/**
 * A synthetic task's dataset recorded from a policy instead of the scripted expert (LeRobot's
 * `lerobot-record --policy.path`): `episodes` closed-loop episodes, the task's instructions taking
 * turns as in the expert datasets, each frame the observation and the action the policy executed
 * from it, successes and failures alike. Instruction i of k plays scenes `seed + i·n_i …` (n_i its
 * share of the episodes), so no two episodes share a scene. Returns the episodes' outcomes, in order.
 */
export async function recordPolicyDataset(
  policy: ClosedLoopPolicy,
  output: string,
  options: { readonly task: SyntheticTask; readonly episodes: number; readonly seed: number; readonly imageSize: number; readonly batchSize: number; readonly overwrite?: boolean; readonly onProgress?: RolloutOptions["onProgress"] },
): Promise<EpisodeResult[]> {
  checkWritableRoot(output, options.overwrite);
  const envs = SYNTHETIC_ENVS[options.task];
  const shares = envs.map((_, i) => Math.floor((options.episodes - i + envs.length - 1) / envs.length));
  const recorded: { result: EpisodeResult; episode: WriteEpisode }[][] = [];
  let first = options.seed;
  let successes = 0;
  for (const [i, env] of envs.entries()) {
    const own: { result: EpisodeResult; episode: WriteEpisode }[] = [];
    await evaluateInEnv(policy, {
      envType: env.type,
      envTask: env.task,
      nEpisodes: shares[i]!,
      batchSize: options.batchSize,
      seed: first,
      maxEpisodesRendered: 0,
      videosDir: null,
      imageSize: options.imageSize,
      // one bar over all the instructions' episodes
      onProgress: (done, _total, ok) => options.onProgress?.(first - options.seed + done, options.episodes, successes + ok),
      onRecorded: (result, episode) => own.push({ result, episode }),
    });
    successes += own.filter((r) => r.result.success).length;
    recorded.push(own);
    first += shares[i]!;
  }
  // episode j is instruction j mod k's (j div k)-th, as syntheticEpisodes orders them
  const ordered = Array.from({ length: options.episodes }, (_, j) => recorded[j % envs.length]![Math.floor(j / envs.length)]!);
  const { features, fps } = makeEnv({ type: envs[0]!.type, task: envs[0]!.task, imageSize: options.imageSize }).spec;
  await writeDataset(output, { fps, robotType: SYNTHETIC_ROBOT_TYPE, features, episodes: ordered.map((r) => r.episode), overwrite: options.overwrite });
  return ordered.map((r) => r.result);
}
