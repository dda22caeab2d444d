/** Why a report could not be written: tagged values, turned into one readable message. */
export type ReportIssue =
  | { readonly _tag: "NotADirectory"; readonly path: string }
  | { readonly _tag: "UnknownDirectoryKind"; readonly path: string; readonly expected: readonly string[] }
  | { readonly _tag: "InvalidJson"; readonly path: string; readonly line?: number; readonly reason: string }
  | {
      readonly _tag: "InvalidField";
      readonly path: string;
      readonly line?: number;
      readonly field: string;
      readonly expected: string;
      readonly actual: string;
    }
  | { readonly _tag: "EmptyMetrics"; readonly path: string };

export function describeReportIssue(issue: ReportIssue): string {
  const where = (path: string, line?: number) => (line === undefined ? path : `${path}:${line}`);
  switch (issue._tag) {
    case "NotADirectory":
      return `craft report: ${issue.path} is not a directory (expected a run or experiment output directory)`;
    case "UnknownDirectoryKind":
      return (
        `craft report: ${issue.path} is neither a training run nor an experiment directory: ` +
        `expected ${issue.expected.map((f) => `"${f}"`).join(" or ")} in it`
      );
    case "InvalidJson":
      return `craft report: ${where(issue.path, issue.line)} is not valid JSON (${issue.reason})`;
    case "InvalidField":
      return (
        `craft report: ${where(issue.path, issue.line)}: field "${issue.field}" ` +
        `expected ${issue.expected}, got ${issue.actual}`
      );
    case "EmptyMetrics":
      return `craft report: ${issue.path} holds no metric rows (expected one JSON object per line)`;
  }
}

export class ReportError extends Error {
  constructor(readonly issue: ReportIssue) {
    super(describeReportIssue(issue));
    this.name = "ReportError";
  }
}
