import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { appendFileSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { makeRunDir, makeTmpDir } from "./fixtures/report/makeFixtures";
import { craft, maxWeightDifference, MICRO_POLICY, syntheticPair, tempDir } from "./helpers.js";

/**
 * Runs that cannot hurt each other: one run per output_dir, refused runs change nothing, and
 * crashes or full disks at the worst moments leave a run that resumes. Faults are injected with
 * the CRAFT_FAULT hook (trainer/src/checkpoint.ts); nothing here waits on a timer.
 */
let data: { reach: string; push: string };
const bin = join(__dirname, "..", "bin", "craft.js");

beforeAll(async () => {
  data = await syntheticPair();
}, 120_000);

afterEach(() => {
  delete process.env.CRAFT_FAULT;
  delete process.env.CRAFT_FAULT_FREE_BYTES;
});

/** argv with `more` replacing the defaults of the same flag (the CLI refuses a flag given twice). */
const withFlags = (defaults: string[], more: string[]): string[] => {
  const name = (flag: string) => flag.split("=")[0];
  const given = new Set(more.map(name));
  return [...defaults.filter((f) => !given.has(name(f))), ...more];
};

const baseline = (out: string, ...more: string[]) => [
  "train",
  ...withFlags([...MICRO_POLICY, `--dataset.root=${data.reach}`, "--batch_size=2", "--log_freq=1", "--save_freq=1", "--seed=4", `--output_dir=${out}`], more),
];

const metricSteps = (dir: string): number[] =>
  readFileSync(join(dir, "metrics.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => (JSON.parse(l) as { step: number }).step);

/** Every entry below dir: file contents hashed, link targets, directories by name. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string, rel: string) => {
    for (const name of readdirSync(d).sort()) {
      const path = join(d, name);
      const key = rel === "" ? name : `${rel}/${name}`;
      const info = lstatSync(path);
      if (info.isSymbolicLink()) out[key] = `-> ${readlinkSync(path)}`;
      else if (info.isDirectory()) {
        out[key] = "dir";
        walk(path, key);
      } else out[key] = createHash("sha256").update(readFileSync(path)).digest("hex");
    }
  };
  walk(dir, "");
  return out;
}

/** The errors a command printed: exactly one line is the contract. */
const errorLines = (stderr: string) => stderr.split("\n").filter((l) => l.startsWith("error:") || l.startsWith("  "));

/** A checkpoint directory as writeCheckpoint leaves it: weights, config and training state. */
const expectCompleteCheckpoint = (dir: string) => {
  for (const file of ["pretrained_model/model.safetensors", "pretrained_model/config.json", "training_state/trainer_state.json", "training_state/optimizer_state.safetensors"]) {
    expect(existsSync(join(dir, file)), `${dir}/${file}`).toBe(true);
  }
};

const spawnCraft = (argv: string[], env: Record<string, string>): ChildProcess =>
  spawn(process.execPath, [bin, ...argv], { stdio: ["pipe", "pipe", "pipe"], env: { ...process.env, ...env } });

const exitOf = (child: ChildProcess) =>
  new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));

const collect = (child: ChildProcess) => {
  let text = "";
  child.stderr!.on("data", (chunk) => (text += String(chunk)));
  return () => text;
};

describe("one run per output_dir", () => {
  it("a second run into a busy directory is refused in one line naming the holder, and the first finishes unharmed", async () => {
    const out = join(tempDir("busy"), "run");
    const first = spawnCraft(baseline(out, "--steps=2"), { CRAFT_FAULT: "pause@after-save:1" });
    const firstErr = collect(first);
    const exit = exitOf(first);
    // The first run stops right after its step-1 checkpoint and says so on stdout.
    await new Promise<void>((resolve, reject) => {
      let text = "";
      first.stdout!.on("data", (chunk) => {
        text += String(chunk);
        if (text.includes("CRAFT_FAULT paused at after-save:1")) resolve();
      });
      first.on("exit", () => reject(new Error(`the first run ended before pausing: ${firstErr()}`)));
    });
    const before = snapshot(out);
    const holder = JSON.parse(readFileSync(join(out, ".craft.lock"), "utf8"));
    expect(holder.pid).toBe(first.pid);

    const second = await craft(baseline(out, "--steps=2", "--seed=9", "--overwrite=true"));
    expect(second.code).toBe(1);
    expect(errorLines(second.stderr)).toEqual([
      expect.stringMatching(new RegExp(`^error: output_dir ${out} is in use by train \\(pid ${first.pid} on host .+, started .+\\); lock file ${out}/\\.craft\\.lock$`)),
    ]);
    expect(snapshot(out)).toEqual(before);

    first.stdin!.write("go\n");
    expect(await exit, firstErr()).toEqual({ code: 0, signal: null });
    expect(metricSteps(out)).toEqual([1, 2]);
    expect(readdirSync(join(out, "checkpoints")).sort()).toEqual(["000001", "000002", "last"]);
    expect(JSON.parse(readFileSync(join(out, "train_config.json"), "utf8")).seed).toBe(4);
    expect(existsSync(join(out, ".craft.lock"))).toBe(false);
  }, 180_000);
});

describe("lock holders", () => {
  const lockOf = (out: string, holder: Record<string, unknown>) => {
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, ".craft.lock"), `${JSON.stringify({ command: "train", ...holder })}\n`);
  };

  it("a live holder on this host, or any holder on another host, refuses the run; the lock stays", async () => {
    const out = join(tempDir("held"), "run");
    const started_at = new Date().toISOString();
    lockOf(out, { host: hostname(), pid: process.pid, started_at });
    const r = await craft(baseline(out, "--steps=1"));
    expect(errorLines(r.stderr)).toEqual([`error: output_dir ${out} is in use by train (pid ${process.pid} on host ${hostname()}, started ${started_at}); lock file ${out}/.craft.lock`]);
    lockOf(out, { host: "elsewhere", pid: 1, started_at });
    const r2 = await craft(baseline(out, "--steps=1"));
    expect(errorLines(r2.stderr)).toEqual([expect.stringMatching(/in use by train \(pid 1 on host elsewhere, .*\(on another host: remove the lock file if that run is gone\)$/)]);
    expect(readdirSync(out)).toEqual([".craft.lock"]);
  });

  it("a pid reused by a process that started after the lock was taken is a stale lock, taken over", async () => {
    const out = join(tempDir("reused"), "run");
    // This very process is alive, but started long after 2001: not the run that wrote the lock.
    lockOf(out, { host: hostname(), pid: process.pid, started_at: "2001-01-01T00:00:00.000Z" });
    const r = await craft(baseline(out, "--steps=1"));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/taking over the stale lock .* started 2001-01-01T00:00:00\.000Z\): that process is gone/);
    expect(existsSync(join(out, ".craft.lock"))).toBe(false);
    expect(metricSteps(out)).toEqual([1]);
  });
});

