import { inspectPretrained, type PretrainedSummary } from "@craft/policy-pi0fast";
import { rejectUnknownFlags, UsageError, type ParsedArgs } from "../flags.js";

export const POLICY_FLAGS = { info: ["policy.path", "policy.pretrained_revision", "json"] } as const;

export const POLICY_HELP = `craft policy info --policy.path=DIR|ORG/NAME [--json]

What a pi0_fast pretrained_model/ holds (one craft or LeRobot wrote, local or a Hub id resolved in the
Hugging Face cache): type, variant and preset, the parameter count and dtype read from
model.safetensors' header alone (a 3B checkpoint is not loaded), features, normalisation, tokenizers.
Accepted flags:
${POLICY_FLAGS.info.map((f) => `  --${f}`).join("\n")}
`;

const shape = (s: readonly number[]) => `[${s.join(", ")}]`;

function formatSummary(s: PretrainedSummary): string {
  const features = [...Object.entries(s.input_features), ...Object.entries(s.output_features)]
    .map(([key, f]) => `  ${key.padEnd(32)} ${f.type.padEnd(7)} ${shape(f.shape)}`)
    .join("\n");
  const dtypes = Object.entries(s.dtypes)
    .map(([d, n]) => `${d} ${n.toLocaleString("en-US")}`)
    .join(", ");
  const check =
    s.missing.length + s.mismatched.length + s.unexpected.length === 0
      ? `all ${s.tensors} tensors match the ${s.preset} shapes`
      : `${s.missing.length} missing, ${s.mismatched.length} of another shape, ${s.unexpected.length} unexpected (first: ${[...s.missing, ...s.mismatched, ...s.unexpected][0]})`;
  return [
    `policy: ${s.dir}`,
    `type: ${s.type}`,
    `variant: paligemma_variant=${s.paligemma_variant}, preset=${s.preset}`,
    `parameters: ${s.parameters.toLocaleString("en-US")} (${(s.parameters / 1e9).toFixed(2)}B)`,
    `dtype: ${dtypes} (config dtype ${s.config_dtype}; ${s.bytes_read.toLocaleString("en-US")} header bytes read)`,
    `weights: ${check}`,
    `features:\n${features || "  (none recorded)"}`,
    `normalization: ${Object.entries(s.normalization_mapping).map(([k, v]) => `${k}=${v}`).join(", ")}`,
    `text tokenizer: ${s.text_tokenizer}`,
    `action tokenizer: ${s.action_tokenizer}`,
    ...s.warnings.map((w) => `warning: ${w}`),
  ].join("\n");
}

/** `craft policy info`. Hub ids were resolved to their cached snapshot before (see hubFlags.ts). */
export async function runPolicy(sub: string | undefined, args: ParsedArgs): Promise<number> {
  if (sub !== "info") throw new UsageError(`craft policy: expected the subcommand info, got ${sub === undefined ? "nothing" : JSON.stringify(sub)}`);
  rejectUnknownFlags(args.flags, POLICY_FLAGS.info, "policy info");
  const path = args.flags.get("policy.path");
  if (typeof path !== "string" || path === "") throw new UsageError("--policy.path: expected a pretrained_model folder, a run's output_dir or a Hub id ORG/NAME");
  const summary = await inspectPretrained(path);
  console.log(args.flags.get("json") === true ? JSON.stringify(summary, null, 2) : formatSummary(summary));
  return 0;
}
