import type { CraftConfig } from "./config.js";

/** Dual-variable state; plain numbers so a checkpoint can store it as JSON. */
export interface LambdaState {
  /** Current Lagrange multiplier λ ∈ [0, lambda_max]. */
  readonly lambda: number;
  /** PID integral term I ≥ 0 (unused by dual ascent). */
  readonly integral: number;
  /** Smoothed retention loss L̂_r (EMA with `lambda_ema`); null before the first update. */
  readonly ema: number | null;
  /** L̂_r of the previous update, for the PID derivative; null before the first update. */
  readonly prevLoss: number | null;
}

export type LambdaConfig = Pick<
  CraftConfig,
  "initial_lambda" | "lambda_lr" | "lambda_max" | "lambda_update" | "pid_kp" | "pid_ki" | "pid_kd" | "lambda_ema"
>;

const clip = (x: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, x));

/**
 * λ starts at `initial_lambda`. For `pid` the integral starts at initial_lambda / K_i, so that
 * with zero error λ stays where it started (and with K_p = K_d = 0 PID is dual ascent with η = K_i).
 */
export const initialLambdaState = (config: LambdaConfig): LambdaState => ({
  lambda: config.initial_lambda,
  integral: config.lambda_update === "pid" && config.pid_ki > 0 ? config.initial_lambda / config.pid_ki : 0,
  ema: null,
  prevLoss: null,
});

/** L̂_r: the retention loss, or its EMA when `lambda_ema` > 0 (seeded with the first loss). */
export const smoothedRetentionLoss = (config: LambdaConfig, state: LambdaState, retentionLoss: number): number =>
  state.ema === null || config.lambda_ema === 0
    ? retentionLoss
    : config.lambda_ema * state.ema + (1 - config.lambda_ema) * retentionLoss;

/**
 * One λ update for the constraint L_retain ≤ ε.
 * - dual_ascent (projected): λ ← clip(λ + η_λ·(L̂_r − ε), 0, λ_max).
 * - pid (Stooke et al. 2020, "Responsive Safety in RL by PID Lagrangian Methods", alg. 2):
 *   e = L̂_r − ε, I ← max(0, I + e), λ = clip(K_p·e + K_i·I + K_d·max(0, L̂_r − L̂_r,prev), 0, λ_max).
 *   The max(0, ·) on I is the anti-windup guard: a long satisfied stretch cannot bank negative I.
 */
export const updateLambda = (
  config: LambdaConfig,
  state: LambdaState,
  retentionLoss: number,
  epsilon: number,
): LambdaState => {
  if (!Number.isFinite(retentionLoss)) {
    throw new Error(`updateLambda: retention loss must be a finite number, got ${retentionLoss}`);
  }
  if (!Number.isFinite(epsilon)) throw new Error(`updateLambda: epsilon must be a finite number, got ${epsilon}`);
  const loss = smoothedRetentionLoss(config, state, retentionLoss);
  const error = loss - epsilon;
  if (config.lambda_update === "dual_ascent") {
    return {
      lambda: clip(state.lambda + config.lambda_lr * error, 0, config.lambda_max),
      integral: state.integral,
      ema: loss,
      prevLoss: loss,
    };
  }
  const integral = Math.max(0, state.integral + error);
  const derivative = state.prevLoss === null ? 0 : Math.max(0, loss - state.prevLoss);
  return {
    lambda: clip(config.pid_kp * error + config.pid_ki * integral + config.pid_kd * derivative, 0, config.lambda_max),
    integral,
    ema: loss,
    prevLoss: loss,
  };
};
