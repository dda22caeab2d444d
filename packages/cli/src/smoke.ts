import { UsageError } from "./flags.js";

/**
 * `CRAFT_SMOKE=1`: every command runs at smoke size — training stops after {@link SMOKE_STEPS}
 * steps, the quickstart and the retention experiment use their smallest sizes, evaluation reads a
 * few frames. CI runs the READMEs' commands as written under it (tools/readme-check); the command
 * line stays the user's, and each cut is announced on stderr.
 */
export const SMOKE_STEPS = 2;

/** Frames an evaluation reads under CRAFT_SMOKE=1. */
export const SMOKE_EVAL_FRAMES = 8;

/** Closed-loop episodes an evaluation in simulation runs under CRAFT_SMOKE=1. */
export const SMOKE_EVAL_EPISODES = 2;

export const smokeRun = (env: NodeJS.ProcessEnv = process.env): boolean => {
  const value = env.CRAFT_SMOKE;
  if (value === undefined || value === "" || value === "0") return false;
  if (value === "1") return true;
  throw new UsageError(`environment variable CRAFT_SMOKE: expected 1 (smoke sizes) or 0 (unset: full sizes), got ${JSON.stringify(value)}`);
};

/** `value` cut to `limit` under CRAFT_SMOKE=1, saying so once on stderr when it changes. */
export const smokeCap = (what: string, value: number, limit: number, env: NodeJS.ProcessEnv = process.env): number => {
  if (!smokeRun(env) || value <= limit) return value;
  console.error(`[craft] CRAFT_SMOKE=1: ${what} ${value} cut to ${limit}`);
  return limit;
};
