import { cpSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { TEACHER_COLUMN } from "@craft/datasets";
import { TEACHER_LOG_PROBS_KEY } from "@craft/policy-pi0fast";
import { craft, MICRO_POLICY, syntheticPair, tempDir } from "./helpers.js";

let data: { reach: string; push: string };
let base: string;
let cache: string;

const readMetrics = (dir: string) =>
  readFileSync(join(dir, "metrics.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Record<string, number | null>);

const distillRun = (anchors: string, out: string) => [
  "train-craft",
  `--policy.path=${base}`,
  "--policy.device=wasm",
  `--dataset.root=${data.push}`,
  `--craft.anchor_dataset_path=${anchors}`,
  "--craft.retention_loss=distill",
  "--craft.initial_lambda=1.0",
  "--craft.lambda_lr=0.5",
  "--craft.epsilon_start=0.1",
  "--craft.epsilon_end=0.05",
  "--batch_size=4",
  "--steps=2",
  "--log_freq=1",
  `--output_dir=${out}`,
];

beforeAll(async () => {
  data = await syntheticPair();
  base = join(tempDir("distill-base"), "run");
  const r = await craft(["train", ...MICRO_POLICY, `--dataset.root=${data.reach}`, "--batch_size=4", "--steps=2", `--output_dir=${base}`]);
  expect(r.code, r.stderr).toBe(0);
  cache = join(tempDir("distill-cache"), "anchors");
  const c = await craft(["dataset", "build-anchor-cache", `--dataset.root=${data.reach}`, "--num_samples=8", "--seed=3", `--output=${cache}`, `--policy.path=${base}`, "--policy.device=wasm", "--teacher_top_k=16"]);
  expect(c.code, c.stderr).toBe(0);
});

describe("retention_loss=distill end to end", () => {
  it("build-anchor-cache --policy.path stores the teacher's top-k log-probs under the key the policy reads, with its signature", () => {
    expect(TEACHER_COLUMN).toBe(TEACHER_LOG_PROBS_KEY);
    const manifest = JSON.parse(readFileSync(join(cache, "anchor_manifest.json"), "utf8"));
    // micro policy: max_action_tokens 32 → 31 target positions; k = 16 (id, log-prob) pairs
    expect(manifest.teacher.shape).toEqual([31, 16, 2]);
    expect(manifest.teacher.column).toBe(TEACHER_LOG_PROBS_KEY);
    expect(manifest.teacher.signature.vocab_size).toBe(1024);
    expect(manifest.teacher.signature.max_action_tokens).toBe(32);
    expect(manifest.teacher.signature.tokenizer_sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(existsSync(join(cache, "teacher.parquet"))).toBe(true);
  });

  it("train-craft uses them: the retention loss is KL = 0 at step 0 (student = teacher), finite after, and λ moves", async () => {
    const out = join(tempDir("distill-run"), "run");
    const r = await craft(distillRun(cache, out));
    expect(r.code, r.stderr).toBe(0);
    const m = readMetrics(out);
    expect(m).toHaveLength(2);
    expect(Math.abs(m[0].retention_loss as number)).toBeLessThan(1e-4);
    expect(Number.isFinite(m[1].retention_loss)).toBe(true);
    expect(m[1].retention_loss as number).toBeGreaterThan(-1e-5);
    // dual ascent on KL ≤ ε: λ ← λ + 0.5·(KL − ε) with KL ≈ 0 < ε, so λ falls below its initial 1
    expect(m[1].lambda as number).toBeLessThan(1);
    expect(m[1].lambda).not.toBe(m[0].lambda);
    const cfg = JSON.parse(readFileSync(join(out, "train_config.json"), "utf8"));
    expect(cfg.craft.retention_loss).toBe("distill");
  });

  it("refuses, in one line and before writing anything, teacher outputs made with other tokens", async () => {
    const tampered = join(tempDir("distill-tampered"), "anchors");
    cpSync(cache, tampered, { recursive: true });
    const file = join(tampered, "anchor_manifest.json");
    const manifest = JSON.parse(readFileSync(file, "utf8"));
    manifest.teacher.signature.tokenizer_sha256 = "0".repeat(64);
    writeFileSync(file, JSON.stringify(manifest));
    const out = join(tempDir("distill-refused"), "run");
    const r = await craft(distillRun(tampered, out));
    expect(r.code).not.toBe(0);
    const lines = r.stderr.split("\n").filter((l) => l.includes("teacher.signature"));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain("anchor_manifest.json");
    expect(lines[0]).toContain(`found "${"0".repeat(64)}"`);
    expect(existsSync(join(out, "train_config.json"))).toBe(false);
  });

  it("refuses a plain LeRobot anchor dataset, naming the build command", async () => {
    const out = join(tempDir("distill-plain"), "run");
    const r = await craft(distillRun(data.reach, out));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/field "teacher": expected an anchor cache with the teacher's outputs.*build-anchor-cache --policy\.path=BASE/);
  });
});
