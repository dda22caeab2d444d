import { isDatasetError, makeEnv } from "@craft/datasets";

/**
 * LeRobot's `--env.*` and `--eval.*` sections (configs/train.py `env`, `eval: EvalConfig`), as
 * `craft eval --env.type=…` and `craft train --eval_freq=N --env.type=…` read them: which simulated
 * environment runs the policy closed loop, and how many episodes, how many side by side.
 */
export interface EnvEvalSpec {
  readonly type: string;
  /** The instruction where a scene has several (two_target: red | blue); null for the scene's own. */
  readonly task: string | null;
  readonly n_episodes: number;
  readonly batch_size: number;
}

export const ENV_EVAL_DEFAULTS = { n_episodes: 50, batch_size: 10 } as const;

/** The flags of the section; `craft train`/`train-craft` accept exactly these. */
export const ENV_EVAL_FLAGS: readonly string[] = ["env.type", "env.task", "eval.n_episodes", "eval.batch_size"];

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u);

function positiveInt(value: unknown, fallback: number, field: string, problems: string[]): number {
  if (value === undefined) return fallback;
  if (typeof value === "number" && Number.isInteger(value) && value > 0) return value;
  problems.push(`${field}: expected a positive integer, got ${JSON.stringify(value)}`);
  return fallback;
}

/**
 * Read (and remove) `env` and `eval` from nested flags. Null when no `--env.type` was given;
 * every bad value is one line in `problems` naming the flag, the expected value and what came.
 */
export function takeEnvEvalFlags(nested: Record<string, unknown>, problems: string[]): EnvEvalSpec | null {
  const env = nested.env;
  const evalSection = nested.eval;
  delete nested.env;
  delete nested.eval;
  const envFlags = isRecord(env) ? env : {};
  const evalFlags = isRecord(evalSection) ? evalSection : {};
  if (env !== undefined && !isRecord(env)) problems.push(`env: expected the flags --env.type and --env.task, got ${JSON.stringify(env)}`);
  if (evalSection !== undefined && !isRecord(evalSection)) problems.push(`eval: expected the flags --eval.n_episodes and --eval.batch_size, got ${JSON.stringify(evalSection)}`);
  const nEpisodes = positiveInt(evalFlags.n_episodes, ENV_EVAL_DEFAULTS.n_episodes, "eval.n_episodes", problems);
  const batchSize = positiveInt(evalFlags.batch_size, ENV_EVAL_DEFAULTS.batch_size, "eval.batch_size", problems);
  const type = envFlags.type;
  if (type === undefined || type === null) {
    if (envFlags.task !== undefined || Object.keys(evalFlags).length > 0) {
      problems.push(`env.type: expected the environment to evaluate in (reach | push | two_target) with --env.task/--eval.*, got nothing`);
    }
    return null;
  }
  const task = envFlags.task === undefined || envFlags.task === null ? null : envFlags.task;
  if (typeof type !== "string") {
    problems.push(`env.type: expected reach | push | two_target, got ${JSON.stringify(type)}`);
    return null;
  }
  if (task !== null && typeof task !== "string") {
    problems.push(`env.task: expected an instruction (a string), got ${JSON.stringify(task)}`);
    return null;
  }
  try {
    makeEnv({ type, task });
  } catch (err) {
    if (!isDatasetError(err)) throw err;
    problems.push(`${err.field}: expected ${err.expected}, got ${err.actual ?? "nothing"}`);
    return null;
  }
  return { type, task, n_episodes: nEpisodes, batch_size: batchSize };
}
