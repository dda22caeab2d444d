import { rejectUnknownFlags, UsageError, type ParsedArgs } from "../flags.js";
import { RETENTION_PRESET_NAMES, runRetentionExperiment, type RetentionPresetName } from "../experiment/retention.js";
import { pairRuns } from "../report/figures.js";
import type { MethodResult, SummaryKey } from "../report/summary.js";
import { smokeRun } from "../smoke.js";

export const EXPERIMENT_FLAGS = ["output_dir", "preset", "seeds", "pairs", "runs", "policy.device"] as const;

/** `--pairs=red_to_blue`, `--runs=replay,craft_token` or a JSON list of names → the names (checked by the experiment). */
function names(args: ParsedArgs, flag: string): string[] | undefined {
  const raw = args.flags.get(flag);
  if (raw === undefined) return undefined;
  const list = typeof raw === "string" ? raw.split(",").map((n) => n.trim()) : raw;
  if (!Array.isArray(list) || list.length === 0 || !list.every((n) => typeof n === "string" && n !== "")) {
    throw new UsageError(`--${flag}: expected names separated by commas, such as --${flag}=${flag === "pairs" ? "red_to_blue" : "replay,craft_token"}, got ${JSON.stringify(raw)}`);
  }
  return list as string[];
}

/** `craft experiment retention`: naive vs replay vs CRaFT (with and without surgery, and distill), on both pairs, with the ε_end and replay-weight sweeps. */
export async function runExperiment(sub: string | undefined, args: ParsedArgs): Promise<number> {
  if (sub !== "retention") throw new UsageError(`craft experiment: expected the experiment "retention", got ${JSON.stringify(sub ?? null)}`);
  rejectUnknownFlags(args.flags, EXPERIMENT_FLAGS, "experiment retention");
  const outputDir = args.flags.get("output_dir");
  if (typeof outputDir !== "string") throw new UsageError("--output_dir: expected the experiment directory");
  const preset = args.flags.get("preset") ?? "full";
  if (!RETENTION_PRESET_NAMES.includes(preset as RetentionPresetName)) {
    throw new UsageError(`--preset: expected one of ${RETENTION_PRESET_NAMES.join(", ")}, got ${JSON.stringify(preset)}`);
  }
  const rawSeeds = args.flags.get("seeds");
  const seeds = rawSeeds === undefined ? undefined : typeof rawSeeds === "number" ? [rawSeeds] : rawSeeds;
  if (seeds !== undefined && !(Array.isArray(seeds) && seeds.every((s) => Number.isInteger(s) && s >= 0))) {
    throw new UsageError(`--seeds: expected a list of seeds such as [0,1,2], got ${JSON.stringify(rawSeeds)}`);
  }
  const size: RetentionPresetName = smokeRun() ? "smoke" : (preset as RetentionPresetName);
  if (size !== preset) console.error(`[craft] CRAFT_SMOKE=1: --preset=${String(preset)} runs at the smoke size`);
  const started = Date.now();
  const summary = await runRetentionExperiment({
    outputDir,
    preset: size,
    seeds: seeds as number[] | undefined,
    pairs: names(args, "pairs"),
    runs: names(args, "runs"),
    device: (args.flags.get("policy.device") as string | undefined) ?? "auto",
  });
  // Success rates as percentages (std in points), losses as they are.
  const stat = (result: MethodResult, k: SummaryKey) => {
    const [mean, sd] = [result.mean?.[k] ?? NaN, result.std?.[k] ?? NaN];
    return k.endsWith("_success") || k.endsWith("_success_base") ? `${(100 * mean).toFixed(0)}% ± ${(100 * sd).toFixed(0)}` : `${mean.toFixed(4)} ± ${sd.toFixed(4)}`;
  };
  for (const [name, pair] of Object.entries(summary.pairs ?? {})) {
    console.log(`\n${name}: A "${pair.anchor?.instruction}" kept while learning B "${pair.task?.instruction}" (${pair.n_episodes} closed-loop episodes per environment)`);
    console.log(`run                   anchor final      task final        A success base    A success         B success`);
    for (const { run, result } of pairRuns(pair)) {
      const keys: SummaryKey[] = ["anchor_loss_final", "task_loss_final", "anchor_success_base", "anchor_success", "task_success"];
      console.log(`${run.padEnd(21)} ${keys.map((k) => stat(result, k).padEnd(17)).join(" ")}`);
    }
  }
  console.log("");
  for (const e of summary.expectations ?? []) console.log(`${e.passed ? "PASS" : "MISS"}  ${e.pair ? `${e.pair}: ` : ""}${e.name} (measured ${e.measured === null || e.measured === undefined ? "undefined" : e.measured.toFixed(3)})`);
  console.log(`\n${outputDir}/summary.json written in ${((Date.now() - started) / 60000).toFixed(1)} min; plots: craft report --output_dir=${outputDir}`);
  return 0;
}
