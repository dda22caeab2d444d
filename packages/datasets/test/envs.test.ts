import { describe, expect, it } from "vitest";
import { makeEnv, STATIONS, STATION_JITTER, SUCCESS_RADIUS, syntheticEpisodes, type SimEnv } from "../src/index.js";
import { seededUniform } from "../src/random.js";
import { expertEpisode, HOLD_TICKS } from "../src/synthetic.js";

type Outcome = "success" | "other_target" | "timeout";

/** Roll one episode to its end; `act` picks each action. */
const rollout = (env: SimEnv, seed: number, act: (env: SimEnv) => number[]): { outcome: Outcome; length: number; reward: number } => {
  env.reset(seed);
  let reward = 0;
  for (let t = 1; ; t++) {
    const r = env.step(act(env));
    reward += r.reward;
    if (r.terminated || r.truncated) return { outcome: r.info.outcome === "running" ? "timeout" : r.info.outcome, length: t, reward };
  }
};

const rateOf = (outcomes: Outcome[], o: Outcome) => outcomes.filter((x) => x === o).length / outcomes.length;
const EPISODES = 200;
const SCENES = [
  { type: "reach", task: null },
  { type: "push", task: null },
  { type: "two_target", task: "red" },
  { type: "two_target", task: "blue" },
  { type: "two_target", task: "yellow" },
] as const;

describe("simulated environments", () => {
  for (const scene of SCENES) {
    const name = `${scene.type}${scene.task ? ` (${scene.task})` : ""}`;

    it(`${name}: the scripted expert succeeds in ≥ 98% of ${EPISODES} seeded episodes`, () => {
      const env = makeEnv({ ...scene, imageSize: 8 });
      const rand = seededUniform(11);
      const outcomes = Array.from({ length: EPISODES }, (_, i) => rollout(env, 1000 + i, (e) => e.expertAction(() => rand() - 0.5)).outcome);
      expect(rateOf(outcomes, "success")).toBeGreaterThanOrEqual(0.98);
    });

    it(`${name}: uniformly random actions rarely succeed (≤ 3% of ${EPISODES})`, () => {
      const env = makeEnv({ ...scene, imageSize: 8 });
      const rand = seededUniform(12);
      const random = () => [rand() * 2 - 1, rand() * 2 - 1, rand(), rand(), rand() * 2 - 1, rand() * 1.5];
      const outcomes = Array.from({ length: EPISODES }, (_, i) => rollout(env, 1000 + i, random).outcome);
      expect(rateOf(outcomes, "success")).toBeLessThanOrEqual(0.03);
    });
  }

  it("two-target scene: following the other instruction ends as 'reached the other target', not success", () => {
    const red = makeEnv({ type: "two_target", task: "red", imageSize: 8 });
    const blue = makeEnv({ type: "two_target", task: "blue", imageSize: 8 });
    const rand = seededUniform(13);
    const outcomes = Array.from({ length: 100 }, (_, i) => {
      blue.reset(2000 + i); // the same scene as red's: the scene is drawn independently of the instruction
      return rollout(red, 2000 + i, () => {
        const a = blue.expertAction(() => rand() - 0.5);
        blue.step(a);
        return a;
      });
    });
    expect(rateOf(outcomes.map((o) => o.outcome), "other_target")).toBeGreaterThanOrEqual(0.98);
    expect(outcomes.every((o) => o.reward === 0)).toBe(true);
    expect(red.spec.instruction).toBe("reach the red target");
    expect(blue.spec.instruction).toBe("reach the blue target");
  });

  it("two-target scene: the targets stand at their stations, so instruction and state decide where to go", () => {
    // An arm that ignores the camera and glides to the named station (never looking where the target
    // sits within ±STATION_JITTER) succeeds, and the other station is the other target.
    expect(STATION_JITTER * Math.SQRT2).toBeLessThan(SUCCESS_RADIUS);
    const roll = (env: SimEnv, seed: number, station: readonly [number, number]) => {
      let [x, y, z] = env.reset(seed)["observation.state"];
      for (;;) {
        const r = env.step([x! + 0.3 * (station[0] - x!), y! + 0.3 * (station[1] - y!), z! + 0.2 * (0.2 - z!), 1, 0, 0]);
        [x, y, z] = r.observation["observation.state"];
        if (r.terminated || r.truncated) return r.info.outcome;
      }
    };
    const red = makeEnv({ type: "two_target", task: "red", imageSize: 8 });
    const outcomes = Array.from({ length: 100 }, (_, i) => roll(red, 3000 + i, STATIONS.red));
    expect(outcomes.filter((o) => o === "success").length).toBeGreaterThanOrEqual(98);
    const wrong = Array.from({ length: 100 }, (_, i) => roll(red, 3000 + i, STATIONS.blue));
    expect(wrong.filter((o) => o === "other_target").length).toBeGreaterThanOrEqual(98);
  });

  it("observations are the dataset features, deterministic from the seed", () => {
    const env = makeEnv({ type: "two_target", task: "blue", imageSize: 32 });
    const a = env.reset(5);
    const b = env.reset(5);
    const c = env.reset(6);
    expect(a["observation.state"]).toBeInstanceOf(Float32Array);
    expect(a["observation.state"].length).toBe(env.spec.features["observation.state"]!.shape[0]);
    expect(a["observation.images.front"].length).toBe(32 * 32 * 3);
    expect(env.spec.features["observation.images.front"]!.shape).toEqual([32, 32, 3]);
    expect(env.spec.features.action!.names).toEqual(env.spec.features["observation.state"]!.names);
    expect(a).toEqual(b);
    expect(a["observation.state"]).not.toEqual(c["observation.state"]);
    const red = (img: Uint8Array) => Array.from({ length: img.length / 3 }, (_, i) => img[i * 3]! > 200 && img[i * 3 + 1]! < 60).filter(Boolean).length;
    const blue = (img: Uint8Array) => Array.from({ length: img.length / 3 }, (_, i) => img[i * 3 + 2]! > 180 && img[i * 3]! < 60).filter(Boolean).length;
    expect(red(a["observation.images.front"])).toBeGreaterThan(4);
    expect(blue(a["observation.images.front"])).toBeGreaterThan(4);
  });

  it("the arm moves to the commanded pose, at most MAX_STEP per tick, and clamps to the workspace", () => {
    const env = makeEnv({ type: "reach", imageSize: 8 });
    const s0 = env.reset(1)["observation.state"];
    const near = [s0[0] + 0.1, s0[1] - 0.1, s0[2] - 0.1, 0.3, -0.2, 0];
    const s1 = env.step(near).observation["observation.state"];
    expect(Array.from(s1.slice(0, 5))).toEqual(Array.from(Float32Array.from(near.slice(0, 5))));
    expect(s1[5]).toBeCloseTo(Math.hypot(s1[0]!, s1[1]!), 6);
    const s2 = env.step([5, 5, 5, 9, 9, 0]).observation["observation.state"];
    expect(Math.hypot(s2[0]! - s1[0]!, s2[1]! - s1[1]!, s2[2]! - s1[2]!)).toBeCloseTo(0.4, 5);
    expect([s2[3], s2[4]]).toEqual([1, 1]);
  });

  it("a non-finite or wrongly sized action is an error naming the dimension", () => {
    const env = makeEnv({ type: "push", imageSize: 8 });
    env.reset(0);
    expect(() => env.step([0, 0, NaN, 0, 0, 0])).toThrow(/action\[2\] \(ee\.z\): expected a finite number, got NaN/);
    expect(() => env.step([0, 0])).toThrow(/action: expected 6 values/);
  });

  it("unknown env types and missing instructions are one clear line", () => {
    expect(() => makeEnv({ type: "pusht" })).toThrow(/field "env\.type": expected reach \| push \| two_target, found "pusht"/);
    expect(() => makeEnv({ type: "two_target" })).toThrow(/field "env\.task": expected the instruction of the two-target scene: red \| blue \| yellow, found null/);
    expect(() => makeEnv({ type: "two_target", task: "green" })).toThrow(/env\.task/);
    expect(makeEnv({ type: "two_target", task: "reach the blue target" }).spec.instruction).toBe("reach the blue target");
  });
});

