import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import type { WandbConfig } from "./config.js";
import type { TrainMetrics } from "./metrics.js";

/** The sidecar: reads JSON lines on stdin and forwards them to the wandb Python package. */
export const WANDB_SIDECAR_SOURCE = `
import json, sys
import wandb
started = False
for line in sys.stdin:
    line = line.strip()
    if not line:
        continue
    msg = json.loads(line)
    kind = msg.get("type")
    if kind == "init":
        wandb.init(project=msg["project"], mode=msg["mode"], config=msg.get("config"), dir=msg.get("dir"))
        started = True
    elif kind == "log":
        wandb.log(msg["metrics"], step=msg["step"])
    elif kind == "finish":
        break
if started:
    wandb.finish()
`;

export interface WandbSink {
  log(metrics: TrainMetrics): void;
  /** Values already named by their section (`eval/pc_success`), logged at `step` as they are. */
  logNamed(step: number, values: Readonly<Record<string, number>>): void;
  close(): Promise<void>;
}

export interface WandbOptions {
  /** Python interpreter (default `python3`). */
  readonly python?: string;
  /** Extra environment for the sidecar (tests put a fake module on PYTHONPATH). */
  readonly env?: NodeJS.ProcessEnv;
  /** The run configuration recorded by wandb. */
  readonly runConfig?: unknown;
  readonly dir?: string;
  readonly onWarning?: (message: string) => void;
}

const installHint =
  "Install it with `pip install wandb` (then `wandb login`, or use --wandb.mode=offline without network), " +
  "or turn it off with --wandb.enable=false.";

/**
 * Starts the wandb sidecar, failing at once with a clear message when python3 or the wandb
 * package is missing (checked with `python3 -c "import wandb"` before any training).
 */
export const startWandb = (config: WandbConfig, options: WandbOptions = {}): WandbSink => {
  const python = options.python ?? "python3";
  const env = { ...process.env, ...options.env, WANDB_MODE: config.mode };
  const probe = spawnSync(python, ["-c", "import wandb"], { env, encoding: "utf8" });
  if (probe.error !== undefined) {
    throw new Error(`wandb.enable=true needs Python: cannot run \`${python}\` (${probe.error.message}). ${installHint}`);
  }
  if (probe.status !== 0) {
    const reason = (probe.stderr ?? "").trim().split("\n").pop() ?? "";
    throw new Error(
      `wandb.enable=true but the Python package \`wandb\` is not importable by \`${python}\`` +
        (reason ? ` (${reason})` : "") + `. ${installHint}`,
    );
  }
  const child: ChildProcess = spawn(python, ["-u", "-c", WANDB_SIDECAR_SOURCE], {
    env,
    stdio: ["pipe", "inherit", "inherit"],
  });
  let broken = false;
  const warn = (message: string): void => {
    if (broken) return;
    broken = true;
    (options.onWarning ?? ((m: string) => process.stderr.write(m + "\n")))(message);
  };
  const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  child.on("error", (error) => warn(`wandb sidecar failed: ${error.message}; metrics still go to metrics.jsonl`));
  child.stdin!.on("error", (error) => warn(`wandb sidecar stopped reading: ${error.message}; metrics still go to metrics.jsonl`));
  const send = (message: unknown): void => {
    if (!broken && child.stdin!.writable) child.stdin!.write(JSON.stringify(message) + "\n");
  };
  send({ type: "init", project: config.project, mode: config.mode, config: options.runConfig ?? {}, dir: options.dir ?? null });
  return {
    log(metrics) {
      const { step, ...rest } = metrics;
      const numeric: Record<string, number> = {};
      for (const [k, v] of Object.entries(rest)) if (typeof v === "number") numeric[`train/${k}`] = v;
      send({ type: "log", step, metrics: numeric });
    },
    logNamed(step, values) {
      send({ type: "log", step, metrics: values });
    },
    async close() {
      send({ type: "finish" });
      child.stdin!.end();
      const timer = setTimeout(() => child.kill("SIGTERM"), 120_000);
      const code = await exited;
      clearTimeout(timer);
      if (code !== 0 && code !== null) warn(`wandb sidecar exited with code ${code}`);
    },
  };
};
