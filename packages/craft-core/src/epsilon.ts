import type { CraftConfig } from "./config.js";

export type EpsilonScheduleKind = "constant" | "linear" | "cosine" | "exponential";

export type EpsilonScheduleConfig = Pick<
  CraftConfig,
  "epsilon_schedule" | "epsilon_start" | "epsilon_end" | "epsilon_decay_steps" | "epsilon_warmup_steps"
>;

/**
 * Fraction t ∈ [0, 1] of the decay done at `step`: 0 through the warmup hold, then linear in the
 * steps since warmup over `epsilon_decay_steps` (default: `totalSteps`), 1 from then on.
 */
export const scheduleProgress = (config: EpsilonScheduleConfig, step: number, totalSteps: number): number => {
  const decaySteps = config.epsilon_decay_steps ?? totalSteps;
  const sinceWarmup = step - config.epsilon_warmup_steps;
  if (sinceWarmup < 0) return 0;
  if (decaySteps <= 0) return 1;
  return Math.min(1, sinceWarmup / decaySteps);
};

/** The retention-loss bound ε at `step` (0-based), from `epsilon_start` to `epsilon_end`. */
export const epsilonAt = (config: EpsilonScheduleConfig, step: number, totalSteps: number): number => {
  const start = config.epsilon_start;
  const end = config.epsilon_end;
  const t = scheduleProgress(config, step, totalSteps);
  // Exact endpoints, whatever the rounding of the interpolation formulas.
  if (t === 0) return start;
  if (t === 1 && config.epsilon_schedule !== "constant") return end;
  switch (config.epsilon_schedule) {
    case "constant":
      return start;
    case "linear":
      return start + (end - start) * t;
    case "cosine":
      // Cosine annealing, Loshchilov & Hutter 2017 (SGDR), eq. 5.
      return end + (start - end) * 0.5 * (1 + Math.cos(Math.PI * t));
    case "exponential":
      // Geometric interpolation; the config codec guarantees both endpoints are > 0.
      return start * Math.pow(end / start, t);
  }
};