describe("SIGKILL inside the rename/symlink window of a save", () => {
  for (const point of ["before-link", "before-last"] as const) {
    it(`killed at ${point} of the step-2 save: \`last\` stays on step 1, and --resume=true takes over the stale lock and finishes`, async () => {
      const out = join(tempDir(`kill-${point}`), "run");
      const child = spawnCraft(baseline(out, "--steps=3"), { CRAFT_FAULT: `kill@${point}:2` });
      const stderr = collect(child);
      expect(await exitOf(child), stderr()).toEqual({ code: null, signal: "SIGKILL" });
      const checkpoints = join(out, "checkpoints");
      expect(readlinkSync(join(checkpoints, "last"))).toBe("000001");
      // The step-2 directory was already complete when the process died (only `last` was not moved yet).
      expectCompleteCheckpoint(join(checkpoints, "000002"));
      expect(existsSync(join(out, ".craft.lock"))).toBe(true);

      const resumed = await craft(baseline(out, "--steps=3", "--resume=true"));
      expect(resumed.code, resumed.stderr).toBe(0);
      expect(resumed.stderr).toMatch(new RegExp(`taking over the stale lock ${out}/\\.craft\\.lock of train \\(pid ${child.pid} `));
      expect(readdirSync(checkpoints).sort()).toEqual(["000001", "000002", "000003", "last"]);
      expect(readlinkSync(join(checkpoints, "last"))).toBe("000003");
      for (const step of ["000001", "000002", "000003"]) expectCompleteCheckpoint(join(checkpoints, step));
      expect(metricSteps(out)).toEqual([1, 2, 3]);
      expect(existsSync(join(out, ".craft.lock"))).toBe(false);

      if (point === "before-last") {
        // And the resumed run is the uninterrupted one.
        const whole = join(tempDir("kill-whole"), "run");
        expect((await craft(baseline(whole, "--steps=3"))).code).toBe(0);
        expect(await maxWeightDifference(whole, out)).toBeLessThanOrEqual(1e-6);
      }
    }, 180_000);
  }
});

