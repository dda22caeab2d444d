/** Why the trainer refused a run directory, checkpoint or resume. Each tag names one kind of bad input. */
export type TrainerErrorTag =
  | "InvalidCheckpoint"
  | "ResumeMismatch"
  | "OutputDirInUse";

export interface TrainerErrorDetails {
  /** The file the problem is in, when the input came from one. */
  readonly file?: string;
  /** The field, key or option at fault (a dotted path). */
  readonly field: string;
  /** What was expected there. */
  readonly expected: string;
  /** What was found, when it helps. */
  readonly actual?: string;
  /** A hint for the user (e.g. the option that avoids the problem). */
  readonly hint?: string;
  /** The line users see, where its wording predates the tag; otherwise composed from the fields above. */
  readonly message?: string;
}

/**
 * A tagged error (the same shape as @craft/datasets' DatasetError) whose message names the file,
 * the field and the expected value, so the CLI prints it as one readable line.
 */
export class TrainerError extends Error {
  readonly _tag: TrainerErrorTag;
  readonly file: string | undefined;
  readonly field: string;
  readonly expected: string;
  readonly actual: string | undefined;
  readonly hint: string | undefined;

  constructor(tag: TrainerErrorTag, details: TrainerErrorDetails) {
    const where = details.file === undefined ? "" : `${details.file}: `;
    const found = details.actual === undefined ? "" : `, found ${details.actual}`;
    const hint = details.hint === undefined ? "" : ` (${details.hint})`;
    super(details.message ?? `${tag}: ${where}field "${details.field}": expected ${details.expected}${found}${hint}`);
    this.name = "TrainerError";
    this._tag = tag;
    this.file = details.file;
    this.field = details.field;
    this.expected = details.expected;
    this.actual = details.actual;
    this.hint = details.hint;
  }
}

export const isTrainerError = (e: unknown): e is TrainerError => e instanceof TrainerError;
