import * as E from "fp-ts/lib/Either.js";
import { isDatasetError, makeEnv } from "@craft/datasets";
import { ENV_FIELDS, EVAL_FIELDS, decodeSection, sectionDocs } from "./runSections.js";

/**
 * LeRobot's `--env.*` and `--eval.*` sections (configs/train.py `env`, `eval: EvalConfig`), as
 * `craft eval --env.type=…` and `craft train --eval_freq=N --env.type=…` read them: which simulated
 * environment runs the policy closed loop, and how many episodes, how many side by side.
 */
export interface EnvEvalSpec {
  readonly type: string;
  /** The instruction where a scene has several (two_target: red | blue | yellow); null for the scene's own. */
  readonly task: string | null;
  readonly n_episodes: number;
  readonly batch_size: number;
}

export const ENV_EVAL_DEFAULTS = { n_episodes: EVAL_FIELDS.n_episodes.default, batch_size: EVAL_FIELDS.batch_size.default } as const;

/** The flags of the sections (runSections.ts); `craft train`/`train-craft` accept exactly these. */
export const ENV_EVAL_FLAGS: readonly string[] = [...sectionDocs(ENV_FIELDS, "env."), ...sectionDocs(EVAL_FIELDS, "eval.")].map((d) => d.flag);

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u);

/**
 * Decodes the `env` and `eval` sections of nested flags: null when no `--env.type` was given;
 * every bad value is one line naming the flag, the expected value and what came.
 */
export function decodeEnvEvalSections(nested: Readonly<Record<string, unknown>>): E.Either<string[], EnvEvalSpec | null> {
  const { env, eval: evalSection } = nested;
  const problems: string[] = [];
  const envFlags = isRecord(env) ? env : {};
  const evalFlags = isRecord(evalSection) ? evalSection : {};
  if (env !== undefined && !isRecord(env)) problems.push(`env: expected the flags --env.type and --env.task, got ${JSON.stringify(env)}`);
  if (evalSection !== undefined && !isRecord(evalSection)) problems.push(`eval: expected the flags --eval.n_episodes and --eval.batch_size, got ${JSON.stringify(evalSection)}`);
  const evalDecoded = decodeSection(EVAL_FIELDS, evalFlags, "eval.");
  if (E.isLeft(evalDecoded)) problems.push(...evalDecoded.left);
  const envDecoded = decodeSection(ENV_FIELDS, envFlags, "env.");
  if (E.isLeft(envDecoded)) return E.left([...problems, ...envDecoded.left]);
  const { type, task } = envDecoded.right;
  if (type === null) {
    if (envFlags.task !== undefined || Object.keys(evalFlags).length > 0) {
      problems.push(`env.type: expected the environment to evaluate in (reach | push | two_target) with --env.task/--eval.*, got nothing`);
    }
    return problems.length > 0 ? E.left(problems) : E.right(null);
  }
  try {
    makeEnv({ type, task });
  } catch (err) {
    if (!isDatasetError(err)) throw err;
    return E.left([...problems, `${err.field}: expected ${err.expected}, got ${err.actual ?? "nothing"}`]);
  }
  if (problems.length > 0 || E.isLeft(evalDecoded)) return E.left(problems);
  return E.right({ type, task, n_episodes: evalDecoded.right.n_episodes, batch_size: evalDecoded.right.batch_size });
}
