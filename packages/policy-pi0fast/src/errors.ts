/** Why a policy file (config, weights, tokenizer, processor) could not be loaded. Each tag names one kind of bad input. */
export type PolicyErrorTag =
  | "InvalidConfig"
  | "InvalidSafetensors"
  | "InvalidCheckpoint"
  | "InvalidTokenizer"
  | "InvalidProcessor";

export interface PolicyErrorDetails {
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
export class PolicyError extends Error {
  readonly _tag: PolicyErrorTag;
  readonly file: string | undefined;
  readonly field: string;
  readonly expected: string;
  readonly actual: string | undefined;
  readonly hint: string | undefined;

  constructor(tag: PolicyErrorTag, details: PolicyErrorDetails) {
    const where = details.file === undefined ? "" : `${details.file}: `;
    const found = details.actual === undefined ? "" : `, found ${details.actual}`;
    const hint = details.hint === undefined ? "" : ` (${details.hint})`;
    super(details.message ?? `${tag}: ${where}field "${details.field}": expected ${details.expected}${found}${hint}`);
    this.name = "PolicyError";
    this._tag = tag;
    this.file = details.file;
    this.field = details.field;
    this.expected = details.expected;
    this.actual = details.actual;
    this.hint = details.hint;
  }
}

export const isPolicyError = (e: unknown): e is PolicyError => e instanceof PolicyError;

/** The field of one line of the config decoder (`<field>: expected <what>, got <value>`). */
export const problemField = (line = ""): string => {
  const colon = line.indexOf(": ");
  return colon > 0 ? line.slice(0, colon) : "(root)";
};

/** What one line of the config decoder expected (`<field>: expected <what>, got <value>`). */
export const problemExpected = (line = ""): string => /: expected (.*?)(?:, got .*)?$/s.exec(line)?.[1] ?? line;
