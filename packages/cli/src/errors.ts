import { isDatasetError } from "@craft/datasets";
import { UsageError } from "./flags.js";

/**
 * A tagged error from a package boundary: @craft/datasets' DatasetError, craft-core's CraftError,
 * the trainer's TrainerError, the policy's PolicyError (one shape: `_tag`, file, field, expected),
 * and the report's ReportError (its issue carries the tag). Its message is the one line users see.
 */
const isTagged = (err: Error): boolean =>
  typeof (err as { _tag?: unknown })._tag === "string" || typeof (err as { issue?: { _tag?: unknown } }).issue?._tag === "string";

/** The datasets library's hint names its `exclude` option; on the command line it is this flag. */
const excludeFlag = (keys: readonly string[]): string => `--dataset.exclude='${JSON.stringify(keys)}'`;

/** One readable line (or a few) for any error reaching the top of a command; no stack traces for known kinds. */
export function formatError(err: unknown): string {
  if (err instanceof UsageError) return `error: ${err.message}\nRun with --help for the accepted flags.`;
  if (isDatasetError(err)) return `error: ${err.describeWith(excludeFlag)}`;
  if (err instanceof Error) {
    const known = isTagged(err) || err instanceof ConfigError || !err.stack;
    if (known || process.env.CRAFT_DEBUG !== "1") return `error: ${err.message}`;
    return `error: ${err.stack}`;
  }
  return `error: ${String(err)}`;
}

export class ConfigError extends Error {
  override readonly name = "ConfigError";
  constructor(readonly problems: readonly string[]) {
    super(problems.length === 1 ? problems[0] : `invalid configuration:\n  ${problems.join("\n  ")}`);
  }
}
