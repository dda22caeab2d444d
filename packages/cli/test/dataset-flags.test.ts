import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { hasFfmpeg, makeSyntheticDataset, openDataset, pickVideoCodec } from "@craft/datasets";
import { craft, MICRO_POLICY, tempDir } from "./helpers.js";

const CAMERA = "observation.images.front";
const VIDEO = `videos/${CAMERA}/chunk-000/file-000.mp4`;

/**
 * Three synthetic episodes stored as one MP4, re-encoded to hold only episode 0's frames: episodes
 * 1 and 2 then have no video, as in a dataset whose later recordings were lost.
 */
async function datasetWithVideoOfEpisode0Only(): Promise<{ root: string; lengths: number[] }> {
  const root = join(tempDir("ep0video"), "ds");
  await makeSyntheticDataset(root, { task: "reach", episodes: 3, seed: 0, imageSize: 32, video: true });
  const ds = await openDataset(root, { exclude: [CAMERA] });
  const lengths = ds.episodes.map((e) => e.length);
  await ds.close();
  const full = join(root, VIDEO);
  const short = join(root, "short.mp4");
  const r = spawnSync("ffmpeg", ["-v", "error", "-y", "-i", full, "-frames:v", String(lengths[0]), "-c:v", pickVideoCodec(32, 32), "-pix_fmt", "yuv420p", short]);
  expect(r.status, String(r.stderr)).toBe(0);
  renameSync(short, full);
  return { root, lengths };
}

const manifestOf = (dir: string) => JSON.parse(readFileSync(join(dir, "anchor_manifest.json"), "utf8"));

describe("--dataset.episodes: LeRobot's list[int], one parser for every command", () => {
  let reach: string;
  beforeAll(async () => {
    reach = join(tempDir("flags"), "reach");
    await makeSyntheticDataset(reach, { task: "reach", episodes: 3, seed: 0, imageSize: 32 });
  });

  it("a scalar 1 selects episode 1 only (never 0..1) in build-anchor-cache", async () => {
    const out = join(tempDir("anchors"), "cache");
    const r = await craft(["dataset", "build-anchor-cache", `--dataset.root=${reach}`, "--dataset.episodes=1", "--num_samples=8", "--chunk_size=5", `--output=${out}`]);
    expect(r.code, r.stderr).toBe(0);
    const manifest = manifestOf(out);
    expect(manifest.options.episodes).toEqual([1]);
    expect(new Set(manifest.selection.episodeIndices)).toEqual(new Set([1]));
  });

  it("--start_frames puts every episode's first frames among the anchors, and too many is one line", async () => {
    const out = join(tempDir("anchors"), "cache");
    const r = await craft(["dataset", "build-anchor-cache", `--dataset.root=${reach}`, "--num_samples=8", "--start_frames=2", "--chunk_size=5", `--output=${out}`]);
    expect(r.code, r.stderr).toBe(0);
    const { selection } = manifestOf(out);
    expect(selection.startFrames).toBe(2);
    for (const e of [0, 1, 2]) expect(selection.frameIndices.filter((_: number, i: number) => selection.episodeIndices[i] === e).slice(0, 2)).toEqual([0, 1]);
    const refused = await craft(["dataset", "build-anchor-cache", `--dataset.root=${reach}`, "--num_samples=8", "--start_frames=3", "--chunk_size=5", `--output=${join(tempDir("never"), "c")}`]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr.split("\n").filter((l) => l.startsWith("error:"))).toEqual([expect.stringMatching(/^error: InvalidOption: .*reach: field "start_frames": expected .*\(9 over 3 episodes\) fit in num_samples=8, found 3$/)]);
  });

  it("an index the dataset lacks, a range, a negative or a fraction is one line naming the flag, for each command", async () => {
    const cases: [string[], RegExp][] = [
      [["dataset", "build-anchor-cache", `--dataset.root=${reach}`, "--dataset.episodes=3", `--output=${join(tempDir("never"), "c")}`], /^error: dataset\.episodes: expected episode indices in 0\.\.2 \(.*meta\/episodes\), got 3$/],
      [["dataset", "info", `--dataset.root=${reach}`, "--dataset.episodes=0-2"], /^error: dataset\.episodes: expected .*ranges are not accepted.*, got "0-2"$/],
      [["dataset", "info", `--dataset.root=${reach}`, "--dataset.episodes=[0,-1]"], /^error: dataset\.episodes: expected .*non-negative integers.*, got \[0,-1\]$/],
      [["train", ...MICRO_POLICY, `--dataset.root=${reach}`, "--dataset.episodes=1.5", "--steps=1", `--output_dir=${join(tempDir("never"), "t")}`], /^error: dataset\.episodes: expected .*non-negative integers.*, got 1\.5$/],
      [["train", ...MICRO_POLICY, `--dataset.root=${reach}`, "--dataset.episodes=7", "--steps=1", `--output_dir=${join(tempDir("never"), "t")}`], /^error: dataset\.episodes: expected episode indices in 0\.\.2 .*, got 7$/],
    ];
    for (const [argv, message] of cases) {
      const r = await craft(argv);
      expect(r.code, argv.join(" ")).not.toBe(0);
      const lines = r.stderr.split("\n").filter((l) => l.startsWith("error:"));
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(message);
    }
  });

  it("dataset info reports only the selected episodes", async () => {
    const r = await craft(["dataset", "info", `--dataset.root=${reach}`, "--dataset.episodes=[2,0]"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("episodes:  2 selected of 3");
    expect(r.stdout).toMatch(/lengths:\s+2:\d+ 0:\d+$/m);
  });
});

describe.runIf(hasFfmpeg())("video checks look only at the selected episodes", () => {
  it("build-anchor-cache with --dataset.episodes=0 works where episodes 1 and 2 have no video; without it the error names the missing episode", async () => {
    const { root } = await datasetWithVideoOfEpisode0Only();
    const all = await craft(["dataset", "build-anchor-cache", `--dataset.root=${root}`, "--num_samples=8", "--chunk_size=5", `--output=${join(tempDir("a"), "c")}`]);
    expect(all.code).toBe(1);
    expect(all.stderr).toMatch(/observation\.images\.front.*episode 1/);
    const out = join(tempDir("b"), "cache");
    const one = await craft(["dataset", "build-anchor-cache", `--dataset.root=${root}`, "--dataset.episodes=0", "--num_samples=8", "--chunk_size=5", `--output=${out}`]);
    expect(one.code, one.stderr).toBe(0);
    expect(manifestOf(out).columns[CAMERA].shape).toEqual([32, 32, 3]);
  });

  it("--dataset.stats_roots opens a dataset whose videos are missing (only its stats and actions are read)", async () => {
    const { root } = await datasetWithVideoOfEpisode0Only();
    rmSync(join(root, "videos"), { recursive: true });
    const task = join(tempDir("task"), "push");
    await makeSyntheticDataset(task, { task: "push", episodes: 2, seed: 1, imageSize: 32 });
    const out = join(tempDir("statsroots"), "run");
    const r = await craft(["train", ...MICRO_POLICY, `--dataset.root=${task}`, `--dataset.stats_roots=[${JSON.stringify(root)}]`, "--batch_size=2", "--steps=1", `--output_dir=${out}`]);
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(join(out, "checkpoints", "last", "pretrained_model", "model.safetensors"))).toBe(true);
  });
});
