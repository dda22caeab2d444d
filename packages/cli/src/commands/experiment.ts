import { rejectUnknownFlags, UsageError, type ParsedArgs } from "../flags.js";
import { RETENTION_PRESET_NAMES, runRetentionExperiment, type RetentionPresetName } from "../experiment/retention.js";
import { smokeRun } from "../smoke.js";

export const EXPERIMENT_FLAGS = ["output_dir", "preset", "seeds", "policy.device"] as const;

/** `craft experiment retention`: naive vs replay vs CRaFT (with and without surgery). */
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
  const summary = (await runRetentionExperiment({
    outputDir,
    preset: size,
    seeds: seeds as number[] | undefined,
    device: (args.flags.get("policy.device") as string | undefined) ?? "auto",
  })) as { methods: Record<string, { mean: Record<string, number>; std: Record<string, number> }>; expectations: { name: string; passed: boolean }[] };
  const fmt = (m: string, k: string) => `${summary.methods[m].mean[k].toFixed(4)} ± ${summary.methods[m].std[k].toFixed(4)}`;
  console.log(`\nmethod            anchor base       anchor final      task final        anchor MSE        task MSE`);
  for (const m of Object.keys(summary.methods)) {
    console.log(
      `${m.padEnd(17)} ${["anchor_loss_base", "anchor_loss_final", "task_loss_final", "anchor_action_mse", "task_action_mse"].map((k) => fmt(m, k).padEnd(17)).join(" ")}`,
    );
  }
  for (const e of summary.expectations) console.log(`${e.passed ? "PASS" : "MISS"}  ${e.name}`);
  console.log(`\n${outputDir}/summary.json written in ${((Date.now() - started) / 60000).toFixed(1)} min; plots: craft report --output_dir=${outputDir}`);
  return 0;
}
