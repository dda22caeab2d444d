/** Why a dataset could not be read, written or loaded. Each tag names one kind of bad input. */
export type DatasetErrorTag =
  | "MissingFile"
  | "InvalidJson"
  | "InvalidInfo"
  | "UnknownVersion"
  | "SchemaMismatch"
  | "NonFiniteValue"
  | "CorruptParquet"
  | "CorruptVideo"
  | "EpisodeOutOfRange"
  | "IndexOutOfRange"
  | "InvalidOption"
  | "LoaderExhausted"
  | "FfmpegMissing";

export interface DatasetErrorDetails {
  /** The file the problem is in (absolute or relative to the dataset root). */
  readonly file: string;
  /** The field, column, feature key or option at fault. */
  readonly field: string;
  /** What was expected there. */
  readonly expected: string;
  /** What was found, when it helps. */
  readonly actual?: string;
  /** A hint for the user (e.g. the option that avoids the problem). */
  readonly hint?: string;
}

/**
 * A tagged error whose message always names the file, the field and the expected value, so the
 * CLI can print it as one readable line instead of a stack trace.
 */
export class DatasetError extends Error {
  readonly _tag: DatasetErrorTag;
  readonly file: string;
  readonly field: string;
  readonly expected: string;
  readonly actual: string | undefined;
  readonly hint: string | undefined;

  constructor(tag: DatasetErrorTag, details: DatasetErrorDetails) {
    const found = details.actual === undefined ? "" : `, found ${details.actual}`;
    const hint = details.hint === undefined ? "" : ` (${details.hint})`;
    super(`${tag}: ${details.file}: field "${details.field}": expected ${details.expected}${found}${hint}`);
    this.name = "DatasetError";
    this._tag = tag;
    this.file = details.file;
    this.field = details.field;
    this.expected = details.expected;
    this.actual = details.actual;
    this.hint = details.hint;
  }
}

export const isDatasetError = (e: unknown): e is DatasetError => e instanceof DatasetError;

export const datasetError = (tag: DatasetErrorTag, details: DatasetErrorDetails): DatasetError =>
  new DatasetError(tag, details);
