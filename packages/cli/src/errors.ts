import { UsageError } from "./flags.js";

/** One readable line (or a few) for any error reaching the top of a command; no stack traces for known kinds. */
export function formatError(err: unknown): string {
  if (err instanceof UsageError) return `error: ${err.message}\nRun with --help for the accepted flags.`;
  if (err instanceof Error) {
    const known = ["DatasetError", "ReportError", "UsageError", "ConfigError"].includes(err.name) || !err.stack;
    // The datasets library phrases its hint for its API; on the command line it is a flag.
    const message = err.message.replace(/pass exclude: (\[[^\]]*\])/, (_, list: string) => `pass --dataset.exclude='${list.replace(/\s+/g, "")}'`);
    if (known || process.env.CRAFT_DEBUG !== "1") return `error: ${message}`;
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
