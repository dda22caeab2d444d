import { saveFastTokenizer } from "@craft/policy-pi0fast";
import { rejectUnknownFlags, UsageError, type ParsedArgs } from "../flags.js";
import { openTaskDataset } from "../datasetSetup.js";
import { fitTokenizerOnDataset } from "../tokenizerSetup.js";

export const TOKENIZER_FLAGS = ["dataset.root", "dataset.repo_id", "dataset.exclude", "vocab_size", "scale", "chunk_size", "normalization_mode", "output"] as const;

const MODES = ["IDENTITY", "MEAN_STD", "MIN_MAX", "QUANTILES", "QUANTILE10"] as const;

/**
 * `craft tokenizer fit`: the FAST tokenizer fitted on a dataset's normalised action chunks, with
 * Hugging Face's BPE trainer, written as a UniversalActionProcessor directory
 * (processor_config.json + tokenizer.json, the layout of lerobot/fast-action-tokenizer).
 */
export async function runTokenizer(sub: string | undefined, args: ParsedArgs): Promise<number> {
  if (sub !== "fit") throw new UsageError(`craft tokenizer: expected the subcommand "fit", got ${JSON.stringify(sub ?? null)}`);
  rejectUnknownFlags(args.flags, TOKENIZER_FLAGS, "tokenizer fit");
  const num = (key: string, fallback: number) => {
    const v = args.flags.get(key) ?? fallback;
    if (typeof v !== "number" || !(v > 0)) throw new UsageError(`--${key}: expected a positive number, got ${JSON.stringify(v)}`);
    return v;
  };
  const root = args.flags.get("dataset.root");
  const repoId = args.flags.get("dataset.repo_id");
  const exclude = (args.flags.get("dataset.exclude") as string[] | undefined) ?? [];
  const output = args.flags.get("output") ?? "fast_tokenizer";
  if (typeof output !== "string") throw new UsageError(`--output: expected a directory path, got ${JSON.stringify(output)}`);
  const chunkSize = num("chunk_size", 10);
  // the policy's normalization_mapping.ACTION: LeRobot's pi0_fast default MEAN_STD (the tiny/small presets use QUANTILES)
  const mode = args.flags.get("normalization_mode") ?? "MEAN_STD";
  if (typeof mode !== "string" || !(MODES as readonly string[]).includes(mode)) {
    throw new UsageError(`--normalization_mode: expected one of ${MODES.join(", ")}, got ${JSON.stringify(mode)}`);
  }
  const dataset = await openTaskDataset(
    { root: (root as string) ?? null, repo_id: (repoId as string) ?? null, episodes: null, exclude },
    chunkSize,
  );
  const started = Date.now();
  const tokenizer = await fitTokenizerOnDataset(dataset, {
    chunkSize,
    vocabSize: num("vocab_size", 1024),
    scale: num("scale", 10),
    mode: mode as (typeof MODES)[number],
  });
  saveFastTokenizer(tokenizer, output);
  console.log(
    `fitted FAST tokenizer (vocab ${tokenizer.vocabSize}, scale ${tokenizer.scale}, chunk ${chunkSize}×${tokenizer.actionDim}) on ${dataset.numFrames} frames in ${((Date.now() - started) / 1000).toFixed(1)} s → ${output}/{processor_config,tokenizer}.json`,
  );
  await dataset.close();
  return 0;
}