describe("a full or failing disk", () => {
  it("ENOSPC at a save: one line naming the path, no partial checkpoint, `last` on the previous one", async () => {
    const out = join(tempDir("enospc"), "run");
    process.env.CRAFT_FAULT = "enospc@write-state:2";
    const r = await craft(baseline(out, "--steps=2"));
    expect(r.code).toBe(1);
    expect(errorLines(r.stderr)).toEqual([
      expect.stringMatching(
        new RegExp(`^error: cannot write the step-2 checkpoint: no space left on the device \\(ENOSPC\\) writing ${out}/checkpoints/\\.tmp-000002-\\d+/training_state/optimizer_state\\.safetensors; checkpoints/last still points at the previous checkpoint$`),
      ),
    ]);
    expect(readdirSync(join(out, "checkpoints")).sort()).toEqual(["000001", "last"]);
    expect(readlinkSync(join(out, "checkpoints", "last"))).toBe("000001");
    expect(existsSync(join(out, ".craft.lock"))).toBe(false);
  }, 120_000);

  it("too little free space is refused before the first step, naming the path and both sizes, and leaves no directory", async () => {
    const out = join(tempDir("nospace"), "run");
    process.env.CRAFT_FAULT_FREE_BYTES = "4096";
    const r = await craft(baseline(out, "--steps=2"));
    expect(r.code).toBe(1);
    expect(errorLines(r.stderr)).toEqual([
      expect.stringMatching(new RegExp(`^error: output_dir ${out}: 4.0 KiB \\(4096 bytes\\) free, a checkpoint needs [\\d.]+ [KM]iB \\(\\d+ bytes\\) \\(parameters and AdamW moments, float32\\)`)),
    ]);
    // The refused run created the directory for its lock only, and removed it again.
    expect(existsSync(out)).toBe(false);
  }, 120_000);
});

