import type { OptimizerConfig } from "./config.js";
import type { NamedArrays } from "./interfaces.js";

/** First and second moments per parameter and the number of optimizer steps taken (bias correction). */
export interface AdamWState {
  step: number;
  readonly m: NamedArrays;
  readonly v: NamedArrays;
}

export const createAdamWState = (): AdamWState => ({ step: 0, m: {}, v: {} });

/**
 * One AdamW step as torch.optim.AdamW (Loshchilov & Hutter 2019, decoupled weight decay):
 * p ← p·(1 − lr·wd); m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²;
 * p ← p − lr/(1−β1ᵗ) · m / (√v/√(1−β2ᵗ) + eps).
 * Only parameters present in `grads` move (frozen ones have no gradient). Updates `params` and
 * `state` in place: the optimizer is the hot loop and copies of a 3B model do not fit twice.
 */
export const adamwStep = (
  config: OptimizerConfig,
  state: AdamWState,
  params: NamedArrays,
  grads: NamedArrays,
  lr: number,
  noWeightDecay: (name: string) => boolean = () => false,
): void => {
  const [beta1, beta2] = config.betas;
  state.step += 1;
  const biasCorrection1 = 1 - beta1 ** state.step;
  const biasCorrection2Sqrt = Math.sqrt(1 - beta2 ** state.step);
  const stepSize = lr / biasCorrection1;
  for (const name of Object.keys(grads)) {
    const p = params[name];
    const g = grads[name];
    if (p === undefined) throw new Error(`gradient for unknown parameter "${name}" (not in policy.getParameters())`);
    if (p.length !== g.length) {
      throw new Error(`gradient for "${name}" has ${g.length} values, the parameter has ${p.length}`);
    }
    const m = (state.m[name] ??= new Float32Array(p.length));
    const v = (state.v[name] ??= new Float32Array(p.length));
    const decay = noWeightDecay(name) ? 1 : 1 - lr * config.weight_decay;
    for (let i = 0; i < p.length; i++) {
      const gi = g[i];
      const mi = beta1 * m[i] + (1 - beta1) * gi;
      const vi = beta2 * v[i] + (1 - beta2) * gi * gi;
      m[i] = mi;
      v[i] = vi;
      p[i] = p[i] * decay - (stepSize * mi) / (Math.sqrt(vi) / biasCorrection2Sqrt + config.eps);
    }
  }
};