describe("synthetic datasets are expert rollouts in the environments", () => {
  it("every recorded transition obeys the environment's physics (state t+1 is the pose action t commanded)", () => {
    for (const task of ["reach", "push", "reach_red"] as const) {
      for (const ep of syntheticEpisodes({ task, episodes: 3, seed: 4, imageSize: 8 })) {
        for (let t = 0; t + 1 < ep.frames.length; t++) {
          const action = ep.frames[t]!.action as number[];
          const next = ep.frames[t + 1]!["observation.state"] as Float32Array;
          for (let k = 0; k < 5; k++) expect(next[k]).toBeCloseTo(Math.min(1, Math.max(k === 2 || k === 3 ? 0 : -1, action[k]!)), 5);
        }
      }
    }
  });

  it("the recording stops `hold` ticks after the environment first reports success (replayed in a fresh environment)", () => {
    expect(HOLD_TICKS[0]).toBeGreaterThan(0);
    const rand = seededUniform(21);
    for (const scene of SCENES) {
      for (const [seed, hold] of [[5, 3], [6, 8]] as const) {
        const ep = expertEpisode({ ...scene, imageSize: 8 }, seed, hold, () => rand() - 0.5);
        const env = makeEnv({ ...scene, imageSize: 8 });
        env.reset(seed);
        const firstSuccess = ep.frames.findIndex((f) => env.step(f.action as number[]).info.is_success);
        expect(firstSuccess).toBeGreaterThan(0);
        expect(ep.frames.length).toBe(Math.min(firstSuccess + 1 + hold, env.spec.maxEpisodeSteps));
        expect(ep.task).toBe(env.spec.instruction);
      }
    }
  });

  it("reach_red and reach_blue of one seed show the same scenes; only the instruction and the actions differ", () => {
    const red = syntheticEpisodes({ task: "reach_red", episodes: 6, seed: 9, imageSize: 16 });
    const blue = syntheticEpisodes({ task: "reach_blue", episodes: 6, seed: 9, imageSize: 16 });
    // episodes end at different ticks (a few after success), and still every later episode shares its scene
    expect(red.map((e) => e.frames.length)).not.toEqual(blue.map((e) => e.frames.length));
    for (let e = 0; e < 6; e++) {
      expect(red[e]!.frames[0]!["observation.images.front"]).toEqual(blue[e]!.frames[0]!["observation.images.front"]);
      expect(red[e]!.frames[0]!["observation.state"]).toEqual(blue[e]!.frames[0]!["observation.state"]);
      expect(red[e]!.frames[0]!.action).not.toEqual(blue[e]!.frames[0]!.action);
    }
    expect(red[0]!.task).toBe("reach the red target");
    expect(blue[0]!.task).toBe("reach the blue target");
  });

  it("detoured episodes start off the expert's path; every recorded frame is the expert's own command and it still gets there", () => {
    const plain = syntheticEpisodes({ task: "reach_red_yellow", episodes: 40, seed: 300, imageSize: 8 });
    expect(syntheticEpisodes({ task: "reach_red_yellow", episodes: 40, seed: 300, imageSize: 8, perturbation: 0 })).toEqual(plain);
    const all = syntheticEpisodes({ task: "reach_red_yellow", episodes: 40, seed: 300, imageSize: 8, perturbation: 1 });
    let low = 0;
    all.forEach((ep, e) => {
      const start = ep.frames[0]!["observation.state"] as Float32Array;
      expect(start).not.toEqual(plain[e]!.frames[0]!["observation.state"]);
      expect(ep.task).toBe(plain[e]!.task);
      if (start[2]! < 0.6) low += 1;
      for (let t = 0; t < ep.frames.length; t++) {
        const state = ep.frames[t]!["observation.state"] as Float32Array;
        const action = ep.frames[t]!.action as number[];
        // The expert glides the height 10% of the way to 0.2 without noise: the label is its command from the recorded state,
        expect(action[2]).toBeCloseTo(state[2]! + 0.1 * (0.2 - state[2]!), 5);
        // and the next recorded state is where that command took the arm (nothing unrecorded in between).
        if (t + 1 < ep.frames.length) {
          const next = ep.frames[t + 1]!["observation.state"] as Float32Array;
          for (let k = 0; k < 3; k++) expect(next[k]).toBeCloseTo(Math.min(1, Math.max(k === 2 ? 0 : -1, action[k]!)), 5);
        }
      }
      const last = ep.frames.at(-1)!["observation.state"] as Float32Array;
      const station = STATIONS[ep.task === "reach the red target" ? "red" : "yellow"];
      expect(ep.frames.length).toBeLessThan(60);
      expect(Math.hypot(last[0]! - station[0], last[1]! - station[1])).toBeLessThan(SUCCESS_RADIUS);
    });
    // Plain starts are all at height 0.8 … 1; detours bring many down towards the table.
    expect(plain.every((ep) => (ep.frames[0]!["observation.state"] as Float32Array)[2]! >= 0.8)).toBe(true);
    expect(low).toBeGreaterThan(8);
    // A share of 0.5 detours some episodes and leaves the others exactly as the plain dataset has them.
    const half = syntheticEpisodes({ task: "reach_red_yellow", episodes: 40, seed: 300, imageSize: 8, perturbation: 0.5 });
    const same = half.filter((ep, e) => JSON.stringify(ep.frames[0]!["observation.state"]) === JSON.stringify(plain[e]!.frames[0]!["observation.state"]));
    expect(same.length).toBeGreaterThan(10);
    expect(same.length).toBeLessThan(30);
    for (const ep of same) expect(ep).toEqual(plain[half.indexOf(ep)]);
    expect(() => syntheticEpisodes({ task: "reach", episodes: 1, seed: 1, perturbation: 1.5 })).toThrow(/field "perturbation": expected a share of episodes in \[0, 1\], found 1\.5$/);
  });

  it("reach_red_yellow alternates the red and yellow instructions, each episode its own expert's", () => {
    const mixed = syntheticEpisodes({ task: "reach_red_yellow", episodes: 4, seed: 3, imageSize: 8 });
    expect(mixed.map((e) => e.task)).toEqual(["reach the red target", "reach the yellow target", "reach the red target", "reach the yellow target"]);
    for (const ep of mixed) {
      const last = ep.frames.at(-1)!["observation.state"] as Float32Array;
      const station = STATIONS[ep.task === "reach the red target" ? "red" : "yellow"];
      expect(Math.hypot(last[0]! - station[0], last[1]! - station[1])).toBeLessThan(SUCCESS_RADIUS);
    }
  });
});
