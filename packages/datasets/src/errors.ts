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
  /** Feature keys whose exclusion avoids the problem (`OpenDatasetOptions.exclude`; the CLI's `--dataset.exclude`). */
  readonly exclude?: readonly string[];
}

/** How the `exclude` option is written where the error is shown: the library's `exclude: […]`, a CLI flag. */
export type ExcludeOption = (keys: readonly string[]) => string;

const libraryExclude: ExcludeOption = (keys) => `exclude: [${keys.map((k) => JSON.stringify(k)).join(", ")}]`;

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
  readonly exclude: readonly string[] | undefined;

  constructor(tag: DatasetErrorTag, details: DatasetErrorDetails) {
    super(describeDatasetError(tag, details, libraryExclude));
    this.name = "DatasetError";
    this._tag = tag;
    this.file = details.file;
    this.field = details.field;
    this.expected = details.expected;
    this.actual = details.actual;
    this.hint = details.hint;
    this.exclude = details.exclude;
  }

  /** The one-line message with the `exclude` hint written as `option` writes it (e.g. a CLI flag) instead of the library option. */
  describeWith(option: ExcludeOption): string {
    return describeDatasetError(this._tag, this, option);
  }
}

const describeDatasetError = (tag: DatasetErrorTag, details: DatasetErrorDetails, option: ExcludeOption): string => {
  const found = details.actual === undefined ? "" : `, found ${details.actual}`;
  const hints = [details.hint, details.exclude === undefined ? undefined : `pass ${option(details.exclude)} to leave video features out`].filter((h) => h !== undefined);
  const hint = hints.length === 0 ? "" : ` (${hints.join("; ")})`;
  return `${tag}: ${details.file}: field "${details.field}": expected ${details.expected}${found}${hint}`;
};

export const isDatasetError = (e: unknown): e is DatasetError => e instanceof DatasetError;

export const datasetError = (tag: DatasetErrorTag, details: DatasetErrorDetails): DatasetError =>
  new DatasetError(tag, details);