describe("a refused run changes no byte of the run it refuses", () => {
  it("existing run, resume mismatches, finished steps, bad anchor and policy paths, free space: all refused, all bytes equal", async () => {
    const out = join(tempDir("refused"), "run");
    const craftRun = (...more: string[]) => [
      "train-craft",
      ...withFlags([...MICRO_POLICY, `--dataset.root=${data.push}`, `--craft.anchor_dataset_path=${data.reach}`, "--batch_size=2", "--log_freq=1", `--output_dir=${out}`], more),
    ];
    const first = await craft(craftRun("--steps=2"));
    expect(first.code, first.stderr).toBe(0);
    const before = snapshot(out);
    const aFile = join(tempDir("anchor-file"), "anchors.txt");
    writeFileSync(aFile, "not a dataset");
    const cases: [string[], RegExp][] = [
      [craftRun("--steps=2"), /already holds a run \(checkpoint at step 2\): pass --resume=true to continue it, --overwrite=true to replace it/],
      [craftRun("--steps=4", "--resume=true", "--batch_size=4"), /--batch_size=4: the run in .* was trained with batch_size 2 \(train_config\.json\); a resume must keep it/],
      [craftRun("--steps=4", "--resume=true", `--dataset.root=${data.reach}`), /the run in .* was trained on ".*push" \(train_config\.json\); a resume must keep its dataset/],
      [craftRun("--steps=2", "--resume=true"), /--steps=2: the run in .* already completed step 2; pass --steps greater than 2/],
      [craftRun("--steps=1", "--resume=true"), /--steps=1: .* already completed step 2/],
      [craftRun("--steps=4", "--resume=true", `--craft.anchor_dataset_path=${aFile}`), new RegExp(`craft\\.anchor_dataset_path: ${aFile} is a file, expected a directory`)],
      [craftRun("--steps=4", "--resume=true", `--craft.anchor_dataset_path=${aFile}.missing`), /craft\.anchor_dataset_path: .*\.missing does not exist/],
      [craftRun("--steps=4", "--resume=true", "--overwrite=true"), /--resume=true and --overwrite=true contradict each other/],
      [baseline(out, "--steps=4", `--dataset.root=${data.push}`, "--resume=true"), /is a CRaFT checkpoint; resume it with craft train-craft/],
      [["train-craft", `--policy.path=${out}/nope`, "--policy.device=wasm", `--dataset.root=${data.push}`, `--craft.anchor_dataset_path=${data.reach}`, "--batch_size=2", "--steps=4", "--resume=true", `--output_dir=${out}`], /policy\.path: no pretrained model at/],
    ];
    for (const [argv, message] of cases) {
      const r = await craft(argv);
      expect(r.code, argv.join(" ")).not.toBe(0);
      const errors = errorLines(r.stderr);
      expect(errors, r.stderr).toHaveLength(1);
      expect(errors[0]).toMatch(message);
      expect(snapshot(out), argv.join(" ")).toEqual(before);
    }
    process.env.CRAFT_FAULT_FREE_BYTES = "100";
    const full = await craft(craftRun("--steps=4", "--resume=true"));
    expect(errorLines(full.stderr)).toEqual([expect.stringMatching(/: 100 B \(100 bytes\) free, a checkpoint needs/)]);
    expect(snapshot(out)).toEqual(before);
    delete process.env.CRAFT_FAULT_FREE_BYTES;

    // Extending a finished run is a real resume: it trains on, and records the steps it was given.
    const longer = await craft(craftRun("--steps=3", "--resume=true"));
    expect(longer.code, longer.stderr).toBe(0);
    expect(longer.stderr).toMatch(/resuming at step 2 a run planned for 2 steps, now to 3/);
    expect(metricSteps(out)).toEqual([1, 2, 3]);
    expect(JSON.parse(readFileSync(join(out, "train_config.json"), "utf8")).steps).toBe(3);
  });

  it("metrics without a checkpoint: a plain re-run is refused and keeps them; --overwrite=true replaces the run", async () => {
    const out = join(tempDir("nockpt"), "run");
    process.env.CRAFT_FAULT = "enospc@write-state:1"; // dies at its first save, after logging step 1
    expect((await craft(baseline(out, "--steps=2"))).code).toBe(1);
    delete process.env.CRAFT_FAULT;
    expect(metricSteps(out)).toEqual([1]);
    const before = snapshot(out);
    const again = await craft(baseline(out, "--steps=2"));
    expect(errorLines(again.stderr)).toEqual([
      `error: output_dir ${out} holds metrics.jsonl (1 lines) of a run that saved no checkpoint: pass --resume=true to continue its log, or --overwrite=true to replace it`,
    ]);
    expect(snapshot(out)).toEqual(before);

    const replaced = await craft(baseline(out, "--steps=2", "--overwrite=true"));
    expect(replaced.code, replaced.stderr).toBe(0);
    expect(metricSteps(out)).toEqual([1, 2]);
    expect(readlinkSync(join(out, "checkpoints", "last"))).toBe("000002");
  }, 120_000);
});

describe("messages", () => {
  it("an invalid --craft.* value is one line, with no false complaint about the anchor path", async () => {
    const r = await craft(["train-craft", `--dataset.root=${data.push}`, `--craft.anchor_dataset_path=${data.reach}`, "--craft.surgery=sideways", "--steps=5", `--output_dir=${tempDir("badcraft")}/o`]);
    expect(r.code).toBe(1);
    expect(errorLines(r.stderr)).toEqual([expect.stringMatching(/^error: craft\.surgery: expected .*"sideways"/)]);
    expect(r.stderr).not.toMatch(/anchor_dataset_path/);
  });

  it("craft report warns in one line when metrics.jsonl repeats steps", async () => {
    const dir = await makeRunDir(await makeTmpDir("faults-report"));
    const log = readFileSync(join(dir, "metrics.jsonl"), "utf8").trim().split("\n");
    // What two runs writing into one directory leave: the same steps twice, interleaved.
    appendFileSync(join(dir, "metrics.jsonl"), `${log[0]}\n${log[1]}\n`);
    const r = await craft(["report", `--output_dir=${dir}`]);
    expect(r.code, r.stderr).toBe(0);
    const warnings = r.stderr.split("\n").filter((l) => l.startsWith("warning:"));
    expect(warnings).toEqual([
      `warning: ${join(dir, "metrics.jsonl")}: 2 of ${log.length + 2} entries repeat or go back in steps (first: entry ${log.length + 1}, step 5 after step 200); two runs may have written into one output_dir; the figures show the entries in file order`,
    ]);
    const clean = await makeRunDir(await makeTmpDir("faults-report"));
    expect((await craft(["report", `--output_dir=${clean}`])).stderr).not.toMatch(/warning:/);
  }, 120_000);
});
