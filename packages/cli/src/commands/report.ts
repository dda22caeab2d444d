import { rejectUnknownFlags, UsageError, type ParsedArgs } from "../flags.js";
import { writeReport } from "../report/index.js";

export const REPORT_FLAGS = ["output_dir", "title"] as const;

/** `craft report`: HTML page and PNG figures for a run or an experiment directory. */
export async function runReport(args: ParsedArgs): Promise<number> {
  rejectUnknownFlags(args.flags, REPORT_FLAGS, "report");
  const dir = args.flags.get("output_dir");
  if (typeof dir !== "string" || dir === "") throw new UsageError("--output_dir: expected a run or experiment directory");
  const title = args.flags.get("title");
  const { htmlPath, figures } = await writeReport(dir, typeof title === "string" ? { title } : {});
  console.log(`report: ${htmlPath} (${figures.length} figures)`);
  return 0;
}
